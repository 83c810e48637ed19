"""Discrete convolution and cross-correlation in 1-D and 2-D, written out (im2col + matmul).

Course formulas (x = input, w = kernel / filter, s = feature map):

    1-D convolution        s(i)    = (x ∗ w)(i)    = Σ_m x(i − m) w(m)      (kernel flipped)
    2-D convolution        s(i, j) = (x ∗ w)(i, j) = Σ_m Σ_n x(i − m, j − n) w(m, n)
    2-D cross-correlation  s(i, j) = (x ⋆ w)(i, j) = Σ_m Σ_n x(i + m, j + n) w(m, n)

Correction to the notes: they write the cross-correlation with the same ∗ sign as the
convolution; it is a different operation (⋆ here). What ML libraries call "convolution"
(``torch.nn.functional.conv2d``, ``nn.Conv2d``) is the cross-correlation; the true convolution
is the cross-correlation with the kernel flipped along every spatial axis, which is how
``convolution1d``/``convolution2d`` compute it (with ``padding="full"`` and stride 1 they equal
``scipy.signal.convolve(x, w, mode="full")``).

With channels, batches, stride S, zero padding P and dilation D (output channel o, input
channel c, output position i):

    s[n, o, i] = b[o] + Σ_c Σ_m x_pad[n, c, S·i + D·m] · w[o, c, m]
    output length = ⌊(L + P_left + P_right − D·(K − 1) − 1) / S⌋ + 1

Implementation: the padded input is cut into its sliding windows (``Tensor.unfold``, the
im2col step), the windows are flattened into rows of length C·K (C·Kh·Kw in 2-D), and one
matrix product with the flattened kernels gives every output. Autograd differentiates through
it. This is the reference implementation; the models in ``nn.models`` use torch's convolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core import checks

__all__ = [
    "Conv1d", "Conv2d", "conv_output_size", "convolution", "convolution1d", "convolution2d",
    "cross_correlation", "cross_correlation1d", "cross_correlation2d",
]

PADDING_MODES = ("valid", "same", "full")


def _int_tuple(value, n: int, argument: str, minimum: int) -> tuple[int, ...]:
    """``n`` ints ≥ ``minimum`` from one int (any integer type, ``core.checks.integer``) or a
    tuple/list of n of them."""
    values = value if isinstance(value, (tuple, list)) else (value,) * n
    try:
        if len(values) != n:
            raise TypeError
        values = tuple(checks.integer(v, argument) for v in values)
    except TypeError:
        raise TypeError(f"{argument} must be an int or a tuple of {n} ints, got "
                        f"{value!r}") from None
    if any(v < minimum for v in values):
        raise ValueError(f"{argument} must be >= {minimum}, got {value!r}")
    return values


def _paddings(padding, kernel, stride, dilation) -> list[tuple[int, int]]:
    """(left, right) zero padding per spatial axis."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(f"padding must be an int, a tuple of ints or one of {PADDING_MODES}, "
                             f"got {padding!r}")
        spans = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        if padding == "valid":
            return [(0, 0)] * n
        if padding == "full":
            return [(s, s) for s in spans]
        if any(s != 1 for s in stride):
            raise ValueError(f"padding='same' needs stride 1, got stride={stride}")
        return [(s // 2, s - s // 2) for s in spans]
    return [(p, p) for p in _int_tuple(padding, n, "padding", 0)]


def conv_output_size(length: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """⌊(L + 2P − D·(K − 1) − 1) / S⌋ + 1: the output length along one axis."""
    return (length + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def cross_correlation(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
) -> torch.Tensor:
    """Cross-correlation (ML "convolution") in as many spatial dims as ``weight`` has beyond 2.

    ``x``: (N, C_in, *spatial) or unbatched (C_in, *spatial); ``weight``: (C_out, C_in,
    *kernel); ``bias``: (C_out,) or None. ``stride`` S, ``dilation`` D: ints or one per axis;
    ``padding`` P: int, tuple, ``"valid"`` (0), ``"same"`` (output size = input size, stride
    1; the odd extra zero goes right, as torch) or ``"full"`` (D·(K − 1) on each side).

        s[n, o, i] = b[o] + Σ_c Σ_m x_pad[n, c, S·i + D·m] · w[o, c, m]   (per spatial axis)
    """
    for value, argument in ((x, "x"), (weight, "weight")):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{argument} must be a torch.Tensor, got {type(value).__name__}")
        if not value.is_floating_point():
            raise TypeError(f"{argument} must be floating point, got dtype {value.dtype}")
    if weight.dim() < 3:
        raise ValueError(f"weight must be (C_out, C_in, *kernel), got shape {tuple(weight.shape)}")
    dims = weight.dim() - 2
    unbatched = x.dim() == dims + 1
    if unbatched:
        x = x.unsqueeze(0)
    if x.dim() != dims + 2:
        raise ValueError(f"x must be (N, C, *spatial) with {dims} spatial dim(s) to match weight "
                         f"{tuple(weight.shape)}, got shape {tuple(x.shape)}")
    if x.dtype != weight.dtype:
        raise TypeError(f"x and weight must have the same dtype, got {x.dtype} and {weight.dtype}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but weight expects {weight.shape[1]} "
                         f"(weight shape {tuple(weight.shape)})")
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != weight.shape[:1]):
        raise ValueError(f"bias must be a tensor of shape ({weight.shape[0]},) or None")
    kernel = tuple(weight.shape[2:])
    stride = _int_tuple(stride, dims, "stride", 1)
    dilation = _int_tuple(dilation, dims, "dilation", 1)
    pads = _paddings(padding, kernel, stride, dilation)

    # zero padding; F.pad takes (left, right) pairs starting from the last axis
    flat_pads = [p for pair in reversed(pads) for p in pair]
    if any(flat_pads):
        x = F.pad(x, flat_pads)
    # im2col, channels last: window i of axis a covers x_pad[S·i : S·i + D·(K − 1) + 1 : D]
    windows = x.movedim(1, -1)  # (N, *spatial, C)
    for axis, (k, s, d) in enumerate(zip(kernel, stride, dilation, strict=True)):
        span = d * (k - 1) + 1
        if windows.shape[1 + axis] < span:
            raise ValueError(
                f"the (padded) input is {windows.shape[1 + axis]} long on spatial axis {axis}, "
                f"shorter than the dilated kernel ({span}); pad it or use a smaller kernel"
            )
        windows = windows.unfold(1 + axis, span, s)  # appends a window axis of length span
    if any(d > 1 for d in dilation):
        windows = windows[(..., *(slice(None, None, d) for d in dilation))]
    # windows: (N, *out, C, *kernel) → rows (N·∏out, C·∏kernel) @ (C·∏kernel, C_out)
    n, out, c = windows.shape[0], windows.shape[1 : 1 + dims], windows.shape[1 + dims]
    rows = windows.reshape(-1, c * math.prod(kernel))
    result = rows @ weight.reshape(weight.shape[0], -1).T
    if bias is not None:
        result = result + bias
    result = result.reshape(n, *out, weight.shape[0]).movedim(-1, 1)
    return result.squeeze(0) if unbatched else result


def convolution(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
) -> torch.Tensor:
    """True (kernel-flipped) convolution s(i) = Σ_m x(i − m) w(m): the cross-correlation with
    ``weight`` flipped along every spatial axis. Same arguments as ``cross_correlation``;
    ``padding="full"`` gives the full convolution of length L + K − 1 (scipy's ``mode="full"``),
    ``padding="valid"`` scipy's ``mode="valid"``."""
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() < 3:
        raise ValueError(f"weight must be (C_out, C_in, *kernel), got shape {tuple(weight.shape)}")
    flipped = weight.flip(dims=tuple(range(2, weight.dim())))
    return cross_correlation(x, flipped, bias, stride, padding, dilation)


def _with_spatial_dims(function, dims: int, name: str):
    def specialised(x, weight, bias=None, stride=1, padding=0, dilation=1):
        if isinstance(weight, torch.Tensor) and weight.dim() != dims + 2:
            raise ValueError(f"{name}: weight must be {dims + 2}-D (C_out, C_in, "
                             f"{'K' if dims == 1 else 'Kh, Kw'}), got shape {tuple(weight.shape)}")
        return function(x, weight, bias, stride, padding, dilation)

    specialised.__name__ = specialised.__qualname__ = name
    return specialised


cross_correlation1d = _with_spatial_dims(cross_correlation, 1, "cross_correlation1d")
cross_correlation1d.__doc__ = """1-D cross-correlation s(i) = Σ_m x(i + m) w(m); equals
``torch.nn.functional.conv1d``. x: (N, C_in, L); weight: (C_out, C_in, K). See
``cross_correlation`` for stride, padding, dilation."""
cross_correlation2d = _with_spatial_dims(cross_correlation, 2, "cross_correlation2d")
cross_correlation2d.__doc__ = """2-D cross-correlation s(i, j) = Σ_m Σ_n x(i + m, j + n) w(m, n);
equals ``torch.nn.functional.conv2d``. x: (N, C_in, H, W); weight: (C_out, C_in, Kh, Kw)."""
convolution1d = _with_spatial_dims(convolution, 1, "convolution1d")
convolution1d.__doc__ = """1-D convolution s(i) = Σ_m x(i − m) w(m) (kernel flipped); with
``padding="full"`` equals ``scipy.signal.convolve`` on one channel."""
convolution2d = _with_spatial_dims(convolution, 2, "convolution2d")
convolution2d.__doc__ = """2-D convolution s(i, j) = Σ_m Σ_n x(i − m, j − n) w(m, n) (kernel
flipped); with ``padding="full"`` equals ``scipy.signal.convolve2d`` on one channel."""


class _ConvNd(nn.Module):
    dims = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, flip_kernel: bool = False, *,
                 device=None, dtype=None, rng: torch.Generator | None = None):
        super().__init__()
        in_channels = checks.positive_int(in_channels, "in_channels")
        out_channels = checks.positive_int(out_channels, "out_channels")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _int_tuple(kernel_size, self.dims, "kernel_size", 1)
        self.stride = _int_tuple(stride, self.dims, "stride", 1)
        self.dilation = _int_tuple(dilation, self.dims, "dilation", 1)
        _paddings(padding, self.kernel_size, self.stride, self.dilation)  # validates
        self.padding = padding
        self.flip_kernel = bool(flip_kernel)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size,
                                               **factory))
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: torch.Generator | None = None) -> None:
        """torch's default: w, b ~ U(−1/√fan_in, 1/√fan_in) (Kaiming-uniform with a = √5)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=rng)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
            nn.init.uniform_(self.bias, -bound, bound, generator=rng)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        function = convolution if self.flip_kernel else cross_correlation
        return function(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}, dilation={self.dilation}, "
                f"bias={self.bias is not None}, flip_kernel={self.flip_kernel}")


class Conv1d(_ConvNd):
    """1-D convolution layer (our im2col implementation) on (N, C_in, L) → (N, C_out, L_out).

    Cross-correlation by default (``torch.nn.Conv1d``'s operation, same parameter names and
    initialization, so state_dicts load either way); ``flip_kernel=True`` makes it the true
    convolution s(i) = Σ_m x(i − m) w(m).
    """

    dims = 1


class Conv2d(_ConvNd):
    """2-D convolution layer (our im2col implementation) on (N, C_in, H, W).

    Cross-correlation s(i, j) = Σ_m Σ_n x(i + m, j + n) w(m, n) by default (as
    ``torch.nn.Conv2d``, same parameter names and initialization); ``flip_kernel=True`` flips
    the kernel: s(i, j) = Σ_m Σ_n x(i − m, j − n) w(m, n).
    """

    dims = 2
