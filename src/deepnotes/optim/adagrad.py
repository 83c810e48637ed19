"""``AdaGrad``: per-parameter rates inversely proportional to the root of the summed g²."""

from __future__ import annotations

import torch

from ..core import checks
from . import functional as F
from ._base import CourseOptimizer, check_lr, step_counter


class AdaGrad(CourseOptimizer):
    """AdaGrad (Goodfellow et al. Alg. 8.4), a drop-in for torch.optim.Adagrad.

    r ← r + g ⊙ g;   θ ← θ − ε / (δ + √r) ⊙ g

    Arguments (torch.optim's names → the course's symbols):
        lr: ε, the global learning rate (default 1e-2 as torch).
        eps: δ, the small constant (default 1e-7 as the book; torch's default is 1e-10).
        lr_decay: η, torch's decayed rate ε / (1 + (t − 1) η) (0: the book's rule).
        initial_accumulator_value: r at the start (0 in the book).
        weight_decay: λ, adds λθ to the gradient.
        foreach, fused: which form of the update runs; None for both picks the fastest.

    State per parameter: ``sum`` (r) and ``step`` (t), torch's names.
    """

    _single = staticmethod(F.adagrad)
    _foreach = staticmethod(F.adagrad_foreach)
    _native = staticmethod(F.adagrad_native)  # torch's fused kernel: the same update

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-7, *, foreach: bool | None = None,
                 fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, foreach=foreach, fused=fused))

    def _validate(self, group: dict) -> None:
        check_lr(group["lr"])
        checks.nonnegative_number(group["lr_decay"], "lr_decay")
        checks.nonnegative_number(group["weight_decay"], "weight_decay")
        checks.nonnegative_number(group["initial_accumulator_value"], "initial_accumulator_value")
        checks.positive_number(group["eps"], "eps")

    def _init_state(self, param, group):
        value = group["initial_accumulator_value"]
        return {"step": step_counter(param),
                "sum": torch.full_like(param, value, memory_format=torch.preserve_format)}

    def _state_lists(self, params, group):
        return [[self.state[p]["sum"] for p in params], [self.state[p]["step"] for p in params]]

    def _compiled_call(self, params, grads, state, hyper):
        sums, steps = state
        lr = torch.tensor(hyper.pop("lr"), dtype=torch.float32, device=params[0].device)
        rates = F.adagrad_rates(steps, lr=lr, lr_decay=hyper.pop("lr_decay"))
        return F.adagrad_update, (params, grads, sums, rates), hyper

    def _hyperparameters(self, group):
        return dict(lr=check_lr(group["lr"]), eps=group["eps"], lr_decay=group["lr_decay"],
                    weight_decay=group["weight_decay"])
