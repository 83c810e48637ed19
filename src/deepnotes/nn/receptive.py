"""Receptive field and parameter count of a stack of convolution layers; the notes' exercise
"larger or smaller filters?".

Receptive field of a unit after layers l = 1..d with kernel k_l, stride s_l, dilation D_l
(r = its width in input positions, j = the input distance between adjacent units):

    r_0 = 1, j_0 = 1;   r_l = r_{l−1} + D_l·(k_l − 1)·j_{l−1};   j_l = j_{l−1}·s_l

Weights of a k×k layer per (input channel, output channel) pair: k²; a stack of d such layers
has d·k² per channel pair (C_in·C_out·k² + C_out with biases, per layer).

The exercise (d layers of k×k filters, stride 1): the notes write F ≈ d·k and the parameter
count k²·d = F·k, so for a fixed receptive field F smaller k is cheaper. Exactly,
F = d·(k − 1) + 1, i.e. d = (F − 1)/(k − 1) layers and (F − 1)·k²/(k − 1) weights per channel
pair, which also falls with k (for k ≥ 2): three 3×3 layers see 7×7 with 27 weights per
channel pair, one 7×7 layer needs 49 (the VGG argument). Correction to the notes: F ≈ d·k
overcounts by d − 1; the conclusion is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..core import checks

__all__ = [
    "ConvLayer", "ReceptiveField", "filter_size_tradeoff", "layers_for_receptive_field",
    "receptive_field", "stack_parameters",
]


@dataclass(frozen=True)
class ConvLayer:
    """One layer of a stack: ``kernel`` k, ``stride`` s, ``dilation`` D (square in 2-D)."""

    kernel: int
    stride: int = 1
    dilation: int = 1

    def __post_init__(self):
        for field in ("kernel", "stride", "dilation"):  # stored as Python ints
            object.__setattr__(self, field, checks.positive_int(getattr(self, field), field))


@dataclass(frozen=True)
class ReceptiveField:
    """``size`` r (input positions one output unit sees, per axis), ``jump`` j (input distance
    between neighbouring output units) and ``sizes`` (r after each layer)."""

    size: int
    jump: int
    sizes: tuple[int, ...]


def _as_layers(layers) -> list[ConvLayer]:
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        raise TypeError("layers must be a sequence of ConvLayer, kernel ints, "
                        "(kernel, stride[, dilation]) tuples or dicts")
    out = []
    for position, layer in enumerate(layers):
        if isinstance(layer, ConvLayer):
            out.append(layer)
        elif isinstance(layer, Mapping):
            out.append(ConvLayer(**layer))
        elif isinstance(layer, Sequence) and not isinstance(layer, str) and 1 <= len(layer) <= 3:
            out.append(ConvLayer(*layer))
        else:
            try:
                kernel = checks.integer(layer, f"layers[{position}]")
            except TypeError:
                raise TypeError(f"layers[{position}] must be a ConvLayer, an int kernel, a "
                                f"(kernel, stride, dilation) tuple or a dict, got "
                                f"{layer!r}") from None
            out.append(ConvLayer(kernel))
    return out


def receptive_field(layers) -> ReceptiveField:
    """Receptive field of the last layer's units: r_l = r_{l−1} + D_l·(k_l − 1)·j_{l−1},
    j_l = j_{l−1}·s_l, from r_0 = j_0 = 1.

    ``layers``: a sequence of ``ConvLayer``, kernel sizes (stride 1), ``(kernel, stride,
    dilation)`` tuples or dicts. Pooling layers count as layers too (a 2×2 max-pool is
    ``(2, 2)``). Example: ``receptive_field([3, 3, 3]).size == 7``.
    """
    size, jump, sizes = 1, 1, []
    for layer in _as_layers(layers):
        size += layer.dilation * (layer.kernel - 1) * jump
        jump *= layer.stride
        sizes.append(size)
    return ReceptiveField(size, jump, tuple(sizes))


def stack_parameters(layers, channels: Sequence[int] | None = None, spatial_dims: int = 2,
                     bias: bool = True) -> int:
    """Parameter count of the conv stack: Σ_l (C_{l−1}·C_l·k_l^{dims} + C_l·[bias]).

    ``channels`` = (C_0, C_1, ..., C_d), one more than the layers; without it, the count per
    channel pair Σ_l k_l^{dims} (biases excluded), the quantity of the notes' exercise.
    """
    stack = _as_layers(layers)
    spatial_dims = checks.positive_int(spatial_dims, "spatial_dims")
    if channels is None:
        return sum(layer.kernel**spatial_dims for layer in stack)
    channels = [checks.positive_int(c, "channels") for c in channels]
    if len(channels) != len(stack) + 1:
        raise ValueError(f"channels must have len(layers) + 1 = {len(stack) + 1} entries "
                         f"(C_0..C_d), got {len(channels)}")
    return sum(
        fan_in * fan_out * layer.kernel**spatial_dims + (fan_out if bias else 0)
        for layer, fan_in, fan_out in zip(stack, channels[:-1], channels[1:], strict=True)
    )


def layers_for_receptive_field(field: int, kernel: int) -> int:
    """Fewest stride-1 layers of size-``kernel`` filters whose receptive field reaches
    ``field``: d = ⌈(F − 1)/(k − 1)⌉ (exact when k − 1 divides F − 1)."""
    field, kernel = checks.positive_int(field, "field"), checks.positive_int(kernel, "kernel")
    if kernel == 1:
        if field != 1:
            raise ValueError("kernel=1 layers never grow the receptive field beyond 1")
        return 1
    return max(1, math.ceil((field - 1) / (kernel - 1)))


def filter_size_tradeoff(field: int, kernels: Iterable[int], spatial_dims: int = 2) -> list[dict]:
    """The exercise: for receptive field ``field`` = F and each filter size k in ``kernels``,
    the depth d, the exact receptive field reached, the weights per channel pair d·k^{dims}
    (k²·d in 2-D), and the notes' approximations d ≈ F/k and k²·d ≈ F·k."""
    rows = []
    for kernel in (checks.positive_int(k, "kernels") for k in kernels):
        depth = layers_for_receptive_field(field, kernel)
        rows.append({
            "kernel": kernel,
            "layers": depth,
            "receptive_field": receptive_field([kernel] * depth).size,
            "weights_per_channel_pair": stack_parameters([kernel] * depth, None, spatial_dims),
            "notes_layers": field / kernel,
            "notes_weights": field * kernel ** (spatial_dims - 1),
        })
    return rows
