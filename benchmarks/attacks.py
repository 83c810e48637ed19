"""Attack speed and strength beside a plain PyTorch loop and torchattacks, same process,
same model and inputs, interleaved, after warm-up; medians.

Set-up: a small CNN (2 conv + 2 fc) on 1×28×28 inputs (scikit-learn digits upsampled to
28×28, trained briefly), a batch of 256 test images.

- pgd-40: our ``pgd`` (L∞, ε = 0.3, α = 0.01, random start) vs a minimal hand-written loop
  vs ``torchattacks.PGD`` with the same settings.
- cw: our ``carlini_wagner_l2`` (binary search over c included) vs ``torchattacks.CW``
  (c = 1, 100 steps, lr 0.01, no binary search): time, success rate, mean L2 of the
  successful examples.

Run: ``.venv/bin/python benchmarks/attacks.py`` (``--quick`` for a short smoke run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from deepnotes import data
from deepnotes.adversarial import carlini_wagner_l2, pgd, predict
from deepnotes.engine import fit, make_generator

EPS, ALPHA, PGD_STEPS = 0.3, 0.01, 40
CW_REFERENCE = dict(c=1.0, kappa=0.0, steps=100, lr=0.01)
# ours: the same c to start and the same budget of 100 Adam steps, spent as 2 binary-search
# stages of 50 with the learning rate annealed within each stage (lr_decay). Measured here
# (CPU, same process): 100% success vs torchattacks' 98%, mean L2 on the examples both break
# 1.334 vs 1.357, at 0.81× its wall time. The old setting (5 stages of 20 steps, lr 0.1,
# constant) was 2.6× faster but 1.46 vs 1.36 in L2.
CW_OURS = dict(c=1.0, kappa=0.0, steps=50, binary_steps=2, lr=0.05, lr_decay=True)


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def plain_pgd(model, x, y, eps, alpha, steps, generator):
    """The minimal loop a user would write (random start, sign step, clip)."""
    x_adv = (x + (2 * torch.rand(x.shape, generator=generator) - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def strength(model, x, y, x_adv):
    hit = predict(model, x_adv) != y
    l2 = (x_adv - x).flatten(1).norm(dim=1)
    return float(hit.float().mean()), float(l2[hit].mean()) if hit.any() else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    repeats, train_steps = (1, 60) if args.quick else (7, 400)
    batch = 256

    x_train, y_train = data.digits_resized("train", 28)
    x_test, y_test = data.digits_resized("test", 28)
    torch.manual_seed(0)
    model = small_cnn()
    fit(model, F.cross_entropy, torch.optim.Adam(model.parameters(), 1e-3), (x_train, y_train),
        steps=train_steps, batch_size=128, device="cpu", seed=0, progress=False)
    model.eval()
    x, y = x_test[:batch], y_test[:batch]
    clean = float((predict(model, x) == y).float().mean())

    try:
        import torchattacks
    except ImportError:  # the comparison needs it; ours still runs
        torchattacks = None

    runs = {
        "ours": lambda: pgd(model, x, y, eps=EPS, step_size=ALPHA, steps=PGD_STEPS,
                            rng=make_generator(0)),
        "plain loop": lambda: plain_pgd(model, x, y, EPS, ALPHA, PGD_STEPS, make_generator(0)),
    }
    if torchattacks is not None:
        runs["torchattacks"] = lambda: torchattacks.PGD(model, eps=EPS, alpha=ALPHA,
                                                       steps=PGD_STEPS, random_start=True)(x, y)
    times = {name: [] for name in runs}
    results = {}
    for fn in runs.values():  # warm-up
        fn()
    names = list(runs)
    for round_index in range(repeats):
        # rotate the order every round: no implementation always runs first or last
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, results[name] = timed(runs[name])
            times[name].append(seconds)
    ours_s = statistics.median(times["ours"])
    for reference in [name for name in runs if name != "ours"]:
        reference_s = statistics.median(times[reference])
        print(json.dumps({
            "bench": "pgd-40", "batch": batch, "clean_accuracy": round(clean, 4),
            "ours_s": round(ours_s, 3), "reference": reference,
            "reference_s": round(reference_s, 3), "speedup": round(reference_s / ours_s, 3),
            "ours_success": round(strength(model, x, y, results["ours"])[0], 4),
            "reference_success": round(strength(model, x, y, results[reference])[0], 4),
        }))

    if torchattacks is None:
        print(json.dumps({"bench": "cw", "skipped": "torchattacks is not installed"}))
        return
    cw_runs = {
        "ours": lambda: carlini_wagner_l2(model, x, y, **CW_OURS),
        "torchattacks": lambda: torchattacks.CW(model, **CW_REFERENCE)(x, y),
    }
    cw_times = {name: [] for name in cw_runs}
    cw_repeats = 1 if args.quick else 2
    for _ in range(cw_repeats):
        for name, fn in cw_runs.items():
            seconds, results[name] = timed(fn)
            cw_times[name].append(seconds)
    ours_s = statistics.median(cw_times["ours"])
    reference_s = statistics.median(cw_times["torchattacks"])
    ours_success, ours_l2 = strength(model, x, y, results["ours"])
    ref_success, ref_l2 = strength(model, x, y, results["torchattacks"])
    both = (predict(model, results["ours"]) != y) & (predict(model, results["torchattacks"]) != y)
    common = {name: round(float((results[name] - x).flatten(1).norm(dim=1)[both].mean()), 4)
              for name in ("ours", "torchattacks")}
    print(json.dumps({
        "bench": "cw-l2", "batch": batch, "ours": CW_OURS, "ours_s": round(ours_s, 3),
        "reference": "torchattacks CW", "reference_config": CW_REFERENCE,
        "reference_s": round(reference_s, 3), "speedup": round(reference_s / ours_s, 3),
        "ours_success": round(ours_success, 4), "ours_mean_l2": round(ours_l2, 4),
        "reference_success": round(ref_success, 4), "reference_mean_l2": round(ref_l2, 4),
        "both_broken": int(both.sum()), "ours_mean_l2_on_both": common["ours"],
        "reference_mean_l2_on_both": common["torchattacks"],
    }))


if __name__ == "__main__":
    main()
