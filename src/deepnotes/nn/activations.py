"""Activation functions of the course, as functions on tensors and as ``nn.Module`` layers.

    ReLU                         σ(z) = max(0, z)
    absolute-value rectification σ(z) = |z|        (invariance to a sign flip of the input)
    leaky ReLU                   σ(z_i) = α_i·min(0, z_i) + max(0, z_i)
                                   α fixed (``LeakyReLU``) or learned per channel
                                   (``ParametricLeakyReLU``, He et al.'s PReLU)
    tanh                         σ(z) = tanh(z) = (e^z − e^{−z}) / (e^z + e^{−z})
    logistic                     σ(z) = 1 / (1 + e^{−z})

Tanh and the logistic saturate: σ'(z) → 0 as |z| → ∞ (the logistic's derivative is at most
1/4), which is why the course does not recommend them for hidden layers (see the
``activation-saturation`` experiment). At z = 0 the (sub)gradients follow PyTorch: ReLU and |z|
get 0, leaky ReLU gets α.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..core import checks
from .functional import _check_tensor, logistic

__all__ = [
    "ACTIVATIONS", "TORCH_ACTIVATIONS", "AbsoluteRectification", "LeakyReLU", "Logistic",
    "ParametricLeakyReLU", "ReLU", "Tanh", "absolute_rectification", "leaky_relu", "logistic",
    "parametric_leaky_relu", "make_activation", "relu", "tanh",
]


def relu(z: torch.Tensor) -> torch.Tensor:
    """Rectified linear unit σ(z) = max(0, z)."""
    z = _check_tensor(z, "z")
    return torch.where(z > 0, z, torch.zeros((), dtype=z.dtype, device=z.device))


def absolute_rectification(z: torch.Tensor) -> torch.Tensor:
    """Absolute-value rectification σ(z) = |z| = z·sign(z) (subgradient sign(z), 0 at z = 0)."""
    z = _check_tensor(z, "z")
    return z * torch.sign(z).detach()


def leaky_relu(z: torch.Tensor, alpha: float = 0.01) -> torch.Tensor:
    """Leaky ReLU with a fixed slope ``alpha`` = α: σ(z) = α·min(0, z) + max(0, z)."""
    z = _check_tensor(z, "z")
    alpha = checks.real(alpha, "alpha")
    return torch.where(z > 0, z, alpha * z)


def parametric_leaky_relu(z: torch.Tensor, alpha: torch.Tensor,
                          channel_dim: int = 1) -> torch.Tensor:
    """Leaky ReLU with one slope per channel: σ(z_i) = α_c·min(0, z_i) + max(0, z_i) where c is
    z_i's index along ``channel_dim``. ``alpha`` has one element (shared) or one per channel."""
    z = _check_tensor(z, "z")
    alpha = _check_tensor(alpha, "alpha")
    if alpha.dim() != 1:
        raise ValueError(f"alpha must be 1-D (one slope per channel), got shape "
                         f"{tuple(alpha.shape)}")
    if alpha.numel() != 1:
        if z.dim() < 2:
            raise ValueError(f"per-channel alpha needs z with a channel dim, got shape "
                             f"{tuple(z.shape)}")
        channel_dim = channel_dim % z.dim()
        if z.shape[channel_dim] != alpha.numel():
            raise ValueError(f"alpha has {alpha.numel()} slopes but z has {z.shape[channel_dim]} "
                             f"channels along dim {channel_dim}")
        shape = [1] * z.dim()
        shape[channel_dim] = alpha.numel()
        alpha = alpha.reshape(shape)
    return torch.where(z > 0, z, alpha * z)


def tanh(z: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent tanh(z) = (1 − e^{−2z}) / (1 + e^{−2z}) for z ≥ 0, and −tanh(−z) for
    z < 0 (written with expm1 so that it is accurate near 0 and never overflows)."""
    z = _check_tensor(z, "z")
    zero = torch.zeros((), dtype=z.dtype, device=z.device)
    positive = torch.where(z >= 0, z, zero)
    negative = torch.where(z < 0, z, zero)
    m_pos = torch.expm1(-2 * positive)  # e^{−2z} − 1 ∈ (−1, 0]
    m_neg = torch.expm1(2 * negative)
    return torch.where(z >= 0, -m_pos / (2 + m_pos), m_neg / (2 + m_neg))


class ReLU(nn.Module):
    """σ(z) = max(0, z)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return relu(z)


class AbsoluteRectification(nn.Module):
    """σ(z) = |z|."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return absolute_rectification(z)


class LeakyReLU(nn.Module):
    """σ(z) = α·min(0, z) + max(0, z) with fixed ``alpha`` = α (default 0.01, as PyTorch)."""

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = checks.real(alpha, "alpha")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return leaky_relu(z, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class ParametricLeakyReLU(nn.Module):
    """σ(z_i) = α_c·min(0, z_i) + max(0, z_i) with α learned, one per channel.

    ``num_channels`` slopes (1 = one shared slope) along ``channel_dim`` (dim 1: N×C or
    N×C×H×W), initialized to ``init`` (0.25, as ``torch.nn.PReLU``).
    """

    def __init__(self, num_channels: int = 1, init: float = 0.25, channel_dim: int = 1):
        super().__init__()
        num_channels = checks.positive_int(num_channels, "num_channels")
        self.alpha = nn.Parameter(torch.full((num_channels,), checks.real(init, "init")))
        self.channel_dim = channel_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return parametric_leaky_relu(z, self.alpha, self.channel_dim)

    def extra_repr(self) -> str:
        return f"num_channels={self.alpha.numel()}"


class Tanh(nn.Module):
    """σ(z) = tanh(z)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return tanh(z)


class Logistic(nn.Module):
    """σ(z) = 1 / (1 + e^{−z})."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return logistic(z)


ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "relu": ReLU,
    "abs": AbsoluteRectification,
    "leaky_relu": LeakyReLU,
    "prelu": ParametricLeakyReLU,
    "tanh": Tanh,
    "logistic": Logistic,
    "sigmoid": Logistic,
}

# torch's fused built-ins for the same functions (equal values and gradients, tested); the
# fast path that ``nn.models`` uses. Absolute-value rectification has no torch module.
TORCH_ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "relu": nn.ReLU,
    "abs": AbsoluteRectification,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "prelu": lambda num_channels: nn.PReLU(num_channels),
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "sigmoid": nn.Sigmoid,
}


def make_activation(activation: str | Callable[[], nn.Module], num_channels: int = 1,
                    implementation: str = "ours") -> nn.Module:
    """An activation layer from a name in ``ACTIVATIONS`` or a zero-argument factory.

    ``implementation``: ``"ours"`` (this module's layers) or ``"torch"`` (torch's built-ins,
    one fused kernel each: the fast path; "abs" is ours either way). ``num_channels`` sizes
    the learned slopes of ``"prelu"`` (ignored by the others).
    """
    if callable(activation) and not isinstance(activation, str):
        built = activation()
        if not isinstance(built, nn.Module):
            raise TypeError("activation factory must return a torch.nn.Module")
        return built
    if implementation not in ("ours", "torch"):
        raise ValueError(f"implementation must be 'ours' or 'torch', got {implementation!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a factory, "
                         f"got {activation!r}")
    registry = ACTIVATIONS if implementation == "ours" else TORCH_ACTIVATIONS
    if activation == "prelu":
        return registry["prelu"](num_channels)
    return registry[activation]()
