"""Callbacks for ``fit`` / ``train_gan``: called after every step as ``cb(step, loss, model)``.

A callback that also has ``state_dict``/``load_state_dict`` is checkpointed with the run and
restored on resume (``Bookkeeping``).
"""

from __future__ import annotations

import copy

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..core.checks import unit_interval

__all__ = ["EMA"]


class EMA:
    """An exponential moving average of a model's weights (Polyak averaging; for a GAN's
    generator, Yazıcı et al. 2019):

        θ̄_0 = θ_0,    θ̄_t = β θ̄_{t−1} + (1 − β) θ_t   after every step t,

    with β = ``beta`` and θ the parameters of ``model`` (buffers, e.g. batch-norm statistics,
    are copied, not averaged). Built on ``torch.optim.swa_utils.AveragedModel`` with
    ``get_ema_multi_avg_fn(β)``; ``ema.module`` is the averaged copy of ``model`` (same class,
    usable wherever ``model`` is). It only reads the model: training is unchanged.
    """

    def __init__(self, model: nn.Module, beta: float, name: str = "ema"):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.beta = unit_interval(beta, name)
        # AveragedModel deep-copies its argument; copy a frozen version so the average never
        # asks for gradients
        frozen = copy.deepcopy(model).requires_grad_(False)
        self.averaged = AveragedModel(frozen, multi_avg_fn=get_ema_multi_avg_fn(self.beta))
        self.averaged.update_parameters(model)  # the first update copies: θ̄_0 = θ_0

    @property
    def module(self) -> nn.Module:
        return self.averaged.module

    def __call__(self, step: int, loss: float, model: nn.Module) -> None:
        self.averaged.update_parameters(model)

    def state_dict(self) -> dict:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.averaged.load_state_dict(state)

    def __repr__(self) -> str:
        return f"EMA(beta={self.beta})"
