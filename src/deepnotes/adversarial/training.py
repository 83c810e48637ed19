"""Adversarial training as a loss for ``engine.fit``.

Goodfellow et al. (2015), FGSM training: instead of L(θ, x, y) minimize

    α·L(θ, x, y) + (1 − α)·L(θ, x + ε·sgn ∇ₓL(θ, x, y), y)

Madry et al. (2018), PGD training: the min–max problem

    min_θ E_(x,y) [ max_{‖δ‖∞ ≤ ε} L(θ, x + δ, y) ]

whose inner max is approximated by PGD with a random start; the loss is α·L(clean) +
(1 − α)·L(PGD example) with α = 0 by default (pure min–max), α = 0.5 for FGSM.

The adversarial example is computed at the current θ and then treated as a constant input
(no gradient flows through its construction: Danskin's theorem for the inner max). While it
is crafted the model is in eval mode, which matters when it has batch norm: in train mode each
of the attack's forward passes would update the running statistics with intermediate
perturbed batches and make every example's perturbation depend on the rest of the batch.
The loss itself is then computed in the model's own (train) mode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..core import checks
from .attacks import Bounds, check_bounds, check_radius, fgsm, pgd

__all__ = ["AdversarialLoss"]

_METHODS = ("fgsm", "pgd")


class AdversarialLoss:
    """Loss object for ``engine.fit`` (``takes_model = True``): called as loss(model, x, y).

    Arguments:
        method: "fgsm" (Goodfellow) or "pgd" (Madry).
        eps: ε, the L∞ radius of the training perturbation.
        alpha: α, the weight of the clean loss; default 0.5 for FGSM, 0 for PGD.
        steps, step_size, random_start: PGD's (defaults: 7 steps of 2.5·ε/7, random start).
        loss: the per-batch loss L(logits, y) (default cross-entropy); the attack itself
            always ascends cross-entropy.
        bounds: the valid input range.
        rng: a ``torch.Generator`` for PGD's random starts (default: torch's global RNG,
            which ``fit`` seeds).
    """

    takes_model = True

    def __init__(self, method: str = "fgsm", *, eps: float, alpha: float | None = None,
                 steps: int = 7, step_size: float | None = None, random_start: bool = True,
                 loss: Callable = F.cross_entropy, bounds: Bounds = (0.0, 1.0),
                 rng: torch.Generator | None = None):
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        self.method = method
        self.eps = check_radius(eps, "eps", 0)
        if alpha is None:
            alpha = 0.5 if method == "fgsm" else 0.0
        self.alpha = checks.probability(alpha, "alpha")
        self.steps = checks.positive_int(steps, "steps")
        self.step_size = (None if step_size is None
                          else check_radius(step_size, "step_size", 0, allow_zero=False))
        self.random_start = bool(random_start)
        if not callable(loss):
            raise TypeError("loss must be callable: loss(logits, y) -> scalar tensor")
        self.loss = loss
        self.bounds = check_bounds(bounds)
        self.rng = rng

    def perturb(self, model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The adversarial version of the batch at the current parameters (a constant)."""
        if self.method == "fgsm":
            return fgsm(model, x, y, eps=self.eps, bounds=self.bounds)
        return pgd(model, x, y, eps=self.eps, norm="inf", steps=self.steps,
                   step_size=self.step_size, random_start=self.random_start,
                   bounds=self.bounds, rng=self.rng)

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_adv = self.perturb(model, x, y)
        if self.alpha == 0.0:
            return self.loss(model(x_adv), y)
        if self.alpha == 1.0:
            return self.loss(model(x), y)
        # one forward pass over [x; x_adv] would mix the two halves' batch-norm statistics,
        # so the clean and adversarial batches go through the model separately
        return self.alpha * self.loss(model(x), y) + (1 - self.alpha) * self.loss(model(x_adv), y)

    def __repr__(self) -> str:
        return (f"AdversarialLoss(method={self.method!r}, eps={self.eps}, alpha={self.alpha}"
                + (f", steps={self.steps}" if self.method == "pgd" else "") + ")")
