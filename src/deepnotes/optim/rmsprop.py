"""``RMSProp``: per-parameter rates from an exponential moving average of g²."""

from __future__ import annotations

from ..core import checks
from . import functional as F
from ._base import CourseOptimizer, check_lr, step_counter, zeros_like


class RMSProp(CourseOptimizer):
    """RMSProp (Goodfellow et al. Alg. 8.5), a drop-in for torch.optim.RMSprop.

    r ← ρ r + (1 − ρ) g ⊙ g;   θ ← θ − ε / √(δ + r) ⊙ g

    Arguments (torch.optim's names → the course's symbols):
        lr: ε, the global learning rate (default 1e-2 as torch).
        alpha: ρ, the decay rate, in [0, 1) (default 0.99 as torch).
        eps: δ (default: 1e-6 with the book's form, 1e-8 — torch's default — with
            ``eps_inside_sqrt=False``). The course's notes print "usually 10⁻⁹" in one place
            and 10⁻⁶ in Goodfellow's Alg. 8.5; 1e-6 (the book's) is used.
        eps_inside_sqrt: True (default) = the book's √(δ + r); False = PyTorch's √r + δ,
            identical to torch.optim.RMSprop. With the root around δ the denominator is at
            least √δ: in float16, where a tiny r underflows to 0, the book's form stays finite
            while √r + δ (δ = 1e-8 rounds to 0 in float16) divides by zero.
        weight_decay: λ, adds λθ to the gradient.
        foreach, fused: which form of the update runs; None for both picks the fastest.

    torch.optim.RMSprop's ``momentum`` and ``centered`` variants are not part of the course's
    algorithm and are not offered. State per parameter: ``square_avg`` (r) and ``step``.
    """

    _single = staticmethod(F.rmsprop)
    _foreach = staticmethod(F.rmsprop_foreach)

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float | None = None,
                 weight_decay: float = 0.0, *, eps_inside_sqrt: bool = True,
                 foreach: bool | None = None, fused: bool | None = None) -> None:
        if not isinstance(eps_inside_sqrt, bool):
            raise TypeError(f"eps_inside_sqrt must be True or False, got {eps_inside_sqrt!r}")
        if eps is None:
            eps = 1e-6 if eps_inside_sqrt else 1e-8
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      eps_inside_sqrt=eps_inside_sqrt, foreach=foreach,
                                      fused=fused))

    def _validate(self, group: dict) -> None:
        check_lr(group["lr"])
        checks.unit_interval(group["alpha"], "alpha")
        checks.positive_number(group["eps"], "eps")
        checks.nonnegative_number(group["weight_decay"], "weight_decay")

    def _init_state(self, param, group):
        return {"step": step_counter(param), "square_avg": zeros_like(param)}

    def _state_lists(self, params, group):
        for p in params:
            self.state[p]["step"].add_(1)
        return [[self.state[p]["square_avg"] for p in params]]

    def _hyperparameters(self, group):
        return dict(lr=check_lr(group["lr"]), alpha=group["alpha"], eps=group["eps"],
                    eps_inside_sqrt=group["eps_inside_sqrt"], weight_decay=group["weight_decay"])
