"""Learning without Forgetting (Li & Hoiem 2016, 2018) with the temperature-scaled distillation.

The course (SYLLABUS section 7, "LwF"): before training the new task, record the old tasks'
outputs Y_o on the new task's inputs X_n; then minimize

    λ_o · L_old(Y_o, Y′_o) + L_new(Y_n, Y′_n)

where Y′_o are the current model's old-task outputs. L_old is Hinton et al.'s (2015)
distillation at temperature T, with their T² factor (the soft targets' gradients scale as
1/T², so T² keeps the old-task term's weight independent of T; Avalanche's LwF omits it):

    L_old = T² · (1/N) Σ_n KL(softmax(Y_o,n / T) ‖ softmax(Y′_o,n / T)).

Li & Hoiem write L_old as the cross-entropy −Σ p log p′ of the same softened distributions; it
differs from the KL by the entropy of the recorded p, a constant, so the gradients are equal;
the KL is zero when the model still answers like the old one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..core import checks
from .strategies import Strategy

__all__ = ["LwF", "distillation_loss"]


def distillation_loss(new_logits: Tensor, old_logits: Tensor,
                      temperature: float = 2.0) -> Tensor:
    """T² · (1/N) Σ_n KL(p_n ‖ p′_n), p_n = softmax(Y_o,n/T), p′_n = softmax(Y′_o,n/T).

    ``new_logits`` Y′_o (N, C): the current model's outputs on the old classes (gradients flow
    through them); ``old_logits`` Y_o (N, C): the old model's outputs on the same inputs
    (treated as constants: detached); ``temperature`` T > 0. The mean is over the batch (the N
    rows), the sum over the C classes. Gradient in Y′_o,n: T · (p′_n − p_n) / N, which for
    large T tends to ((Y′_o,n − Y_o,n) − their mean over classes) / (C·N), independent of T.
    """
    new_logits = checks.finite_tensor(new_logits, "new_logits", ndim=2)
    old_logits = checks.finite_tensor(old_logits, "old_logits", ndim=2)
    if new_logits.shape != old_logits.shape:
        raise ValueError(f"new_logits and old_logits must have the same shape (N, classes), "
                         f"got {tuple(new_logits.shape)} and {tuple(old_logits.shape)}")
    if len(new_logits) == 0:
        raise ValueError("new_logits must hold at least one row (N ≥ 1)")
    temperature = checks.positive_number(temperature, "temperature")
    log_p_old = torch.log_softmax(old_logits.detach() / temperature, dim=1)
    log_p_new = torch.log_softmax(new_logits / temperature, dim=1)
    kl = (log_p_old.exp() * (log_p_old - log_p_new)).sum(dim=1)
    return temperature ** 2 * kl.mean()


class LwF(Strategy):
    """Learning without Forgetting: while training task t > 0, add

        λ_o · distillation_loss(Y′_o, Y_o, T)

    on each batch, Y_o the outputs of the model as it was when task t began (θ_{t−1}, frozen)
    and Y′_o the current model's, restricted to the old tasks' outputs: task-IL — each old
    task k's head (``stream.logits(., k, training=False)``), the distillation averaged over the
    t old heads (so λ_o does not grow with their number); class-IL — the classes of tasks
    0..t−1 (``stream.logits(., t−1, training=True)``); domain-IL — every output.

    The old model never changes during task t, so its outputs on a batch equal the ones Li &
    Hoiem record on the new task's data before training (up to dropout: it is evaluated in eval
    mode). It is kept as a copy of the parameters and buffers θ_{t−1}, taken in ``end_task``
    of task t−1 — the model is unchanged between that call and ``begin_task(t)`` — and run
    through ``torch.func.functional_call`` of the live model; the copy is in ``state_dict``, so
    a stream resumed mid-task distills toward the same old model.

    Arguments: ``lam_o`` λ_o ≥ 0, ``temperature`` T > 0 (Li & Hoiem use T = 2).
    """

    name = "lwf"

    def __init__(self, lam_o: float, temperature: float = 2.0) -> None:
        self.lam_o = checks.nonnegative_number(lam_o, "lam_o")
        self.temperature = checks.positive_number(temperature, "temperature")
        self.old_state: dict[str, Tensor] | None = None
        self.old_task: int | None = None

    def end_task(self, model: nn.Module, stream, t: int) -> None:
        self.old_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.old_task = int(t)

    def begin_task(self, model: nn.Module, stream, t: int) -> None:
        if t > 0 and self.old_task != t - 1:
            raise ValueError(f"LwF.begin_task(t={t}) needs the model of task {t - 1} (kept by "
                             f"end_task); it holds task {self.old_task}'s")

    def old_outputs(self, model: nn.Module, x: Tensor) -> Tensor:
        """Y_o: the frozen θ_{t−1} model's outputs on ``x`` (no gradient, eval mode)."""
        if self.old_state is None:
            raise ValueError("LwF has no old model yet (end_task was never called)")
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                return functional_call(model, self.old_state, (x,))
        finally:
            model.train(was_training)

    def distillation(self, new_outputs: Tensor, old_outputs: Tensor, stream, t: int) -> Tensor:
        """L_old for task t from the models' full outputs (the scenario's old-task columns)."""
        if stream.scenario == "task":
            terms = [distillation_loss(stream.logits(new_outputs, k, training=False),
                                       stream.logits(old_outputs, k, training=False),
                                       self.temperature) for k in range(t)]
            return sum(terms) / len(terms)
        if stream.scenario == "class":
            return distillation_loss(stream.logits(new_outputs, t - 1, training=True),
                                     stream.logits(old_outputs, t - 1, training=True),
                                     self.temperature)
        return distillation_loss(new_outputs, old_outputs, self.temperature)

    def penalty(self, model, x, y, stream, t):
        if t == 0 or self.lam_o == 0.0:
            return 0.0
        old = self.old_outputs(model, x)
        return self.lam_o * self.distillation(model(x), old, stream, t)

    def state_dict(self) -> dict:
        if self.old_state is None:
            return {}
        return {"old_state": dict(self.old_state), "old_task": self.old_task}

    def load_state_dict(self, state) -> None:
        if not state:
            self.old_state, self.old_task = None, None
            return
        self.old_state = dict(state["old_state"])
        self.old_task = int(state["old_task"])

    def __repr__(self) -> str:
        return f"LwF(lam_o={self.lam_o:g}, temperature={self.temperature:g})"
