"""``SGD``: minibatch stochastic gradient descent, with momentum in the textbook form."""

from __future__ import annotations

from ..core import checks
from . import functional as F
from ._base import CourseOptimizer, check_lr, zeros_like


class SGD(CourseOptimizer):
    """SGD with optional momentum (Goodfellow et al. Alg. 8.2), a drop-in for torch.optim.SGD.

    Without momentum: θ ← θ − ε g.  With momentum: v ← α v − ε g; θ ← θ + v.

    Arguments (torch.optim's names → the course's symbols):
        lr: ε, the learning rate (≥ 0).
        momentum: α, the momentum parameter, in [0, 1) (0: plain SGD).
        weight_decay: λ, adds λθ to the gradient.
        foreach, fused: which form of the update runs (``deepnotes.optim`` docstring);
            None for both picks the fastest for the device.

    State per parameter: ``velocity`` (the textbook v, initially 0). At constant lr the
    trajectory is torch.optim.SGD(momentum=α)'s; after an lr change it differs, because v
    carries the old ε (torch's buffer is rescaled by the new one).
    """

    _single = staticmethod(F.sgd)
    _foreach = staticmethod(F.sgd_foreach)
    _native = staticmethod(F.sgd_native)  # torch's one-pass kernels: the fast form

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0,
                 weight_decay: float = 0.0, *, foreach: bool | None = None,
                 fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      foreach=foreach, fused=fused))

    def _validate(self, group: dict) -> None:
        check_lr(group["lr"])
        checks.unit_interval(group["momentum"], "momentum")
        checks.nonnegative_number(group["weight_decay"], "weight_decay")

    def _init_state(self, param, group):
        return {"velocity": zeros_like(param)} if group["momentum"] != 0 else {}

    def _state_lists(self, params, group):
        if group["momentum"] == 0:
            return [[None] * len(params)]
        for p in params:  # momentum switched on after the first steps
            if "velocity" not in self.state[p]:
                self.state[p]["velocity"] = zeros_like(p)
        return [[self.state[p]["velocity"] for p in params]]

    def _hyperparameters(self, group):
        return dict(lr=check_lr(group["lr"]), momentum=group["momentum"],
                    weight_decay=group["weight_decay"])
