"""SGD with a fixed step size stalls at a noise floor that grows with the step size.

SGD replaces ∇f by an unbiased estimate G, E[G(x)] = ∇f(x): x^{k+1} = x^k − α G(x^k). With a
fixed α the iterate approaches x* and then bounces around it. Two gradient models:

1. the course's additive-noise model G(x) = ∇f(x) + w, w ~ N(0, σ²I), on the strongly convex
   f(x) = ½ (x − x*)ᵀ A (x − x*). Along an eigenvector of A (eigenvalue λ) the error follows
   e ← (1 − αλ) e − α w, whose stationary variance is α σ² / (λ (2 − αλ)); so the stationary
   E‖x − x*‖² = Σ_λ α σ² / (λ (2 − αλ)), about linear in α. Simulated with many independent
   chains, one ``optim.SGD`` parameter group per α;
2. real minibatches: least-squares linear regression f(θ) = (1/2n) Σ (xᵢᵀθ − yᵢ)² with noisy
   targets, G = the minibatch gradient, trained with ``optim.SGD`` through ``engine.fit``; the
   error is the excess risk f(θ) − f(θ*), θ* the closed-form least-squares solution. The data
   set is large enough that the run sees each example about once: the course's model has
   independent minibatches, while reshuffling a small data set every epoch (what ``fit`` does)
   cancels part of the noise over an epoch and makes the floor grow faster than α for small α
   (random reshuffling's O(α²) floor).

The verdict: the stationary error grows monotonically with α (log–log slope fitted, ≈ 1), and
larger α reaches a fixed error level sooner — "large α: fast initial convergence, large
error; small α: slow initial convergence, smaller error".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..engine import fit
from ..engine.devices import make_generator, resolve_device
from ..optim import SGD
from ..optim.alternatives import least_squares
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("SGD with a fixed step size moves close to the minimizer and then bounces around it: "
         "a large step converges fast at first but to a larger error, a small step slowly "
         "but to a smaller error.")

SLOPE_RANGE = (0.7, 1.4)  # stationary error ∝ α^slope
THEORY_TOLERANCE = 0.15  # additive model: measured floor vs the closed form


@dataclass(frozen=True)
class Config:
    alphas_times_L: tuple[float, ...] = (0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
    dim: int = 10
    condition_number: float = 5.0
    noise: float = 1.0  # σ of w (additive model) and of the targets (regression)
    chains: int = 128
    steps: int = 4000
    n: int = 40_000
    batch_size: int = 10
    minibatch_steps: int = 4000
    eval_every: int = 5
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(alphas_times_L=(0.05, 0.1, 0.2, 0.4), chains=64, steps=1500, n=12_000,
                   minibatch_steps=1200)

    @classmethod
    def full(cls) -> Config:
        return cls()


def stationary_floor_theory(eigenvalues: torch.Tensor, alpha: float, sigma: float) -> float:
    """E‖x − x*‖² at stationarity under G = ∇f + w: Σ α σ² / (λ (2 − αλ))."""
    return float((alpha * sigma**2 / (eigenvalues * (2 - alpha * eigenvalues))).sum())


def additive_noise_runs(config: Config, device) -> dict:
    """Mean-over-chains ‖x^k − x*‖² for every α (rows: steps 0..K, columns: α)."""
    generator = make_generator(config.seed)
    eigenvalues = torch.linspace(1 / config.condition_number, 1.0, config.dim,
                                 dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(config.dim, config.dim, generator=generator,
                                       dtype=torch.float64))
    A = (Q @ torch.diag(eigenvalues) @ Q.T).to(device)  # L = 1
    x_star = torch.randn(config.dim, generator=generator, dtype=torch.float64).to(device)
    x0 = x_star + 3.0 * torch.randn(config.dim, generator=generator, dtype=torch.float64).to(device)
    chains = [nn.Parameter(x0.expand(config.chains, -1).clone()) for _ in config.alphas_times_L]
    optimizer = SGD([{"params": [p], "lr": a} for p, a in zip(chains, config.alphas_times_L,
                                                               strict=True)])
    noise = make_generator(config.seed + 1, device)
    errors = np.empty((config.steps + 1, len(chains)))
    for k in range(config.steps + 1):
        with torch.no_grad():
            for j, p in enumerate(chains):
                errors[k, j] = float(((p - x_star) ** 2).sum(1).mean())
                w = torch.randn(p.shape, generator=noise, dtype=p.dtype, device=device)
                p.grad = (p - x_star) @ A + config.noise * w  # G(x) = ∇f(x) + w
        if k < config.steps:
            optimizer.step()
    theory = [stationary_floor_theory(eigenvalues, a, config.noise)
              for a in config.alphas_times_L]
    return {"errors": errors, "theory": np.array(theory), "step": np.arange(config.steps + 1)}


def minibatch_runs(config: Config, device, run) -> dict:
    """Excess risk f(θ) − f(θ*) along minibatch SGD for every α, through engine.fit."""
    generator = make_generator(config.seed + 2)
    X = torch.randn(config.n, config.dim, generator=generator, dtype=torch.float64)
    X = X * torch.linspace(0.5, 1.0, config.dim, dtype=torch.float64)  # anisotropic Hessian
    theta_true = torch.randn(config.dim, generator=generator, dtype=torch.float64)
    y = X @ theta_true + config.noise * torch.randn(config.n, generator=generator,
                                                    dtype=torch.float64)
    theta_star, _ = least_squares(X, y, fit_intercept=False)
    hessian = X.T @ X / config.n
    L = float(torch.linalg.eigvalsh(hessian).max())

    def half_mse(out, target):
        return 0.5 * ((out.squeeze(-1) - target) ** 2).mean()

    curves = []
    for alpha_L in config.alphas_times_L:
        model = nn.Linear(config.dim, 1, bias=False, dtype=torch.float64)
        nn.init.zeros_(model.weight)

        def excess_risk(_output, _target, model=model):
            # f(θ) − f(θ*) = ½ (θ − θ*)ᵀ H (θ − θ*) exactly for least squares (∇f(θ*) = 0);
            # read from the model, so one evaluation costs O(d²) instead of a pass over X
            e = model.weight.detach().reshape(-1).cpu() - theta_star
            return 0.5 * e @ hessian @ e

        result = fit(model, half_mse, SGD(model.parameters(), lr=alpha_L / L), (X, y),
                     steps=config.minibatch_steps, batch_size=config.batch_size,
                     eval_data=(X[:1], y[:1]), metrics={"excess_risk": excess_risk},
                     eval_every=config.eval_every, log_every=config.minibatch_steps, run=run,
                     name=f"minibatch-aL{alpha_L:g}", device=device, seed=config.seed,
                     progress=False)
        curves.append([r["eval_excess_risk"] for r in result.history
                       if "eval_excess_risk" in r])
    steps = np.arange(1, len(curves[0]) + 1) * config.eval_every
    # stationary excess risk ≈ α σ² tr(H) / (4B) for small α (gradient noise ≈ σ² H / B)
    theory = [a / L * config.noise**2 * float(torch.trace(hessian)) / (4 * config.batch_size)
              for a in config.alphas_times_L]
    return {"errors": np.array(curves).T, "theory": np.array(theory), "step": steps, "L": L}


def summarize(curves: dict, burn_in_fraction: float = 0.5) -> dict:
    errors, steps = curves["errors"], curves["step"]
    start = int(len(steps) * burn_in_fraction)
    floors = errors[start:].mean(0)
    level = 2 * floors.max()  # a level every α reaches: twice the largest floor
    hits = [int(steps[np.argmax(errors[:, j] <= level)]) if (errors[:, j] <= level).any()
            else -1 for j in range(errors.shape[1])]
    return {"floors": floors, "level": level, "steps_to_level": hits}


def monotone(values, increasing=True) -> bool:
    diffs = np.diff(np.asarray(values, dtype=float))
    return bool((diffs > 0).all() if increasing else (diffs < 0).all())


def faster_with_larger_alpha(steps: list[int]) -> bool:
    """Steps to the level never increase with α (ties: the evaluation grid) and the largest α
    is faster than the smallest."""
    return min(steps) > 0 and bool((np.diff(steps) <= 0).all()) and steps[-1] < steps[0]


def run(config: Config, run) -> Result:
    device = resolve_device(config.device)
    alphas = np.array(config.alphas_times_L)
    additive = additive_noise_runs(config, device)
    minibatch = minibatch_runs(config, device, run)
    summaries = {"additive": summarize(additive), "minibatch": summarize(minibatch)}

    metrics, checks = {"alphas_times_L": alphas.tolist()}, []
    for name, curves in (("additive", additive), ("minibatch", minibatch)):
        s = summaries[name]
        slope = float(np.polyfit(np.log(alphas), np.log(s["floors"]), 1)[0])
        ratio = s["floors"] / curves["theory"]
        metrics[name] = {
            "stationary_error": s["floors"].tolist(),
            "theory": curves["theory"].tolist(),
            "measured_over_theory": ratio.tolist(),
            "slope": slope,
            "level": float(s["level"]),
            "steps_to_level": s["steps_to_level"],
        }
        label = "G = ∇f + w" if name == "additive" else f"minibatches of {config.batch_size}"
        checks += [
            (monotone(s["floors"]), f"{name} ({label}): stationary error increases with α"),
            (SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1],
             f"{name}: error ∝ α^{slope:.2f}, slope in [{SLOPE_RANGE[0]}, {SLOPE_RANGE[1]}]"),
            (faster_with_larger_alpha(s["steps_to_level"]),
             f"{name}: steps to reach error {s['level']:.3g} decrease with α "
             f"({s['steps_to_level']})"),
        ]
    worst = float(np.abs(np.array(metrics["additive"]["measured_over_theory"]) - 1).max())
    metrics["additive"]["max_rel_error_vs_theory"] = worst
    checks.append((worst < THEORY_TOLERANCE,
                   f"additive: floor within {worst:.1%} of Σ ασ²/(λ(2 − αλ)) "
                   f"(< {THEORY_TOLERANCE:.0%})"))
    verdict = Verdict.all_of(*checks)

    fig, axes = new_figure(ncols=3, width=4.2)
    for ax, (name, curves) in zip(axes[:2], (("additive", additive), ("minibatch", minibatch)),
                                  strict=True):
        for j, a in enumerate(alphas):
            ax.semilogy(curves["step"], curves["errors"][:, j], lw=0.8, label=f"αL = {a:g}")
        ax.axhline(summaries[name]["level"], color="gray", ls=":", lw=0.8)
        ax.set(xlabel="step", title=f"{name}: fixed-step SGD",
               ylabel="mean ‖x − x*‖²" if name == "additive" else "f(θ) − f(θ*)")
        ax.legend(fontsize=7)
    for name, marker in (("additive", "o"), ("minibatch", "s")):
        axes[2].loglog(alphas, metrics[name]["stationary_error"], marker + "-",
                       label=f"{name}: slope {metrics[name]['slope']:.2f}")
        axes[2].loglog(alphas, metrics[name]["theory"], "--", lw=0.8, color="gray")
    axes[2].set(xlabel="α · L", ylabel="stationary error", title="noise floor vs step size "
                "(dashed: theory)")
    axes[2].legend(fontsize=7)
    return Result(metrics, verdict, [save_figure(fig, run, "sgd_noise_floor")])
