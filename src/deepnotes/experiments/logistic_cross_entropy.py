"""Logistic regression: maximum likelihood is minimum cross-entropy; the band of uncertainty
has width ∝ 1/‖a‖₂.

For p(y=1|x) = σ(xᵀa + b), the negative log-likelihood −(1/n) Σ [yᵢ log pᵢ + (1−yᵢ) log(1−pᵢ)]
is the binary cross-entropy, so the MLE found by gradient descent on it (through
``engine.fit``) must match scikit-learn's ``LogisticRegression(penalty=None)``.

The notes say the region of uncertainty has width ≈ 1/‖a‖₂. Exactly: 0.1 < σ(z) < 0.9 ⇔
|z| < ln 9, and z changes at rate ‖a‖ along the normal a/‖a‖, so the band's width is
2 ln 9 / ‖a‖ ≈ 4.39/‖a‖. The experiment fits problems of several scales, measures the band
numerically along the normal, and reports width·‖a‖ (constant 2 ln 9 when width ∝ 1/‖a‖).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..engine import fit, make_generator
from ..losses import bernoulli_nll
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("Maximizing the Bernoulli likelihood of logistic regression is minimizing cross-entropy "
         "(the fit equals scikit-learn's), and the 0.1 < p < 0.9 band has width ∝ 1/‖a‖₂.")

COEF_TOLERANCE = 1e-3
BAND_CONSTANT = 2 * math.log(9.0)  # width · ‖a‖ for the 0.1 < p < 0.9 band


@dataclass(frozen=True)
class Config:
    n: int = 2000
    scales: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    steps: int = 4000
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(n=400, scales=(1.0, 3.0), steps=1500)

    @classmethod
    def full(cls) -> Config:
        return cls()


def noisy_separable(n: int, scale: float, generator: torch.Generator):
    """x ~ N(0, I₂), y ~ Bernoulli(σ(scale·(x₁ − 0.5 x₂) + 0.3)): separable up to label noise
    whose amount falls as ``scale`` grows."""
    X = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    logits = scale * (X[:, 0] - 0.5 * X[:, 1]) + 0.3
    y = (torch.rand(n, generator=generator, dtype=torch.float64) < torch.sigmoid(logits))
    return X, y.to(torch.float64)


def fit_logistic(X, y, steps: int, config: Config, run, name: str) -> nn.Linear:
    """Full-batch gradient descent with heavy-ball momentum on the mean cross-entropy,
    step 1/L with L = λ_max(XᵀX)/(4n) (the Hessian's bound, since σ' ≤ 1/4)."""
    model = nn.Linear(2, 1, dtype=torch.float64)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    design = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1)
    lipschitz = float(torch.linalg.eigvalsh(design.T @ design / len(X)).max()) / 4
    fit(
        model,
        lambda logits, target: bernoulli_nll(logits.squeeze(-1), target),
        torch.optim.SGD(model.parameters(), lr=1.0 / lipschitz, momentum=0.9),
        (X, y), steps=steps, batch_size=None, log_every=max(1, steps // 50),
        run=run, name=name, device=config.device, seed=config.seed,
    )
    return model.cpu()


def band_width(weight: torch.Tensor, bias: float, resolution: int = 200_001) -> float:
    """Measured width of {x : 0.1 < σ(aᵀx + b) < 0.9} along the normal a/‖a‖, on a fine grid."""
    normal = weight / weight.norm()
    center = -bias * weight / weight.norm() ** 2  # a point on the decision boundary
    half = 10.0 / float(weight.norm())
    t = torch.linspace(-half, half, resolution, dtype=torch.float64)
    p = torch.sigmoid((center + t[:, None] * normal) @ weight + bias)
    inside = t[(p > 0.1) & (p < 0.9)]
    return float(inside.max() - inside.min())


def unpenalized_sklearn_logistic():
    """scikit-learn's LogisticRegression without penalty (``penalty=None`` before 1.8,
    ``C=inf`` from 1.8 on, where ``penalty`` is deprecated), solved to tight tolerance."""
    import sklearn
    from sklearn.linear_model import LogisticRegression

    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    no_penalty = {"C": np.inf} if (major, minor) >= (1, 8) else {"penalty": None}
    return LogisticRegression(**no_penalty, tol=1e-12, max_iter=10_000)


def run(config: Config, run) -> Result:
    generator = make_generator(config.seed)
    metrics: dict[str, float] = {}
    rows = []
    for scale in config.scales:
        X, y = noisy_separable(config.n, scale, generator)
        model = fit_logistic(X, y, config.steps, config, run, f"scale-{scale:g}")
        ours = torch.cat([model.weight.detach().reshape(-1), model.bias.detach()])
        sk = unpenalized_sklearn_logistic().fit(X.numpy(), y.numpy())
        reference = torch.from_numpy(np.append(sk.coef_.ravel(), sk.intercept_))
        coef_err = float((ours - reference).norm() / reference.norm())

        logits = X @ ours[:2] + ours[2]
        p = torch.sigmoid(logits)
        nll_direct = float(-torch.log(torch.where(y > 0, p, 1 - p)).mean())  # −(1/n) log Π pᵢ
        ce_torch = float(F.binary_cross_entropy_with_logits(logits, y))
        weight = ours[:2]
        width = band_width(weight, float(ours[2]))
        rows.append((scale, float(weight.norm()), width))
        key = f"scale_{scale:g}"
        metrics.update({
            f"{key}/coef_rel_err_vs_sklearn": coef_err,
            f"{key}/nll_minus_cross_entropy": abs(nll_direct - ce_torch),
            f"{key}/norm_a": float(weight.norm()),
            f"{key}/band_width": width,
            f"{key}/width_times_norm_a": width * float(weight.norm()),
        })

    worst_coef = max(v for k, v in metrics.items() if k.endswith("coef_rel_err_vs_sklearn"))
    worst_identity = max(v for k, v in metrics.items() if k.endswith("nll_minus_cross_entropy"))
    products = [w * a for _, a, w in rows]
    spread = (max(products) - min(products)) / BAND_CONSTANT
    metrics.update({"max_coef_rel_err": worst_coef, "width_times_norm_spread": spread,
                    "band_constant_2ln9": BAND_CONSTANT})
    verdict = Verdict.all_of(
        (worst_identity < 1e-12, f"−log-likelihood = cross-entropy to {worst_identity:.1e}"),
        (worst_coef < COEF_TOLERANCE,
         f"coefficients vs sklearn: max rel. error {worst_coef:.1e} < {COEF_TOLERANCE:g}"),
        (spread < 0.01,
         f"width·‖a‖ constant across ‖a‖ ∈ [{min(a for _, a, _ in rows):.2f}, "
         f"{max(a for _, a, _ in rows):.2f}] (spread {spread:.1e} < 1%), = "
         f"{np.mean(products):.3f} ≈ 2 ln 9 = {BAND_CONSTANT:.3f}"),
    )

    fig, (ax_band, ax_width) = new_figure(ncols=2)
    X, y = noisy_separable(400, config.scales[-1], make_generator(config.seed + 1))
    grid = torch.linspace(-3, 3, 200, dtype=torch.float64)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    model = fit_logistic(X, y, min(config.steps, 500), config, None, "figure")
    with torch.no_grad():
        prob = torch.sigmoid(model(torch.stack([gx, gy], -1)).squeeze(-1))
    ax_band.contourf(gx, gy, prob, levels=[0.1, 0.9], colors=["#cccccc"])
    ax_band.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1)
    ax_band.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=6)
    ax_band.set(title=f"band 0.1 < p < 0.9 (‖a‖ = {float(model.weight.detach().norm()):.2f})",
                xlabel="x₁", ylabel="x₂")
    norms = np.array([a for _, a, _ in rows])
    ax_width.loglog(norms, [w for _, _, w in rows], "o", label="measured width")
    ax_width.loglog(norms, BAND_CONSTANT / norms, "-", label="2 ln 9 / ‖a‖")
    ax_width.loglog(norms, 1 / norms, "--", label="1/‖a‖ (notes)")
    ax_width.set(xlabel="‖a‖₂", ylabel="width", title="uncertainty band width")
    ax_width.legend()
    return Result(metrics, verdict, [save_figure(fig, run, "logistic_band")])
