"""Batch normalization (Ioffe & Szegedy 2015), as a function and as a layer.

Course formula, per channel c (statistics over the batch and, for images, over H and W):

    y = (x − E[x]) / √(Var[x] + ε) · γ + β

Training: E[x], Var[x] are the minibatch mean and (biased, 1/m) variance, and the running
estimates move toward them:

    running_mean ← (1 − momentum)·running_mean + momentum·E[x]
    running_var  ← (1 − momentum)·running_var  + momentum·Var_unbiased[x]   (m/(m − 1)·Var[x])

Evaluation: E[x], Var[x] are the running estimates. γ (``weight``) and β (``bias``) are
learned; ε (``eps``) is fixed and small. ``momentum=None`` uses the cumulative average
(momentum = 1/t at the t-th batch). Conventions, buffers and state_dict keys are PyTorch's
(``torch.nn.BatchNorm1d/2d``), so state_dicts load either way.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core import checks

__all__ = ["BatchNorm", "BatchNorm1d", "BatchNorm2d", "batch_norm"]


def _check_momentum(momentum) -> float | None:
    """None (cumulative average) or a number in [0, 1]."""
    return None if momentum is None else checks.probability(momentum, "momentum")


def batch_norm(
    x: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = True,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    num_batches_tracked: torch.Tensor | None = None,
) -> torch.Tensor:
    """y = (x − E[x]) / √(Var[x] + ε) · γ + β over channel dim 1 of ``x`` (N, C, *spatial).

    ``training``: use the batch statistics and update ``running_mean``/``running_var`` in place
    (if given; ``num_batches_tracked`` is incremented); otherwise use the running statistics.
    ``weight`` = γ, ``bias`` = β (None: 1 and 0); ``momentum``, ``eps`` = ε as in the module
    docstring.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point torch.Tensor")
    if x.dim() < 2:
        raise ValueError(f"x must be (N, C) or (N, C, *spatial), got shape {tuple(x.shape)}")
    momentum, eps = _check_momentum(momentum), checks.positive_number(eps, "eps")
    channels = x.shape[1]
    for tensor, argument in ((running_mean, "running_mean"), (running_var, "running_var"),
                             (weight, "weight"), (bias, "bias")):
        if tensor is not None and tensor.shape != (channels,):
            raise ValueError(f"{argument} must have shape ({channels},) for x with {channels} "
                             f"channels, got {tuple(tensor.shape)}")
    reduce = [0, *range(2, x.dim())]
    shape = [1, channels] + [1] * (x.dim() - 2)
    if training or running_mean is None or running_var is None:
        count = x.numel() // channels
        if count < 2:
            raise ValueError(f"batch norm in training needs more than 1 value per channel, got x "
                             f"of shape {tuple(x.shape)}")
        # two passes (mean, then mean square of the centred values): exact, and on CPU
        # faster than torch.var_mean for these reductions over the batch dimension
        mean = x.mean(dim=reduce)
        centred = x - mean.reshape(shape)
        var = (centred * centred).mean(dim=reduce)
        if training and running_mean is not None and running_var is not None:
            with torch.no_grad():
                if num_batches_tracked is not None:
                    num_batches_tracked.add_(1)
                factor = momentum
                if factor is None:
                    if num_batches_tracked is None:
                        raise ValueError("momentum=None (cumulative average) needs "
                                         "num_batches_tracked")
                    factor = 1.0 / float(num_batches_tracked)
                running_mean.lerp_(mean.detach(), factor)
                running_var.lerp_(var.detach() * (count / (count - 1)), factor)
    else:
        var = running_var
        centred = x - running_mean.reshape(shape)
    # y = (x − E[x]) / √(Var[x] + ε) · γ + β, with one scale γ/√(Var[x] + ε) per channel
    scale = torch.rsqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    if bias is None:
        return centred * scale.reshape(shape)
    return torch.addcmul(bias.reshape(shape), centred, scale.reshape(shape))


class BatchNorm(nn.Module):
    """Batch normalization over channel dim 1 of (N, C), (N, C, L) or (N, C, H, W) inputs.

    ``num_features`` = C; ``eps`` = ε; ``momentum`` of the running statistics (None: cumulative
    average); ``affine``: learn γ (``weight``, init 1) and β (``bias``, init 0);
    ``track_running_stats``: keep running estimates for evaluation (else batch statistics
    always). Buffers ``running_mean``, ``running_var``, ``num_batches_tracked`` as in torch.
    """

    expected_dims: tuple[int, ...] | None = None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, device=None,
                 dtype=None):
        super().__init__()
        self.num_features = num_features = checks.positive_int(num_features, "num_features")
        self.eps = checks.positive_number(eps, "eps")
        self.momentum = _check_momentum(momentum)
        self.affine = affine
        self.track_running_stats = track_running_stats
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked",
                                 torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = self.expected_dims
        if expected is not None and isinstance(x, torch.Tensor) and x.dim() not in expected:
            raise ValueError(f"{type(self).__name__} expects a {' or '.join(map(str, expected))}"
                             f"-D input, got shape {tuple(x.shape)}")
        if isinstance(x, torch.Tensor) and x.dim() >= 2 and x.shape[1] != self.num_features:
            raise ValueError(f"x has {x.shape[1]} channels, this layer normalizes "
                             f"{self.num_features}")
        return batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            training=self.training or not self.track_running_stats,
            momentum=self.momentum, eps=self.eps, num_batches_tracked=self.num_batches_tracked,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(BatchNorm):
    """``BatchNorm`` for (N, C) or (N, C, L) inputs (as ``torch.nn.BatchNorm1d``)."""

    expected_dims = (2, 3)


class BatchNorm2d(BatchNorm):
    """``BatchNorm`` for (N, C, H, W) inputs (as ``torch.nn.BatchNorm2d``)."""

    expected_dims = (4,)
