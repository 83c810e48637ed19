"""Maximum likelihood under Gaussian noise is least squares.

Fit y = xᵀa + b + ε, ε ~ N(0, σ²) by gradient ascent on the log-likelihood (full-batch
gradient descent on the mean negative log-likelihood, through ``engine.fit``), jointly in
(a, b, log σ²). Compare â with the least-squares closed form (``torch.linalg.lstsq``) and
scikit-learn's ``LinearRegression``, and σ̂² with the mean squared residual (1/n) Σ rᵢ².
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import data
from ..engine import fit
from ..losses import gaussian_nll
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("Maximizing the Gaussian likelihood of a linear model is least squares: the MLE of the "
         "coefficients equals the least-squares solution and the MLE of σ² is the mean squared "
         "residual.")

TOLERANCE = 1e-5


@dataclass(frozen=True)
class Config:
    n: int = 2000
    d: int = 10
    noise: float = 0.5
    steps: int = 3000
    lr: float = 0.1
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(n=200, d=3, steps=600)

    @classmethod
    def full(cls) -> Config:
        return cls()


class GaussianLinearModel(nn.Module):
    """μ(x) = xᵀa + b with a learned log σ²; ``forward`` returns μ (σ² is ``log_var.exp()``)."""

    def __init__(self, d: int):
        super().__init__()
        self.linear = nn.Linear(d, 1, dtype=torch.float64)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.log_var = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


def run(config: Config, run) -> Result:
    truth = data.regression(config.n, config.d, config.noise, "linear", seed=config.seed)
    X, y = truth.X, truth.y
    model = GaussianLinearModel(config.d)
    history = fit(
        model,
        lambda mean, target: gaussian_nll(mean, target, model.log_var),
        torch.optim.SGD(model.parameters(), lr=config.lr),
        (X, y),
        steps=config.steps,
        batch_size=None,
        log_every=max(1, config.steps // 100),
        run=run,
        name="mle",
        device=config.device,
        seed=config.seed,
    )
    model = history.model.cpu()
    a_mle = torch.cat([model.linear.weight.detach().reshape(-1), model.linear.bias.detach()])
    sigma2_mle = float(model.log_var.detach().exp())

    design = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1)
    a_lstsq = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1)
    from sklearn.linear_model import LinearRegression

    sk = LinearRegression().fit(X.numpy(), y.numpy())
    a_sklearn = torch.from_numpy(np.append(sk.coef_, sk.intercept_))
    mean_sq_residual = float(((y - design @ a_lstsq) ** 2).mean())

    def rel(u: torch.Tensor, v: torch.Tensor) -> float:
        return float((u - v).norm() / v.norm())

    err_lstsq, err_sklearn = rel(a_mle, a_lstsq), rel(a_mle, a_sklearn)
    err_sigma2 = abs(sigma2_mle - mean_sq_residual) / mean_sq_residual
    metrics = {
        "rel_err_vs_lstsq": err_lstsq,
        "rel_err_vs_sklearn": err_sklearn,
        "sigma2_mle": sigma2_mle,
        "mean_squared_residual": mean_sq_residual,
        "rel_err_sigma2": err_sigma2,
        "sigma2_true": config.noise**2,
        "final_nll": history.metrics["train_loss"],
    }
    verdict = Verdict.all_of(
        (err_lstsq < TOLERANCE, f"‖â_MLE − â_lstsq‖/‖â_lstsq‖ = {err_lstsq:.1e} < {TOLERANCE:g}"),
        (err_sklearn < TOLERANCE, f"vs scikit-learn {err_sklearn:.1e} < {TOLERANCE:g}"),
        (err_sigma2 < TOLERANCE, f"|σ̂² − mean r²|/mean r² = {err_sigma2:.1e} < {TOLERANCE:g}"),
    )

    fig, (ax_curve, ax_coef) = new_figure(ncols=2)
    steps = [r["step"] for r in history.history if "train_loss" in r]
    ax_curve.plot(steps, [-r["train_loss"] for r in history.history if "train_loss" in r])
    ax_curve.set(xlabel="step", ylabel="mean log-likelihood", title="gradient ascent on log L",
                 xscale="log")
    true_coef = torch.cat([truth.coef, torch.tensor([truth.intercept], dtype=torch.float64)])
    ax_coef.scatter(true_coef, a_mle, label="MLE (gradient ascent)", marker="o")
    ax_coef.scatter(true_coef, a_lstsq, label="least squares", marker="x", s=60)
    lims = [float(true_coef.min()) - 0.3, float(true_coef.max()) + 0.3]
    ax_coef.plot(lims, lims, color="gray", lw=0.8)
    ax_coef.set(xlabel="true coefficient", ylabel="fitted", title="fitted vs true (a, b)")
    ax_coef.legend()
    return Result(metrics, verdict, [save_figure(fig, run, "mle_fit")])
