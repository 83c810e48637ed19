"""Losses of the course, each as the negative log-likelihood it comes from where it has one.

Topic issues add ELBO pieces here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from .core import checks


def gaussian_nll(mean: torch.Tensor, y: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of y under N(mean, σ²), with ``log_var`` = log σ².

    −(1/n) log L = (1/n) Σᵢ [ ½ log(2πσ²) + (yᵢ − μᵢ)² / (2σ²) ]

    For fixed σ this is the square loss up to scale and a constant: maximizing the Gaussian
    likelihood is least squares (the course's first claim).
    """
    checks.tensor(mean, "mean", floating=True)
    checks.tensor(y, "y")
    checks.tensor(log_var, "log_var", floating=True)
    if mean.shape != y.shape:
        raise ValueError(f"mean and y must have the same shape, got {tuple(mean.shape)} and "
                         f"{tuple(y.shape)}")
    return 0.5 * (math.log(2 * math.pi) + log_var + (y - mean) ** 2 / log_var.exp()).mean()


def bernoulli_nll(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of labels y ∈ {0, 1} under p(y=1|x) = σ(z), z = ``logits``.

    −(1/n) log L = −(1/n) Σᵢ [ yᵢ log σ(zᵢ) + (1 − yᵢ) log(1 − σ(zᵢ)) ]

    which is the binary cross-entropy: maximizing the Bernoulli likelihood is minimizing
    cross-entropy. Computed stably: −log σ(z) = softplus(−z), −log(1−σ(z)) = softplus(z).
    """
    checks.tensor(logits, "logits", floating=True)
    checks.tensor(y, "y")
    if logits.shape != y.shape:
        raise ValueError(f"logits and y must have the same shape, got {tuple(logits.shape)} and "
                         f"{tuple(y.shape)}")
    if y.numel() and (float(y.min()) < 0 or float(y.max()) > 1):
        raise ValueError(f"y must hold labels in {{0, 1}} (or probabilities in [0, 1]), got "
                         f"values in [{float(y.min()):.4g}, {float(y.max()):.4g}]")
    y = y.to(logits.dtype)
    return (y * F.softplus(-logits) + (1 - y) * F.softplus(logits)).mean()


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max class equals the label (binary: logit > 0 ⇔ class 1)."""
    checks.tensor(logits, "logits")
    checks.tensor(y, "y")
    if len(logits) != len(y):
        raise ValueError(f"logits and y must have one row per example, got {len(logits)} and "
                         f"{len(y)}")
    if logits.dim() == 1 or logits.shape[-1] == 1:
        return ((logits.reshape(-1) > 0).long() == y.reshape(-1).long()).float().mean()
    return (logits.argmax(dim=-1) == y).float().mean()


#: The weights of ``localization_loss`` that make it the negative log-likelihood with box noise
#: σ = 1/√2 (box weight 1/(2σ²) = 1): the course's loss, unweighted.
LOCALIZATION_WEIGHTS = {"presence": 1.0, "class": 1.0, "box": 1.0}


def box_weight(sigma: float) -> float:
    """The box weight 1/(2σ²) of ``localization_loss`` that makes it the negative
    log-likelihood of a Gaussian box with noise standard deviation ``sigma`` = σ (in the box's
    units: fractions of the image side)."""
    sigma = checks.positive_number(sigma, "sigma")
    return 1.0 / (2.0 * sigma * sigma)


def check_localization(outputs: torch.Tensor, target: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a (``outputs``, ``target``) pair of classification with localization and
    return ``target`` in ``outputs``' dtype and the object mask p_c = 1 (N,) bool.

    Both are (N, 5 + k) floating tensors, k ≥ 1 classes: ``outputs`` = (z, b̂_x, b̂_y, b̂_w,
    b̂_h, s_1..s_k) — presence logit, box, class logits; ``target`` = (p_c, b_x, b_y, b_w, b_h,
    c_1..c_k) with p_c ∈ {0, 1}; where p_c = 1 the box is finite and c is a probability vector
    (one-hot for a hard label). Where p_c = 0 the rest of the row is ignored (NaN allowed)."""
    checks.tensor(outputs, "outputs", ndim=2, floating=True)
    checks.tensor(target, "target", ndim=2, floating=True)
    if outputs.shape[1] < 6:
        raise ValueError(f"outputs must have 5 + k columns (presence logit, 4 box numbers, k >= 1 "
                         f"class logits), got shape {tuple(outputs.shape)}")
    if len(outputs) == 0:
        raise ValueError("outputs is empty: need at least one image (row)")
    if target.shape != outputs.shape:
        raise ValueError(f"target must have the shape of outputs, (N, 5 + k) = "
                         f"{tuple(outputs.shape)}: (p_c, b_x, b_y, b_w, b_h, c_1..c_k); got "
                         f"{tuple(target.shape)}")
    target = target.to(outputs.dtype)
    p_c = target[:, 0]
    present = p_c == 1
    if not bool((present | (p_c == 0)).all()):
        bad = p_c[~(present | (p_c == 0))][:3].tolist()
        raise ValueError(f"target[:, 0] (p_c) must be 0 or 1, found {bad}")
    rows = target[present]
    if rows.numel():
        if not bool(torch.isfinite(rows[:, 1:]).all()):
            raise ValueError("target holds NaN or Inf in the box or class entries of a row with "
                             "p_c = 1 (only rows with p_c = 0 may hold them)")
        classes = rows[:, 5:]
        if bool((classes < 0).any()) or not torch.allclose(
                classes.sum(1), torch.ones_like(classes[:, 0]), atol=1e-4):
            raise ValueError("target[:, 5:] (c_1..c_k) must be one-hot (or a probability vector) "
                             "in every row with p_c = 1")
    return target, present


def _localization_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    merged = dict(LOCALIZATION_WEIGHTS)
    if weights is None:
        return merged
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a mapping with keys among {tuple(merged)}, got "
                        f"{type(weights).__name__}")
    unknown = sorted(set(weights) - set(merged))
    if unknown:
        raise ValueError(f"weights has unknown key(s) {unknown}; known: {tuple(merged)}")
    for key, value in weights.items():
        merged[key] = checks.nonnegative_number(value, f"weights[{key!r}]")
    return merged


def localization_loss(outputs: torch.Tensor, target: torch.Tensor,
                      weights: Mapping[str, float] | None = None, *,
                      reduction: str = "mean") -> torch.Tensor:
    """The course's loss of classification with localization, as the negative log-likelihood
    it comes from.

    Symbols → arguments: ``outputs`` (N, 5 + k) rows (z, b̂_x, b̂_y, b̂_w, b̂_h, s_1..s_k) with
    p̂_c = σ(z) the presence probability and ĉ = softmax(s) the class probabilities given an
    object; ``target`` (N, 5 + k) rows y = (p_c, b_x, b_y, b_w, b_h, c_1..c_k), p_c ∈ {0, 1},
    c one-hot (``vision.localization_target`` builds it from ``data.shapes``). Per image

        ℓ = w_p · [−p_c log p̂_c − (1 − p_c) log(1 − p̂_c)]
            + p_c · ( w_c · Σ_i −c_i log ĉ_i  +  w_b · Σ_{j ∈ x,y,w,h} (b_j − b̂_j)² )

    with (w_p, w_c, w_b) = ``weights["presence"]``, ``weights["class"]``, ``weights["box"]``
    (default 1 each; missing keys keep 1). The class and box terms exist only where p_c = 1:
    an empty image's box and class entries are meaningless, and they are *selected out*, not
    multiplied by zero, so NaN or garbage there (in ``target`` or ``outputs``) changes neither
    the loss nor its gradient. A weight of 0 drops its term (the ablation "no box term").
    ``reduction``: "mean" (over the N images, default), "sum" or "none" (the N values ℓ).

    Derivation (the course's likelihood). Model: presence ~ Bernoulli(p̂_c); given an object,
    class ~ Categorical(ĉ) and each box number b_j = b̂_j + ε_j, ε_j ~ N(0, σ²) independent.
    The likelihood of one image is

        p(y | x) = (1 − p̂_c)^(1 − p_c) · [ p̂_c · Π_i ĉ_i^(c_i) · Π_j N(b_j; b̂_j, σ²) ]^(p_c)

    and its negative logarithm is

        −log p(y | x) = −p_c log p̂_c − (1 − p_c) log(1 − p̂_c)
                        + p_c · ( −Σ_i c_i log ĉ_i + Σ_j (b_j − b̂_j)² / (2σ²) )
                        + p_c · 2 log(2πσ²),

    the last term (4 × ½ log 2πσ²) free of the parameters. So ℓ is the NLL up to that constant
    exactly when w_p = w_c = 1 and w_b = 1/(2σ²) (``box_weight(sigma)``). The default w_b = 1
    means σ² = ½, σ ≈ 0.71 image sides — the course's exp(−‖b − b̂‖²) in its likelihood (its
    "ε ∈ N(0, 1)" would be w_b = ½). A box known to ±0.05 of the image side is σ = 0.05,
    w_b = 200: the weight says how precise we believe boxes are relative to labels. Other w_p,
    w_c are a reweighted (tempered) likelihood, not an NLL. Computed stably: −log σ(z) =
    softplus(−z), −log(1 − σ(z)) = softplus(z), log ĉ = log_softmax(s).
    """
    target, present = check_localization(outputs, target)
    w = _localization_weights(weights)
    reduction = checks.choice(reduction, "reduction", ("mean", "sum", "none"))
    z = outputs[:, 0]
    # Bernoulli presence: −log p̂_c if p_c = 1, −log(1 − p̂_c) if p_c = 0
    loss = w["presence"] * torch.where(present, F.softplus(-z), F.softplus(z))
    rows = present.nonzero().squeeze(1)
    if len(rows) and (w["class"] or w["box"]):
        out, y = outputs[rows], target[rows]  # only images with an object
        extra = torch.zeros_like(out[:, 0])
        if w["class"]:  # categorical class: −Σ_i c_i log ĉ_i
            extra = extra + w["class"] * -(y[:, 5:] * F.log_softmax(out[:, 5:], dim=1)).sum(1)
        if w["box"]:  # Gaussian box: Σ_j (b_j − b̂_j)² / (2σ²), w_b = 1/(2σ²)
            extra = extra + w["box"] * ((y[:, 1:5] - out[:, 1:5]) ** 2).sum(1)
        loss = loss.index_add(0, rows, extra)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()
