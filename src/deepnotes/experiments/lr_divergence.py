"""Gradient descent on a quadratic: the step size decides between convergence and divergence.

On f(x) = ½ xᵀAx with A symmetric positive definite, eigenvalues μ = λ_min ≤ … ≤ λ_max = L,
gradient descent x ← x − α∇f(x) = (I − αA)x multiplies the component of x along the
eigenvector of λ by (1 − αλ) at every step. It converges iff |1 − αλ| < 1 for every λ, that
is iff α < 2/L; above 2/L the top component grows geometrically ("too big: can cause
divergence"). Far below, the slowest component shrinks by (1 − αμ) ≈ e^{−αμ} per step, so the
steps needed to reach a tolerance grow like 1/α ("too small: can take a long time").

The experiment sweeps α across the threshold for quadratics with different L (one
``optim.gd`` call per quadratic, one step size per row), locates the measured threshold
(the boundary between rows whose ‖x‖ still shrinks after the first quarter of the run and rows
where it grows) on a coarse then a fine grid, and compares it with 2/L from the eigenvalues
(the measured growth factor per step against max_λ |1 − αλ|, the mechanism, is reported in the
metrics). On the small-α side it counts the steps to a tolerance and fits their log–log slope
in α. Everything here is deterministic (no noise): the checks compare exact numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..engine import resolve_device
from ..optim import gd
from .base import Check, ExperimentConfig, Result, Verdict, new_figure, save_figure

CLAIM = ("Gradient descent on a quadratic converges when the step size is below 2/L (L the "
         "largest Hessian eigenvalue) and diverges above it; far below, the steps needed grow "
         "like 1/α.")
SECTION = 3
IMPLEMENTS = ("deepnotes.optim.gd",)
FORMULA = ("x ← x − α∇f(x) = (I − αA)x on f(x) = ½xᵀAx: converges iff max_λ |1 − αλ| < 1 "
           "⇔ α < 2/L;  steps to tolerance ≈ log(tol) / log(1 − αμ) ∝ 1/α")

# The claim's threshold 2/L, located to 1 %: the two grids resolve it to about 0.1 % (the
# growth factor |1 − αL| = 1 + (α − 2/L)·L just above it needs the whole run to show).
THRESHOLD_TOLERANCE = 0.01
# The claim's "steps grow like 1/α": a log–log slope of −1, ± 0.1 for the whole-step counts and
# the difference between log(1 − αμ) and −αμ at the largest α of the sweep.
SLOPE_TOLERANCE = 0.1


@dataclass(frozen=True)
class Config(ExperimentConfig):
    dim: int = 20
    largest_eigenvalues: tuple[float, ...] = (1.0, 4.0, 25.0, 100.0)
    condition_number: float = 10.0
    steps: int = 2000
    grid: int = 81
    small_alphas: int = 10  # α = c / L for c log-spaced in [0.01, 0.3]
    tolerance: float = 1e-6  # ‖∇f(x)‖ ≤ tolerance · ‖∇f(x₀)‖

    @classmethod
    def quick(cls) -> Config:
        return cls(dim=10, largest_eigenvalues=(1.0, 4.0, 25.0), steps=600, grid=41,
                   small_alphas=6)


def random_quadratic(eigenvalues: torch.Tensor, *, rng: torch.Generator | None = None
                     ) -> torch.Tensor:
    """A = Q diag(λ) Qᵀ with Q a random orthogonal matrix (Q from the QR factors of a Gaussian
    matrix drawn from ``rng``)."""
    n = len(eigenvalues)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=rng, dtype=torch.float64))
    return Q @ torch.diag(eigenvalues) @ Q.T


def growth_rates(A: torch.Tensor, x0: torch.Tensor, alphas: torch.Tensor, steps: int,
                 device) -> torch.Tensor:
    """Run GD with one α per row; the per-step growth factor of ‖x‖∞ after the first quarter
    of the run, (‖x_j‖ / ‖x_{K/4}‖)^{1/(j − K/4)} with j the last step before any overflow. It
    is max_λ |1 − αλ| once the slowest mode dominates: above 1 iff GD diverges."""
    rows = x0.expand(len(alphas), -1).clone().to(device)
    A = A.to(device)
    result = gd(lambda x: 0.5 * ((x @ A) * x).sum(), rows, alphas.to(device).unsqueeze(1), steps,
                grad=lambda x: x @ A, record_path=True, stop_on_divergence=False)
    # the max-norm: ‖x‖₂ squares the entries and underflows for the fast-converging rows
    norms = result.path[steps // 4:].abs().amax(dim=2).cpu()
    finite = torch.isfinite(norms) & (norms < 1e300)
    last = finite.long().cumprod(0).sum(0) - 1  # last index before the first overflow
    log_growth = torch.log(norms[last, torch.arange(len(alphas))]) - torch.log(norms[0])
    return torch.exp(log_growth / last.clamp(min=1))


def measure_threshold(A, x0, L, config, device) -> tuple[float, np.ndarray, np.ndarray]:
    """The α where GD switches from converging to diverging (growth factor crossing 1): a
    coarse grid over [0.5, 1.5]·2/L, then a fine grid over the bracketing cell. Returns it and
    the coarse sweep's growth factors."""
    coarse = torch.linspace(0.5, 1.5, config.grid, dtype=torch.float64) * 2 / L
    rates = growth_rates(A, x0, coarse, config.steps, device)
    diverged = rates > 1
    first = int(torch.nonzero(diverged)[0]) if diverged.any() else len(coarse) - 1
    low, high = coarse[max(first - 1, 0)], coarse[first]
    fine = torch.linspace(float(low), float(high), config.grid, dtype=torch.float64)
    fine_diverged = growth_rates(A, x0, fine, config.steps, device) > 1
    k = int(torch.nonzero(fine_diverged)[0]) if fine_diverged.any() else len(fine) - 1
    threshold = float(fine[k] + fine[max(k - 1, 0)]) / 2
    return threshold, coarse.numpy(), rates.numpy()


def steps_to_tolerance(A, x0, alpha: float, tolerance: float, max_steps: int, device) -> int:
    A = A.to(device)
    start = float((A @ x0.to(device)).norm())
    result = gd(lambda x: 0.5 * x @ A @ x, x0.to(device), alpha, max_steps, grad=lambda x: A @ x,
                tol=tolerance * start)
    return result.steps if result.converged else -1


def run(config: Config, run) -> Result:
    device = resolve_device(config.device)
    streams = config.streams()
    x0 = torch.randn(config.dim, generator=streams.generator("x0"), dtype=torch.float64)

    rows, sweeps = [], []
    for L in config.largest_eigenvalues:
        eigenvalues = torch.linspace(L / config.condition_number, L, config.dim,
                                     dtype=torch.float64)
        A = random_quadratic(eigenvalues, rng=streams.generator(f"quadratic/L={L:g}"))
        spectrum = torch.linalg.eigvalsh(A)
        L_measured = float(spectrum.max())  # the Hessian's top eigenvalue
        threshold, grid, rates = measure_threshold(A, x0, L_measured, config, device)
        theory = np.abs(1 - grid[:, None] * spectrum.numpy()[None, :]).max(1)  # max |1 − αλ|
        rows.append({"L": L_measured, "two_over_L": 2 / L_measured, "threshold": threshold,
                     "rel_error": abs(threshold - 2 / L_measured) / (2 / L_measured),
                     "max_growth_rate_error": float(np.abs(rates - theory).max())})
        sweeps.append((grid * L_measured / 2, rates, theory))

    # the small-α side on a quadratic with the first L
    L0 = config.largest_eigenvalues[0]
    A0 = random_quadratic(torch.linspace(L0 / config.condition_number, L0, config.dim,
                                         dtype=torch.float64),
                          rng=streams.generator("quadratic/small-alpha"))
    mu0 = float(torch.linalg.eigvalsh(A0).min())
    alphas = np.logspace(-2, np.log10(0.3), config.small_alphas) / L0
    max_steps = int(20 * np.log(1 / config.tolerance) / (alphas[0] * mu0))
    counts = np.array([steps_to_tolerance(A0, x0, float(a), config.tolerance, max_steps, device)
                       for a in alphas])
    predicted = np.log(config.tolerance) / np.log(1 - alphas * mu0)
    slope = float(np.polyfit(np.log(alphas), np.log(counts), 1)[0]) if (counts > 0).all() \
        else float("nan")

    metrics = {
        "quadratics": rows,
        "max_threshold_rel_error": max(r["rel_error"] for r in rows),
        # the mechanism: the measured growth of ‖x‖ per step equals max_λ |1 − αλ|
        "max_growth_rate_error": max(r["max_growth_rate_error"] for r in rows),
        "small_alpha": {"alphas": alphas.tolist(), "steps": counts.tolist(),
                        "predicted_steps": predicted.tolist(), "mu": mu0, "L": L0},
        "steps_vs_alpha_slope": slope if np.isfinite(slope) else None,
    }
    verdict = Verdict([
        Check.every(
            f"the measured divergence threshold is 2/L within {THRESHOLD_TOLERANCE:.0%} "
            f"(relative error) for each of {len(rows)} quadratics",
            [Check.at_most(f"L = {r['L']:.3g}: |threshold − 2/L| / (2/L)", r["rel_error"],
                           THRESHOLD_TOLERANCE) for r in rows]),
        Check.at_most("far below 2/L, steps to tolerance ∝ α^slope: |slope − (−1)|",
                      abs(slope + 1), SLOPE_TOLERANCE),
    ])

    fig, (ax_sweep, ax_small) = new_figure(ncols=2)
    for (scaled, rates, theory), row in zip(sweeps, rows, strict=True):
        ax_sweep.plot(scaled, rates, marker=".", lw=0, ms=4,
                      label=f"L = {row['L']:.3g}: threshold {row['threshold'] * row['L'] / 2:.4f}")
        ax_sweep.plot(scaled, theory, color="gray", lw=0.6)
    ax_sweep.axvline(1.0, color="gray", ls="--", lw=0.8)
    ax_sweep.axhline(1.0, color="gray", ls=":", lw=0.8)
    ax_sweep.set(xlabel="α / (2/L)", ylabel="growth of ‖x‖ per step",
                 title="GD on ½xᵀAx: diverges iff α > 2/L\n(line: max |1 − αλ|)")
    ax_sweep.legend(fontsize=7)
    ax_small.loglog(alphas * L0, counts, "o-", label="measured")
    ax_small.loglog(alphas * L0, predicted, "--", label="log(tol)/log(1 − αμ), slowest mode")
    ax_small.set(xlabel="α · L", ylabel="steps to tolerance",
                 title=f"too small: steps ∝ α^{slope:.2f}")
    ax_small.legend()
    return Result(metrics, verdict, [save_figure(fig, run, "lr_divergence")])
