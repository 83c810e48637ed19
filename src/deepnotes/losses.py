"""Losses of the course, each as the negative log-likelihood it comes from where it has one.

Topic issues add the localization loss and ELBO pieces here.
"""

from __future__ import annotations

import math

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
