"""``Adam``: momentum plus RMSProp-style scaling, with bias-corrected moment estimates."""

from __future__ import annotations

import torch

from ..core import checks
from . import functional as F
from ._base import CourseOptimizer, check_lr, step_counter, zeros_like


class Adam(CourseOptimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), a drop-in for torch.optim.Adam.

    m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g ⊙ g;
    m̂ = m / (1 − β₁ᵗ);  v̂ = v / (1 − β₂ᵗ);  θ ← θ − α m̂ / (√v̂ + ε)

    Arguments (torch.optim's names → the paper's symbols), defaults the paper's:
        lr: α = 1e-3, the step size.
        betas: (β₁, β₂) = (0.9, 0.999), each in [0, 1).
        eps: ε = 1e-8.
        weight_decay: λ, adds λθ to the gradient (L2, as torch.optim.Adam; not AdamW).
        foreach, fused: which form of the update runs; None for both picks the fastest.

    State per parameter: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v), torch's names, so
    a torch.optim.Adam state dict loads into it and vice versa.
    """

    _single = staticmethod(F.adam)
    _foreach = staticmethod(F.adam_foreach)

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *,
                 foreach: bool | None = None, fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, fused=fused))

    def _validate(self, group: dict) -> None:
        check_lr(group["lr"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        checks.unit_interval(betas[0], "betas[0] (beta1)")
        checks.unit_interval(betas[1], "betas[1] (beta2)")
        checks.positive_number(group["eps"], "eps")
        checks.nonnegative_number(group["weight_decay"], "weight_decay")

    def _init_state(self, param, group):
        return {"step": step_counter(param), "exp_avg": zeros_like(param),
                "exp_avg_sq": zeros_like(param)}

    def _state_lists(self, params, group):
        return [[self.state[p][key] for p in params] for key in ("exp_avg", "exp_avg_sq", "step")]

    def _compiled_call(self, params, grads, state, hyper):
        exp_avgs, exp_avg_sqs, steps = state
        lr = torch.tensor(hyper.pop("lr"), dtype=torch.float32, device=params[0].device)
        corrections = F.adam_corrections(steps, lr=lr, beta1=hyper["beta1"], beta2=hyper["beta2"])
        return F.adam_update, (params, grads, exp_avgs, exp_avg_sqs, *corrections), hyper

    def _hyperparameters(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=check_lr(group["lr"]), beta1=float(beta1), beta2=float(beta2),
                    eps=group["eps"], weight_decay=group["weight_decay"])
