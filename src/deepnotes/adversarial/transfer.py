"""Transfer attacks: the black-box threat model.

The attacker cannot see the target model's gradients, so it trains a surrogate of its own
(another architecture, another seed, the same task), crafts x_adv with a white-box attack on
the surrogate and submits x_adv to the target. The attack transfers on an example when the
target misclassifies x_adv (untargeted) or outputs t (targeted).

Success rates are measured on the ``eligible`` examples: those the target classifies
correctly on the clean input (untargeted), or whose label is not already the target class t
(targeted; ``labels`` must then be given), so that a rate of 0 means "no harm done".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..core import checks
from .attacks import predict, success

__all__ = ["TransferResult", "success_rate", "transfer_attack"]


@dataclass
class TransferResult:
    """``x_adv`` crafted on the surrogate; per-example bools ``surrogate_success`` (the
    white-box success on the surrogate), ``target_success`` (the transfer) and ``eligible``;
    and the two rates over the eligible examples."""

    x_adv: torch.Tensor
    surrogate_success: torch.Tensor
    target_success: torch.Tensor
    eligible: torch.Tensor

    @property
    def surrogate_rate(self) -> float:
        return success_rate(self.surrogate_success, self.eligible)

    @property
    def transfer_rate(self) -> float:
        return success_rate(self.target_success, self.eligible)


def success_rate(hits: torch.Tensor, eligible: torch.Tensor | None = None) -> float:
    """Fraction of ``hits`` among the ``eligible`` examples (all when None); nan if none."""
    checks.tensor(hits, "hits", ndim=1)
    if eligible is not None:
        checks.tensor(eligible, "eligible", ndim=1)
        checks.same_shape(eligible, "eligible", hits, "hits")
        hits = hits[eligible]
    return float(hits.float().mean()) if len(hits) else float("nan")


def transfer_attack(attack: Callable, surrogate, target, x: torch.Tensor, y: torch.Tensor, *,
                    targeted: bool = False, labels: torch.Tensor | None = None,
                    **attack_kwargs) -> TransferResult:
    """Craft ``attack(surrogate, x, y, targeted=targeted, **attack_kwargs)`` and evaluate it
    on ``target`` (which the attack never queries).

    ``attack`` is any function with the common signature (``fgsm``, ``pgd``,
    ``carlini_wagner_l2``, ...); ``y`` holds true labels, or target classes when
    ``targeted`` (then ``labels`` gives the true labels, used to choose the eligible
    examples).
    """
    if not callable(attack):
        raise TypeError("attack must be a function attack(model, x, y, *, eps, ...) -> x_adv")
    if targeted and labels is None:
        raise ValueError("labels (the true classes) are required when targeted=True")
    if labels is not None:
        checks.class_labels(labels, "labels", length=len(x))
    x_adv = attack(surrogate, x, y, targeted=targeted, **attack_kwargs)
    if targeted:
        eligible = labels.to(x.device) != y
    else:
        eligible = predict(target, x) == y
    return TransferResult(
        x_adv=x_adv,
        surrogate_success=success(surrogate, x_adv, y, targeted=targeted),
        target_success=success(target, x_adv, y, targeted=targeted),
        eligible=eligible,
    )
