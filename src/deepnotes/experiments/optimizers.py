"""The course's optimizers side by side: SGD, momentum, AdaGrad, RMSProp, Adam.

Three problems, each optimizer with a small learning-rate sweep (the best rate is reported):

(a) an ill-conditioned quadratic f(x) = ½ Σ λᵢ xᵢ² with λ log-spaced over [1/κ, 1]
    (axis-aligned, so per-parameter learning rates can undo the conditioning);
(b) the Rosenbrock function f(x, y) = (1 − x)² + 100 (y − x²)² from (−1.2, 1), a curved
    narrow valley;
(c) the MLP 40-100-10 on MNIST-1D, cross-entropy, minibatches of 100 through ``engine.fit``.

(a) and (b) use full gradients (``optim.minimize``); (c) is minibatch training. For each
problem and optimizer the metrics give the best final loss over the sweep and the steps to a
target loss. The claim checked: momentum and the adaptive methods reach the target in fewer
steps than plain gradient descent on the ill-conditioned problems, and Adam trains the MLP to a
lower loss than plain SGD within the same number of steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import data
from ..engine import fit
from ..engine.devices import make_generator, resolve_device
from ..losses import accuracy
from ..nn.models import MLP
from ..optim import SGD, AdaGrad, Adam, RMSProp, minimize
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("Momentum and adaptive learning rates (AdaGrad, RMSProp, Adam) reach a given loss in "
         "fewer steps than plain gradient descent on ill-conditioned problems, and Adam trains "
         "a network faster than plain SGD.")

OPTIMIZERS = {
    "SGD": lambda params, lr: SGD(params, lr=lr),
    "momentum": lambda params, lr: SGD(params, lr=lr, momentum=0.9),
    "AdaGrad": lambda params, lr: AdaGrad(params, lr=lr),
    "RMSProp": lambda params, lr: RMSProp(params, lr=lr),
    "Adam": lambda params, lr: Adam(params, lr=lr),
}
FAST = ("momentum", "Adam")  # must beat plain SGD on (a) and (b)


@dataclass(frozen=True)
class Config:
    dim: int = 20
    condition_number: float = 1000.0
    quadratic_steps: int = 1000
    quadratic_target: float = 1e-8  # f ≤ target · f(x₀)
    rosenbrock_steps: int = 3000
    rosenbrock_target: float = 1e-3
    mnist_steps: int = 2000
    mnist_target: float = 1.0  # training cross-entropy
    batch_size: int = 100
    lrs: tuple[tuple[str, tuple[float, ...], tuple[float, ...], tuple[float, ...]], ...] = (
        # name, quadratic lrs, Rosenbrock lrs, MNIST-1D lrs
        ("SGD", (0.5, 1.0, 1.9), (3e-4, 1e-3, 1.5e-3), (0.05, 0.1, 0.2)),
        ("momentum", (0.5, 1.0, 2.0, 3.0), (3e-4, 1e-3, 2e-3), (0.01, 0.02, 0.05)),
        ("AdaGrad", (0.1, 0.3, 1.0), (0.1, 0.3, 1.0), (0.01, 0.03, 0.1)),
        ("RMSProp", (0.003, 0.01, 0.03), (1e-3, 3e-3, 1e-2), (3e-4, 1e-3, 3e-3)),
        ("Adam", (0.01, 0.03, 0.1), (0.01, 0.03, 0.1), (1e-3, 3e-3, 1e-2)),
    )
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(quadratic_steps=300, quadratic_target=1e-6, rosenbrock_steps=600,
                   rosenbrock_target=1e-2, mnist_steps=200, mnist_target=1.6,
                   lrs=tuple((name, q[-2:], r[-2:], m[1:]) for name, q, r, m in cls.lrs))

    @classmethod
    def full(cls) -> Config:
        return cls()


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def sweep_function(f, x0, steps, lrs, target, record_path=False) -> dict:
    """Every optimizer at every lr on f; keep the best (lowest final loss) per optimizer."""
    best = {}
    for name, rates in lrs.items():
        runs = []
        for lr in rates:
            result = minimize(f, x0, lambda p, name=name, lr=lr: OPTIMIZERS[name](p, lr), steps,
                              record_path=record_path)
            final = float(result.losses[-1]) if not result.diverged else math.inf
            runs.append((final, lr, result))
        final, lr, result = min(runs, key=lambda r: (r[0], r[1]))
        best[name] = {"lr": lr, "final_loss": final, "steps_to_target": result.steps_to(target),
                      "losses": result.losses.numpy(), "path": result.path}
    return best


def sweep_mnist(config: Config, lrs: dict, device, run) -> dict:
    X, y = data.mnist1d("train")
    X_test, y_test = data.mnist1d("test")
    best = {}
    for name, rates in lrs.items():
        runs = []
        for lr in rates:
            torch.manual_seed(config.seed)  # the same initial network for every run
            model = MLP([40, 100, 10])
            result = fit(model, torch.nn.functional.cross_entropy,
                         lambda p, name=name, lr=lr: OPTIMIZERS[name](p, lr), (X, y),
                         steps=config.mnist_steps, batch_size=config.batch_size,
                         eval_data=(X_test, y_test), metrics={"accuracy": accuracy},
                         log_every=10, run=run, name=f"mnist1d-{name}-lr{lr:g}", device=device,
                         seed=config.seed, progress=False)
            curve = np.array([r["train_loss"] for r in result.history if "train_loss" in r])
            final = float(curve[-1]) if np.isfinite(curve[-1]) else math.inf
            runs.append((final, lr, curve, result.metrics["eval_accuracy"]))
        final, lr, curve, test_accuracy = min(runs, key=lambda r: (r[0], r[1]))
        hits = np.nonzero(curve <= config.mnist_target)[0]
        best[name] = {"lr": lr, "final_loss": final, "test_accuracy": test_accuracy,
                      "steps_to_target": int((hits[0] + 1) * 10) if len(hits) else None,
                      "losses": curve}
    return best


def fewer_steps(best: dict, name: str) -> bool:
    ours, sgd = best[name]["steps_to_target"], best["SGD"]["steps_to_target"]
    return ours is not None and (sgd is None or ours < sgd)


def run(config: Config, run) -> Result:
    device = resolve_device(config.device)
    lrs = {name: (q, r, m) for name, q, r, m in config.lrs}
    unknown = set(lrs) - set(OPTIMIZERS)
    if unknown:
        raise ValueError(f"lrs names unknown optimizers {sorted(unknown)}; "
                         f"known: {list(OPTIMIZERS)}")

    generator = make_generator(config.seed)
    curvatures = torch.logspace(0, -math.log10(config.condition_number), config.dim,
                                dtype=torch.float64)
    x0 = torch.randn(config.dim, generator=generator, dtype=torch.float64)

    def quadratic(x):
        return 0.5 * (curvatures * x * x).sum()

    f0 = float(quadratic(x0))
    problems = {
        "quadratic": sweep_function(quadratic, x0, config.quadratic_steps,
                                    {k: v[0] for k, v in lrs.items()},
                                    config.quadratic_target * f0),
        "rosenbrock": sweep_function(rosenbrock, torch.tensor([-1.2, 1.0], dtype=torch.float64),
                                     config.rosenbrock_steps, {k: v[1] for k, v in lrs.items()},
                                     config.rosenbrock_target, record_path=True),
        "mnist1d": sweep_mnist(config, {k: v[2] for k, v in lrs.items()}, device, run),
    }

    metrics = {problem: {name: {k: v for k, v in entry.items() if k not in ("losses", "path")}
                         for name, entry in best.items()}
               for problem, best in problems.items()}
    metrics["targets"] = {"quadratic": config.quadratic_target * f0,
                          "rosenbrock": config.rosenbrock_target, "mnist1d": config.mnist_target}
    checks = []
    for problem in ("quadratic", "rosenbrock"):
        steps = {n: problems[problem][n]["steps_to_target"] for n in OPTIMIZERS}
        for name in FAST:
            checks.append((fewer_steps(problems[problem], name),
                           f"{problem}: {name} reaches the target in {steps[name]} steps, "
                           f"SGD in {steps['SGD']}"))
    mnist = problems["mnist1d"]
    checks.append((mnist["Adam"]["final_loss"] < mnist["SGD"]["final_loss"],
                   f"MNIST-1D: Adam's final training loss {mnist['Adam']['final_loss']:.3f} < "
                   f"SGD's {mnist['SGD']['final_loss']:.3f} after {config.mnist_steps} steps"))
    start = math.log(10)  # cross-entropy of a uniform guess over 10 classes
    checks.append((all(e["final_loss"] < start for e in mnist.values()),
                   "MNIST-1D: every optimizer lowers the loss below log 10"))
    verdict = Verdict.all_of(*checks)

    fig, axes = new_figure(ncols=2, nrows=2)
    for ax, problem, ylabel in ((axes[0], "quadratic", "f(x)"),
                                (axes[1], "rosenbrock", "f(x, y)"),
                                (axes[3], "mnist1d", "training cross-entropy")):
        for name, entry in problems[problem].items():
            steps = np.arange(len(entry["losses"])) * (10 if problem == "mnist1d" else 1)
            ax.semilogy(steps + (10 if problem == "mnist1d" else 0), entry["losses"], lw=0.9,
                        label=f"{name} (lr {entry['lr']:g})")
        ax.set(xlabel="step", ylabel=ylabel, title=problem)
        if problem == "quadratic":  # AdaGrad reaches 1e-200 on this axis-aligned problem
            ax.set_ylim(metrics["targets"]["quadratic"] * 1e-8, f0 * 10)
        ax.axhline(metrics["targets"][problem], color="gray", ls=":", lw=0.8)
        ax.legend(fontsize=7)
    ax = axes[2]
    u, v = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-1, 3, 200))
    ax.contour(u, v, (1 - u) ** 2 + 100 * (v - u**2) ** 2, levels=np.logspace(-1, 3.5, 12),
               colors="lightgray", linewidths=0.6)
    for name, entry in problems["rosenbrock"].items():
        path = entry["path"].numpy()
        ax.plot(path[:, 0], path[:, 1], lw=0.9, label=name)
    ax.plot([1], [1], "k*", ms=9)
    ax.set(xlim=(-2, 2), ylim=(-1, 3), xlabel="x", ylabel="y", title="Rosenbrock trajectories")
    ax.legend(fontsize=7)
    return Result(metrics, verdict, [save_figure(fig, run, "optimizers")])
