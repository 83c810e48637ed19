"""SGD with a fixed step size stalls at a noise floor that grows with the step size.

SGD replaces ∇f by an unbiased estimate G, E[G(x)] = ∇f(x): x^{k+1} = x^k − α G(x^k). With a
fixed α the iterate approaches x* and then bounces around it. Two gradient models, each run as
``chains`` independent chains per step size (one ``optim.SGD`` parameter group per α, holding
all its chains as rows):

1. the course's additive-noise model G(x) = ∇f(x) + w, w ~ N(0, σ²I), on the strongly convex
   f(x) = ½ (x − x*)ᵀ A (x − x*) (eigenvalues of A in [1/κ, 1], L = 1). Along an eigenvector
   of A (eigenvalue λ) the error follows e ← (1 − αλ) e − α w, whose stationary variance is
   α σ² / (λ (2 − αλ)); so the stationary E‖x − x*‖² = Σ_λ α σ² / (λ (2 − αλ)), about linear
   in α;
2. real minibatches: least-squares linear regression f(θ) = (1/2n) Σ (xᵢᵀθ − yᵢ)² with noisy
   targets, G = the gradient on a minibatch of B examples drawn uniformly (with replacement,
   fresh for every step and chain — the course's "random subset B", independent from step to
   step); the error is the excess risk f(θ) − f(θ*), θ* the least-squares solution. Its floor
   is compared (metrics only) with the Lyapunov solution for the gradient noise at θ*,
   P = (I − αH) P (I − αH) + α² Σ_B, excess ≈ ½ tr(H P), which leaves out the part of the noise
   that grows with θ − θ*.

The stationary error ("floor") of a chain is its mean error over the second half of the run;
the verdict uses the means over chains and their standard errors (chains are independent):

- the floor grows with α (every consecutive pair of step sizes);
- a larger α reaches a fixed error level sooner (the level: twice the largest floor, so every α
  gets there; steps to it, every consecutive pair);
- additive model: the floor equals Σ_λ α σ² / (λ (2 − αλ)) within ``THEORY_TOLERANCE``.

That is the course's "large α: fast initial convergence, large error; small α: slow initial
convergence, smaller error".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..engine import resolve_device
from ..optim import SGD
from ..optim.alternatives import least_squares
from .base import (
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    new_figure,
    save_figure,
    t_quantile,
)

CLAIM = ("SGD with a fixed step size moves close to the minimizer and then bounces around it: "
         "a large step converges fast at first but to a larger error, a small step slowly "
         "but to a smaller error.")
SECTION = 3
IMPLEMENTS = ("deepnotes.optim.sgd",)
FORMULA = ("x^{k+1} = x^k − α G(x^k), E[G(x)] = ∇f(x);  G = ∇f + w, w ~ N(0, σ²I): "
           "E‖x − x*‖² → Σ_λ α σ² / (λ (2 − αλ))")

# The additive model's floor is exact at stationarity (a linear recursion with Gaussian noise);
# 10 % covers what is left of the transient after the burn-in (e^{−2αμk}, below 10⁻⁵ here).
THEORY_TOLERANCE = 0.10
# "Fast initial convergence": steps to an error level that every step size reaches — twice
# the largest floor.
LEVEL_FACTOR = 2.0
BURN_IN = 0.5  # the floor: mean error over the second half of the run


@dataclass(frozen=True)
class Config(ExperimentConfig):
    alphas_times_L: tuple[float, ...] = (0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
    dim: int = 10
    condition_number: float = 5.0
    noise: float = 1.0  # σ of w (additive model) and of the targets (regression)
    chains: int = 128
    steps: int = 4000
    n: int = 1000  # regression examples
    batch_size: int = 10

    @classmethod
    def quick(cls) -> Config:
        return cls(alphas_times_L=(0.05, 0.1, 0.2, 0.4), chains=64, steps=1500)


def stationary_floor_theory(eigenvalues: torch.Tensor, alpha: float, sigma: float) -> float:
    """E‖x − x*‖² at stationarity under G = ∇f + w: Σ α σ² / (λ (2 − αλ)) over the
    ``eigenvalues`` λ of A, ``alpha`` = α, ``sigma`` = σ."""
    return float((alpha * sigma**2 / (eigenvalues * (2 - alpha * eigenvalues))).sum())


def excess_risk_theory(hessian: torch.Tensor, noise_cov: torch.Tensor, alpha: float) -> float:
    """½ tr(H P) for the stationary covariance P = (I − αH) P (I − αH) + α² Σ of the linear
    recursion e ← (I − αH) e − α ξ, Cov ξ = Σ (``noise_cov``): in H's eigenbasis
    P̃_ij = α² Σ̃_ij / (1 − (1 − αλ_i)(1 − αλ_j))."""
    lam, Q = torch.linalg.eigh(hessian)
    noise = Q.T @ noise_cov @ Q
    decay = 1 - (1 - alpha * lam)[:, None] * (1 - alpha * lam)[None, :]
    P = alpha**2 * noise / decay
    return float(0.5 * (lam * P.diagonal()).sum())


def simulate(x0: torch.Tensor, alphas: list[float], steps: int,
             gradient: Callable[[torch.Tensor], torch.Tensor],
             error: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Fixed-step SGD from ``x0`` (chains × d) for every α in ``alphas`` (one parameter group
    each): ``gradient(x)`` returns G for the stacked iterates x (α × chains × d), ``error(x)``
    the error per chain. Returns the errors, shape (steps + 1, α, chains)."""
    params = [nn.Parameter(x0.clone()) for _ in alphas]
    optimizer = SGD([{"params": [p], "lr": a} for p, a in zip(params, alphas, strict=True)],
                    lr=alphas[0])
    errors = torch.empty(steps + 1, len(alphas), len(x0), dtype=x0.dtype)
    for k in range(steps + 1):
        with torch.no_grad():
            x = torch.stack(params)
            errors[k] = error(x)
            if k == steps:
                break
            for p, g in zip(params, gradient(x), strict=True):
                p.grad = g
        optimizer.step()
    return errors


def summarize(errors: torch.Tensor) -> dict:
    """Per step size: the floor (mean over chains of each chain's mean error over the second
    half) and its standard error; the level every step size reaches (``LEVEL_FACTOR`` × the
    largest floor); the mean steps to reach it and their standard error (a chain that never
    does counts as the run's length, a lower bound)."""
    steps = errors.shape[0] - 1
    chains = errors.shape[2]
    per_chain = errors[int(steps * BURN_IN):].mean(0)  # α × chains
    floors = per_chain.mean(1)
    floors_se = per_chain.std(1) / math.sqrt(chains)
    level = LEVEL_FACTOR * float(floors.max())
    below = errors <= level
    hits = torch.where(below.any(0), below.double().argmax(0).double(),
                       torch.tensor(float(steps), dtype=torch.float64))
    return {"floors": floors.tolist(), "floors_se": floors_se.tolist(), "level": level,
            "steps_to_level": hits.mean(1).tolist(),
            "steps_to_level_se": (hits.std(1) / math.sqrt(chains)).tolist(),
            "never_reached": int((~below.any(0)).sum()),
            "mean_curve": errors.mean(2)}


def pairwise(alphas, values, ses, description: str, comparison: str, z: float) -> list[Check]:
    """One check per consecutive pair of step sizes: ``values[j+1] − values[j]`` compared with
    0 (``comparison``), its standard error from the two independent estimates, interval ± z·se."""
    return [Check.compare(description.format(a=alphas[j], b=alphas[j + 1]),
                          values[j + 1] - values[j], comparison, 0.0,
                          se=math.hypot(ses[j], ses[j + 1]), z=z)
            for j in range(len(alphas) - 1)]


def additive_noise_runs(config: Config, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Errors ‖x^k − x*‖² (steps + 1, α, chains) under G = ∇f + w, and A's eigenvalues."""
    streams = config.streams()
    problem = streams.generator("additive/problem")
    eigenvalues = torch.linspace(1 / config.condition_number, 1.0, config.dim,
                                 dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(config.dim, config.dim, generator=problem,
                                       dtype=torch.float64))
    A = (Q @ torch.diag(eigenvalues) @ Q.T).to(device)  # L = 1
    x_star = torch.randn(config.dim, generator=problem, dtype=torch.float64).to(device)
    x0 = x_star + 3.0 * torch.randn(config.dim, generator=problem, dtype=torch.float64).to(device)
    noise = streams.generator("additive/noise", device)

    def gradient(x):  # G(x) = ∇f(x) + w = A (x − x*) + σ w
        w = torch.randn(x.shape, generator=noise, dtype=x.dtype, device=device)
        return (x - x_star) @ A + config.noise * w

    errors = simulate(x0.expand(config.chains, -1), list(config.alphas_times_L), config.steps,
                      gradient, lambda x: ((x - x_star) ** 2).sum(-1))
    return errors.cpu(), eigenvalues


def minibatch_runs(config: Config, device) -> tuple[torch.Tensor, dict]:
    """Excess risks f(θ^k) − f(θ*) (steps + 1, α, chains) of minibatch SGD on least squares,
    and the problem's numbers (L, the floor theory per α)."""
    streams = config.streams()
    data = streams.generator("minibatch/data")
    X = torch.randn(config.n, config.dim, generator=data, dtype=torch.float64)
    X = X * torch.linspace(0.5, 1.0, config.dim, dtype=torch.float64)  # anisotropic Hessian
    theta_true = torch.randn(config.dim, generator=data, dtype=torch.float64)
    y = X @ theta_true + config.noise * torch.randn(config.n, generator=data,
                                                    dtype=torch.float64)
    theta_star, _ = least_squares(X, y, fit_intercept=False)
    hessian = X.T @ X / config.n
    L = float(torch.linalg.eigvalsh(hessian).max())
    residual = X @ theta_star - y
    # covariance of a minibatch gradient at θ*: (1/B) (1/n) Σ rᵢ² xᵢ xᵢᵀ (with replacement)
    noise_cov = (X * residual[:, None] ** 2).T @ X / (config.n * config.batch_size)
    alphas = [a / L for a in config.alphas_times_L]
    theory = [excess_risk_theory(hessian, noise_cov, a) for a in alphas]

    X, y, theta_star, hessian = (t.to(device) for t in (X, y, theta_star, hessian))
    batches = streams.generator("minibatch/batches", device)

    def gradient(theta):  # G(θ) = (1/B) Σ_{i∈B} xᵢ (xᵢᵀθ − yᵢ)
        index = torch.randint(config.n, (*theta.shape[:2], config.batch_size), generator=batches,
                              device=device)
        xb = X[index]  # α × chains × B × d
        r = (xb @ theta.unsqueeze(-1)).squeeze(-1) - y[index]
        return (xb * r.unsqueeze(-1)).mean(2)

    def excess_risk(theta):  # f(θ) − f(θ*) = ½ (θ − θ*)ᵀ H (θ − θ*)
        e = theta - theta_star
        return 0.5 * ((e @ hessian) * e).sum(-1)

    errors = simulate(torch.zeros(config.chains, config.dim, dtype=torch.float64, device=device),
                      alphas, config.steps, gradient, excess_risk)
    return errors.cpu(), {"L": L, "theory": theory}


def run(config: Config, run) -> Result:
    device = resolve_device(config.device)
    alphas = list(config.alphas_times_L)
    additive_errors, eigenvalues = additive_noise_runs(config, device)
    minibatch_errors, problem = minibatch_runs(config, device)
    summaries = {"additive": summarize(additive_errors),
                 "minibatch": summarize(minibatch_errors)}
    theories = {"additive": [stationary_floor_theory(eigenvalues, a, config.noise)
                             for a in alphas],
                "minibatch": problem["theory"]}

    z = t_quantile(config.chains - 1)  # means over chains: Student's t
    metrics: dict = {"alphas_times_L": alphas, "chains": config.chains,
                     "minibatch_L": problem["L"]}
    checks = []
    for name, s in summaries.items():
        floors, theory = np.array(s["floors"]), np.array(theories[name])
        slope = float(np.polyfit(np.log(alphas), np.log(floors), 1)[0])
        metrics[name] = {
            "stationary_error": s["floors"], "stationary_error_se": s["floors_se"],
            "theory": theory.tolist(), "measured_over_theory": (floors / theory).tolist(),
            "slope": slope, "level": s["level"], "steps_to_level": s["steps_to_level"],
            "steps_to_level_se": s["steps_to_level_se"],
            "chains_never_reaching_level": s["never_reached"],
        }
        label = ("additive (G = ∇f + w)" if name == "additive"
                 else f"minibatches of {config.batch_size}")
        checks += [
            Check.every(f"{label}: the stationary error grows with α (every consecutive pair)",
                        pairwise(alphas, s["floors"], s["floors_se"],
                                 "α·L {b:g} vs {a:g}: floor difference", ">", z)),
            Check.every(f"{label}: a larger α reaches error {s['level']:.3g} in fewer steps "
                        "(every consecutive pair)",
                        pairwise(alphas, s["steps_to_level"], s["steps_to_level_se"],
                                 "α·L {b:g} vs {a:g}: difference of mean steps", "<", z)),
        ]
    ratio_se = np.array(summaries["additive"]["floors_se"]) / np.array(theories["additive"])
    checks.append(Check.every(
        f"additive: the floor equals Σ ασ²/(λ(2 − αλ)) within {THEORY_TOLERANCE:.0%} "
        "(every α)",
        [Check.at_most(f"α·L = {a:g}: |measured / theory − 1|", abs(r - 1), THEORY_TOLERANCE,
                       se=float(se), z=z)
         for a, r, se in zip(alphas, metrics["additive"]["measured_over_theory"], ratio_se,
                             strict=True)]))
    return Result(metrics, Verdict(checks), [_figure(summaries, metrics, alphas, run)])


def _figure(summaries: dict, metrics: dict, alphas: list[float], run):
    fig, axes = new_figure(ncols=3, width=4.2)
    for ax, name in zip(axes[:2], ("additive", "minibatch"), strict=True):
        curve = summaries[name]["mean_curve"]
        for j, a in enumerate(alphas):
            ax.semilogy(curve[:, j], lw=0.8, label=f"αL = {a:g}")
        ax.axhline(summaries[name]["level"], color="gray", ls=":", lw=0.8)
        ax.set(xlabel="step", title=f"{name}: fixed-step SGD (mean of chains)",
               ylabel="‖x − x*‖²" if name == "additive" else "f(θ) − f(θ*)")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    for name, marker in (("additive", "o"), ("minibatch", "s")):
        axes[2].loglog(alphas, metrics[name]["stationary_error"], marker + "-",
                       label=f"{name}: slope {metrics[name]['slope']:.2f}")
        axes[2].loglog(alphas, metrics[name]["theory"], "--", lw=0.8, color="gray")
    axes[2].set(xlabel="α · L", ylabel="stationary error",
                title="noise floor vs step size (dashed: theory)")
    axes[2].legend(fontsize=7)
    return save_figure(fig, run, "sgd_noise_floor")
