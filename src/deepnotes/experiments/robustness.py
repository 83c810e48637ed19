"""Adversarial training raises robust accuracy; FGSM training masks gradients.

Three copies of one CNN: trained clean, with FGSM training (Goodfellow: α·L(x) + (1 − α)·
L(x_FGSM), α = 0.5) and with PGD training (Madry: L(x_PGD), a ``train_pgd_steps``-step PGD
with random start), all at the training radius ε_train = the largest ε of the grid. The
adversarially trained models start from the clean model's weights (adversarial fine-tuning;
``finetune=False`` trains them from scratch as Madry et al. do). Robust accuracy on the test
set is then measured under FGSM and under PGD-``eval_steps`` (L∞, random start,
``restarts``) at each ε. Each training method is a sweep unit (``units``), so an executor can
train the three models in parallel.

Every check is judged at ε_train on the test examples, with its standard error: accuracies
as binomial proportions, differences of two accuracies on the same examples (the clean-accuracy
cost, the FGSM − PGD gap) from their per-example paired differences. Both presets judge the
same ε (the quick one trains smaller models for fewer steps and evaluates fewer test images;
a check it fails only becomes undecided, ``short_run``: the claim is about models trained with
the full preset's budget).

Measured (full preset, CPU, 450 test images, ε = 0.15): clean model under PGD 0.029 ± 0.008;
PGD-trained under PGD 0.589 ± 0.023 at clean accuracy 0.993 (clean model: 0.978, cost −0.016 ±
0.008); FGSM-trained 0.711 under FGSM, 0.498 under PGD (gap 0.213 ± 0.019).

On the default data (scikit-learn's 8×8 digits, pixels in [0, 1]) ε is in pixel units; with
``data="idx:FOLDER"`` the same runs on MNIST files the user has (Madry's set-up with fewer
steps; Madry used ε = 0.3 there).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..adversarial import AdversarialLoss, fgsm, pgd, predict
from ..engine import resolve_device
from ..nn.models import CNN2d
from .base import (
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    load_split,
    mean_and_se,
    new_figure,
    save_figure,
    short_run,
    train_classifier,
    unit_run,
)

CLAIM = ("Adversarial training raises robust accuracy: a clean model's accuracy collapses under "
         "PGD while a PGD-trained one keeps most of it at a small clean-accuracy cost, and "
         "FGSM training is weaker against PGD than against FGSM (gradient masking).")
SECTION = 5
IMPLEMENTS = ("deepnotes.adversarial.training", "deepnotes.adversarial.attacks")
FORMULA = ("PGD training (Madry): min_θ E max_{‖δ‖∞ ≤ ε} L(θ, x + δ, y)\n"
           "FGSM training (Goodfellow): α·L(θ, x, y) + (1 − α)·L(θ, x + ε·sgn ∇ₓL, y), α = 0.5\n"
           "robust accuracy: P(f(x*) = y), x* = PGD / FGSM at ε = ε_train")

# The claim's words as numbers, judged at ε_train (the same in every preset):
#: "a clean model's accuracy collapses under PGD": at most 10% left (chance is 10% on digits)
CLEAN_PGD_MAX = 0.10
#: "a PGD-trained one keeps most of it": more than half of the test images survive PGD
ROBUST_PGD_MIN = 0.50
#: "at a small clean-accuracy cost": at most 5 accuracy points lost on clean images
CLEAN_COST_MAX = 0.05
#: "FGSM training is weaker against PGD than against FGSM": accuracy(FGSM) − accuracy(PGD)
#: of the FGSM-trained model at least 5 points (a gap the course's plots show clearly)
MASKING_GAP_MIN = 0.05


@dataclass(frozen=True)
class Config(ExperimentConfig):
    data: str = "digits"
    channels: tuple[int, ...] = (32, 64)
    batch_norm: bool = False
    epsilons: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15)
    clean_steps: int = 500
    adversarial_steps: int = 1000
    finetune: bool = True
    train_pgd_steps: int = 7
    batch_size: int = 128
    lr: float = 1e-2
    eval_steps: int = 40
    restarts: int = 3
    test_size: int | None = None

    @classmethod
    def quick(cls) -> Config:
        return cls(channels=(8, 16), clean_steps=120, adversarial_steps=100, train_pgd_steps=2,
                   batch_size=64, eval_steps=10, restarts=1, test_size=200)


#: The claim is about trained models: the full preset's training budget is the claim's. A
#: shorter run (the quick preset) can pass a check, not fail it (``short_run``).
CLAIM_BUDGET = Config()


def _correct(model, attack, x: torch.Tensor, y: torch.Tensor, **kwargs) -> torch.Tensor:
    """Per example: still classified y after ``attack`` (None: on the clean input)."""
    if attack is not None:
        x = attack(model, x, y, **kwargs)
    return predict(model, x) == y


def _proportion(hits: torch.Tensor) -> tuple[float, float]:
    """An accuracy and its binomial standard error √(p(1 − p)/n)."""
    p = float(hits.float().mean())
    return p, math.sqrt(p * (1 - p) / len(hits))


#: The sweep units: one per training method. The adversarially trained models start from the
#: clean model (``finetune``): their units train that clean model again — with the same seeds it
#: is the same model, bit for bit on CPU — rather than depend on the clean unit.
METHODS = ("clean", "fgsm", "pgd")
MODEL_NAMES = {"clean": "clean", "fgsm": "fgsm-trained", "pgd": "pgd-trained"}


def units(config: Config) -> list[dict]:
    return [{"key": method} for method in METHODS]


def run_unit(config: Config, unit: dict) -> dict:
    """Train one model (``unit["key"]``: clean, fgsm or pgd training) and record, per test
    example, whether it is still classified correctly on clean inputs and under FGSM and PGD
    at each ε of the grid (lists of 0/1)."""
    device = resolve_device(config.device)
    streams = config.streams()
    x_train, y_train, x_test, y_test = load_split(config.data, device)
    if config.test_size is not None:
        x_test, y_test = x_test[: config.test_size], y_test[: config.test_size]
    num_classes = int(y_train.max()) + 1
    eps_train = max(config.epsilons)

    def train(loss, name, start=None, steps=config.clean_steps):
        if start is None:
            streams.manual_seed("init")
            model = CNN2d(x_train.shape[1], num_classes, config.channels, config.batch_norm)
        else:
            model = copy.deepcopy(start)
        return train_classifier(model, (x_train, y_train), steps=steps,
                                batch_size=config.batch_size, lr=config.lr, run=None,
                                name=name, device=device, seed=streams.seed(f"batches/{name}"),
                                loss=loss)

    method = unit["key"]
    if method == "clean" or config.finetune:
        clean = train(F.cross_entropy, "clean")
    if method == "clean":
        model = clean
    else:
        start = clean if config.finetune else None
        loss = (AdversarialLoss("fgsm", eps=eps_train) if method == "fgsm" else
                AdversarialLoss("pgd", eps=eps_train, steps=config.train_pgd_steps,
                                rng=streams.generator("train-pgd", device)))
        model = train(loss, method, start, config.adversarial_steps)

    attack_rng = streams.generator(f"eval-pgd/{method}", device)
    hits: dict[str, list[list[int]]] = {"fgsm": [], "pgd": []}
    for eps in config.epsilons:
        if eps == 0:
            clean_hits = _correct(model, None, x_test, y_test).int().tolist()
            hits["fgsm"].append(clean_hits)
            hits["pgd"].append(clean_hits)
            continue
        hits["fgsm"].append(_correct(model, fgsm, x_test, y_test, eps=eps).int().tolist())
        hits["pgd"].append(_correct(model, pgd, x_test, y_test, eps=eps,
                                    steps=config.eval_steps, restarts=config.restarts,
                                    rng=attack_rng).int().tolist())
    return {"clean": _correct(model, None, x_test, y_test).int().tolist(), "hits": hits}


def summarize(config: Config, unit_results: list[dict], run) -> Result:
    eps_train = max(config.epsilons)
    by_name = {MODEL_NAMES[method]: result
               for method, result in zip(METHODS, unit_results, strict=True)}
    correct = {name: {attack: [torch.tensor(h, dtype=torch.bool) for h in per_eps]
                      for attack, per_eps in result["hits"].items()}
               for name, result in by_name.items()}
    clean_hits = {name: torch.tensor(result["clean"], dtype=torch.bool)
                  for name, result in by_name.items()}
    curves = {name: {attack: [float(h.float().mean()) for h in per_eps]
                     for attack, per_eps in per_attack.items()}
              for name, per_attack in correct.items()}

    clean_pgd, clean_pgd_se = _proportion(correct["clean"]["pgd"][-1])
    robust_pgd, robust_pgd_se = _proportion(correct["pgd-trained"]["pgd"][-1])
    cost, cost_se = mean_and_se(clean_hits["clean"].double() - clean_hits["pgd-trained"].double())
    masking, masking_se = mean_and_se(correct["fgsm-trained"]["fgsm"][-1].double()
                                      - correct["fgsm-trained"]["pgd"][-1].double())
    metrics = {
        "epsilons": list(config.epsilons),
        "eps_train": eps_train,
        "test_images": len(clean_hits["clean"]),
        "clean_accuracy": {name: float(h.float().mean()) for name, h in clean_hits.items()},
        "accuracy": curves,
        "clean_model_pgd_at_eps_train": clean_pgd,
        "pgd_trained_pgd_at_eps_train": robust_pgd,
        "pgd_training_clean_cost": cost,
        "fgsm_trained_fgsm_at_eps_train": curves["fgsm-trained"]["fgsm"][-1],
        "fgsm_trained_pgd_at_eps_train": curves["fgsm-trained"]["pgd"][-1],
        "fgsm_trained_masking_gap": masking,
        "pgd_trained_fgsm_minus_pgd": (curves["pgd-trained"]["fgsm"][-1]
                                       - curves["pgd-trained"]["pgd"][-1]),
    }
    at = f"ε = {eps_train:g}"
    # (done, the claim's budget, unit) for short_run
    clean_budget = (config.clean_steps, CLAIM_BUDGET.clean_steps, "clean-training steps")
    pgd_budget = (config.adversarial_steps * config.train_pgd_steps,
                  CLAIM_BUDGET.adversarial_steps * CLAIM_BUDGET.train_pgd_steps,
                  "PGD-training steps × attack steps")
    fgsm_budget = (config.adversarial_steps, CLAIM_BUDGET.adversarial_steps,
                   "FGSM-training steps")
    verdict = Verdict([
        short_run(Check.at_most(f"clean model's accuracy under PGD at {at} (collapses)",
                                clean_pgd, CLEAN_PGD_MAX, se=clean_pgd_se), *clean_budget),
        short_run(Check.at_least(f"PGD-trained model's accuracy under PGD at {at} (keeps most)",
                                 robust_pgd, ROBUST_PGD_MIN, se=robust_pgd_se), *pgd_budget),
        short_run(Check.at_most("clean-accuracy cost of PGD training (clean − PGD-trained, "
                                "paired)", cost, CLEAN_COST_MAX, se=cost_se), *pgd_budget),
        short_run(Check.at_least(f"FGSM-trained model: accuracy under FGSM − under PGD at {at} "
                                 "(paired)", masking, MASKING_GAP_MIN, se=masking_se),
                  *fgsm_budget),
    ])

    fig, axes = new_figure(ncols=2)
    colors = {"clean": "tab:gray", "fgsm-trained": "tab:orange", "pgd-trained": "tab:blue"}
    for ax, attack in zip(axes, ("fgsm", "pgd"), strict=True):
        for name, curve in curves.items():
            ax.plot(config.epsilons, curve[attack], marker="o", color=colors[name], label=name)
        title = "FGSM" if attack == "fgsm" else f"PGD-{config.eval_steps}"
        ax.set(xlabel="ε (L∞, pixel units)", ylabel="test accuracy", ylim=(-0.02, 1.02),
               title=f"accuracy under {title}")
        ax.axvline(eps_train, color="k", lw=0.6, ls=":")
        ax.legend()
    return Result(metrics, verdict, [save_figure(fig, run, "accuracy_vs_eps")])


run = unit_run(units, run_unit, summarize)
