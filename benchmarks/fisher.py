"""The exact diagonal Fisher, per example with torch.func (vmap), beside a per-example Python
loop and beside the minibatch approximation; same process, same model and inputs, interleaved,
after warm-up; medians of wall and of process CPU time.

Set-up: the MNIST-1D MLP (40-100-100-10, ReLU), trained 500 Adam steps (lr 1e-2, batch 100) so
the Fisher is taken at a θ* as EWC takes it; the 4,000 MNIST-1D training inputs; one CPU thread
(``--threads``).

- fisher-exact: ``fisher_diagonal(model, X)`` — F_i = (1/N) Σ_n Σ_c p_θ(c|x_n)
  (∂ log p_θ(c|x_n)/∂θ_i)², the exact expectation over the ten classes — vs a Python loop over
  the examples doing one forward and ten backward passes each (``torch.autograd.grad``).
  Target: ≥ 10× faster (issue 16). Both results must agree (max relative difference printed;
  the run fails above 1e-4, float32).
- fisher-empirical: the same with the data label (one gradient per example) vs its loop.
- fisher-minibatch: the exact vmap Fisher vs ``minibatch_fisher`` (Avalanche's approximation:
  squared minibatch-mean gradients, data labels, batch ``--batch-size``): times, and the
  approximation's relative L2 error ‖F̃ − F‖/‖F‖ against the exact (true) Fisher and against
  the per-example empirical Fisher (same labels: the error of averaging before squaring alone).

Run: ``.venv/bin/python benchmarks/fisher.py`` (``--quick``: 500 examples, one round).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from deepnotes import data
from deepnotes.continual.ewc import fisher_diagonal, minibatch_fisher
from deepnotes.engine import fit
from deepnotes.nn.models import MLP

# the vmap Fisher and the loop sum the same float32 terms in another order
AGREEMENT_RTOL = 1e-4


def trained_mlp(X, y, seed: int = 0):
    torch.manual_seed(seed)
    model = MLP([40, 100, 100, 10])
    fit(model, F.cross_entropy, torch.optim.Adam(model.parameters(), lr=1e-2), (X, y),
        steps=500, batch_size=100, seed=seed, device="cpu", progress=False)
    return model.eval()


def loop_exact(model, X):
    """The loop a user would write: per example, one forward, one backward per class."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    for n in range(len(X)):
        log_p = torch.log_softmax(model(X[n:n + 1]), dim=1)[0]
        p = log_p.detach().exp()
        for c in range(len(log_p)):
            grads = torch.autograd.grad(log_p[c], params, retain_graph=c < len(log_p) - 1)
            for acc, g in zip(total, grads, strict=True):
                acc.add_(p[c] * g.square())
    return {name: t / len(X) for (name, _), t in
            zip(((n, p) for n, p in model.named_parameters() if p.requires_grad), total,
                strict=True)}


def loop_empirical(model, X, y):
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    for n in range(len(X)):
        log_p = torch.log_softmax(model(X[n:n + 1]), dim=1)[0, y[n]]
        for acc, g in zip(total, torch.autograd.grad(log_p, params), strict=True):
            acc.add_(g.square())
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    return {name: t / len(X) for name, t in zip(names, total, strict=True)}


def relative_error(approx, exact) -> float:
    num = sum(float((approx[k] - exact[k]).square().sum()) for k in exact)
    den = sum(float(exact[k].square().sum()) for k in exact)
    return (num / den) ** 0.5


def max_relative_difference(a, b) -> float:
    scale = max(float(v.abs().max()) for v in b.values())
    return max(float((a[k] - b[k]).abs().max()) for k in b) / scale


def timed(function):
    """(wall seconds, CPU seconds of this process, result): on a busy machine the CPU time is
    the better guide to what one quiet thread would take."""
    start, start_cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - start, time.process_time() - start_cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    examples, rounds = (500, 1) if args.quick else (args.examples, args.rounds)
    torch.set_num_threads(args.threads)
    X_all, y_all = data.mnist1d("train")
    model = trained_mlp(X_all, y_all)
    X, y = X_all[:examples], y_all[:examples]

    variants = {
        "vmap-exact": lambda x, t: fisher_diagonal(model, x),
        "loop-exact": lambda x, t: loop_exact(model, x),
        "vmap-empirical": lambda x, t: fisher_diagonal(model, x, labels="empirical", targets=t),
        "loop-empirical": lambda x, t: loop_empirical(model, x, t),
        "minibatch": lambda x, t: minibatch_fisher(model, x, t, batch_size=args.batch_size),
    }
    for function in variants.values():  # warm-up (torch.func's first call imports a lot)
        function(X[:64], y[:64])
    results = {}
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu_times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        order = list(variants.items())
        for name, function in order[r % len(order):] + order[: r % len(order)]:
            seconds, cpu_seconds, results[name] = timed(lambda f=function: f(X, y))
            times[name].append(seconds)
            cpu_times[name].append(cpu_seconds)
    median = {name: statistics.median(t) for name, t in times.items()}
    cpu = {name: statistics.median(t) for name, t in cpu_times.items()}

    agreement = {kind: max_relative_difference(results[f"vmap-{kind}"], results[f"loop-{kind}"])
                 for kind in ("exact", "empirical")}
    for kind in ("exact", "empirical"):
        print(json.dumps({
            "bench": f"fisher-{kind}-mlp-mnist1d-{examples}",
            "ours": "fisher_diagonal (vmap)", "ours_s": round(median[f"vmap-{kind}"], 4),
            "reference": "per-example Python loop",
            "reference_s": round(median[f"loop-{kind}"], 4),
            "speedup": round(median[f"loop-{kind}"] / median[f"vmap-{kind}"], 2),
            "ours_cpu_s": round(cpu[f"vmap-{kind}"], 4),
            "reference_cpu_s": round(cpu[f"loop-{kind}"], 4),
            "speedup_cpu": round(cpu[f"loop-{kind}"] / cpu[f"vmap-{kind}"], 2),
            "target_speedup": 10 if kind == "exact" else None,
            "max_rel_diff": float(f"{agreement[kind]:.2e}"),
            "threads": args.threads, "rounds": rounds,
        }))
    print(json.dumps({
        "bench": f"fisher-minibatch-mlp-mnist1d-{examples}",
        "ours": "fisher_diagonal exact (vmap)", "ours_s": round(median["vmap-exact"], 4),
        "reference": f"minibatch_fisher (squared minibatch-mean gradients, batch "
                     f"{args.batch_size})",
        "reference_s": round(median["minibatch"], 4),
        "speedup": round(median["minibatch"] / median["vmap-exact"], 3),
        "ours_cpu_s": round(cpu["vmap-exact"], 4), "reference_cpu_s": round(cpu["minibatch"], 4),
        "minibatch_rel_error_vs_true": round(relative_error(results["minibatch"],
                                                            results["vmap-exact"]), 4),
        "minibatch_rel_error_vs_empirical": round(relative_error(results["minibatch"],
                                                                 results["vmap-empirical"]), 4),
        "empirical_rel_error_vs_true": round(relative_error(results["vmap-empirical"],
                                                            results["vmap-exact"]), 4),
        "threads": args.threads, "rounds": rounds,
    }))
    worst = max(agreement.values())
    if worst > AGREEMENT_RTOL:
        raise SystemExit(f"the vmap Fisher and the loop disagree: max relative difference "
                         f"{worst:.2e} > {AGREEMENT_RTOL}")


if __name__ == "__main__":
    main()
