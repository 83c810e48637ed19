"""Argument checks shared by every package: one clear error naming the argument.

Each function takes the value and the argument's ``name`` and returns the value in its
canonical form (a Python ``int`` / ``float``), or raises ``TypeError`` (wrong kind of value)
or ``ValueError`` (right kind, wrong value) whose message names the argument, shows the value
and says what was expected.

Counts accept anything ``operator.index`` accepts (``int``, ``np.int64``, a 0-d integer
tensor) but not ``bool``. Real numbers accept ``int``/``float``/NumPy scalars and 0-d tensors,
never ``bool``, and are refused when NaN or infinite unless ``finite=False``.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = [
    "choice",
    "finite_tensor",
    "int_at_least",
    "integer",
    "nonnegative_int",
    "nonnegative_number",
    "positive_int",
    "positive_number",
    "probability",
    "real",
    "tensor",
    "unit_interval",
]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(value: Any, name: str) -> int:
    """Any integer (``int``, NumPy integer, 0-d integer tensor; not ``bool``) as an ``int``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got the bool {value!r}")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dim() != 0 or value.is_floating_point():
            raise TypeError(f"{name} must be an int, got a tensor of shape {tuple(value.shape)} "
                            f"and dtype {value.dtype}")
        return int(value.item())
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} "
                        f"{_describe(value)}") from None


def positive_int(value: Any, name: str) -> int:
    """An integer ≥ 1."""
    result = integer(value, name)
    if result < 1:
        raise ValueError(f"{name} must be a positive int, got {result}")
    return result


def nonnegative_int(value: Any, name: str) -> int:
    """An integer ≥ 0."""
    result = integer(value, name)
    if result < 0:
        raise ValueError(f"{name} must be an int >= 0, got {result}")
    return result



def real(value: Any, name: str, *, finite: bool = True) -> float:
    """A real number as a ``float``; NaN is always refused, ±inf unless ``finite=False``."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dim() != 0 or value.is_complex():
            raise TypeError(f"{name} must be a real number, got a tensor of shape "
                            f"{tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} "
                        f"{_describe(value)}")
    result = float(value)
    if math.isnan(result):
        raise ValueError(f"{name} must be a number, got NaN")
    if finite and math.isinf(result):
        raise ValueError(f"{name} must be finite, got {result}")
    return result


def positive_number(value: Any, name: str) -> float:
    """A finite real number > 0."""
    result = real(value, name)
    if result <= 0:
        raise ValueError(f"{name} must be > 0, got {result}")
    return result


def nonnegative_number(value: Any, name: str) -> float:
    """A finite real number ≥ 0."""
    result = real(value, name)
    if result < 0:
        raise ValueError(f"{name} must be >= 0, got {result}")
    return result


def probability(value: Any, name: str) -> float:
    """A real number in the closed interval [0, 1]."""
    result = real(value, name)
    if not 0.0 <= result <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {result}")
    return result


def unit_interval(value: Any, name: str) -> float:
    """A real number in [0, 1): a decay rate β, ρ, a momentum α."""
    result = real(value, name)
    if not 0.0 <= result < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {result}")
    return result


def choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """One of ``choices`` (compared with ``==``)."""
    options = list(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; "
                         f"got {_describe(value)}")
    return value


def tensor(value: Any, name: str, *, ndim: int | Sequence[int] | None = None,
           floating: bool | None = None, finite: bool = False) -> torch.Tensor:
    """A ``torch.Tensor`` with ``ndim`` dimensions (an int or a set of allowed ones), a
    floating-point (``floating=True``) or integer (``False``) dtype, and finite entries when
    ``finite``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in allowed:
            expected = " or ".join(str(d) for d in allowed)
            raise ValueError(f"{name} must have {expected} dimension(s), got shape "
                             f"{tuple(value.shape)}")
    if floating is True and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if floating is False and (value.is_floating_point() or value.is_complex()
                              or value.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor, got dtype {value.dtype}")
    if finite and value.is_floating_point() and value.numel() and not bool(
            torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return value


def finite_tensor(value: Any, name: str, *, ndim: int | Sequence[int] | None = None
                  ) -> torch.Tensor:
    """A floating-point tensor without NaN or Inf (and ``ndim`` dimensions when given)."""
    return tensor(value, name, ndim=ndim, floating=True, finite=True)


def int_at_least(value: Any, name: str, minimum: int) -> int:
    """An integer ≥ ``minimum`` (e.g. a sample count that a standard error needs)."""
    result = integer(value, name)
    if result < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {result}")
    return result


# ---------------------------------------------------------------------------------------------
# objects, shapes and labels (issue #13: one clear error at every entry point)

__all__ += ["betas", "class_labels", "dims", "function", "generator", "module", "same_length",
            "same_rows", "same_shape", "sequence"]


def function(value: Any, name: str, signature: str = "") -> Any:
    """A callable; ``signature`` (e.g. ``"f(x) -> scalar tensor"``) says what is expected."""
    if not callable(value):
        expected = f" {signature}" if signature else ""
        raise TypeError(f"{name} must be a callable{expected}, got {type(value).__name__} "
                        f"{_describe(value)}")
    return value


def module(value: Any, name: str) -> torch.nn.Module:
    """A ``torch.nn.Module``."""
    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__} "
                        f"{_describe(value)}")
    return value


def generator(value: Any, name: str = "rng") -> torch.Generator | None:
    """None or a ``torch.Generator`` (the ``rng`` argument of every random draw)."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(value).__name__}")
    return value


def sequence(value: Any, name: str) -> list:
    """A list, tuple or other iterable of items (not a string, a number or a 0-d tensor), as a
    list."""
    if (isinstance(value, (str, bytes)) or not isinstance(value, Iterable)
            or (isinstance(value, torch.Tensor) and value.dim() == 0)):
        raise TypeError(f"{name} must be a list or tuple, got {type(value).__name__} "
                        f"{_describe(value)}")
    return list(value)


def dims(value: Any, name: str) -> tuple[int, ...]:
    """A shape: one positive integer (NumPy and 0-d tensors too) or a sequence of them."""
    try:
        return (positive_int(value, name),)
    except TypeError:
        pass
    if not isinstance(value, (list, tuple, torch.Size)) or not value:
        raise TypeError(f"{name} must be a positive int or a non-empty tuple of them, got "
                        f"{type(value).__name__} {_describe(value)}")
    return tuple(positive_int(v, name) for v in value)


def betas(value: Any, name: str = "betas") -> tuple[float, float]:
    """Adam's (β₁, β₂): a pair of numbers in [0, 1)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {_describe(value)}")
    return (unit_interval(value[0], f"{name}[0] (beta1)"),
            unit_interval(value[1], f"{name}[1] (beta2)"))


def same_length(a: torch.Tensor, name_a: str, b: Any, name_b: str) -> None:
    """``a`` and ``b`` hold one entry per example: the same length along dimension 0."""
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same length (one entry per "
                         f"example), got {len(a)} and {len(b)}")


def same_shape(a: torch.Tensor, name_a: str, b: torch.Tensor, name_b: str) -> None:
    """Two tensors of one shape (e.g. two densities on one grid)."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")


def same_rows(x: Any, name: str, reference: Any, reference_name: str) -> None:
    """The rows of ``x`` (its shape past dimension 0) must be shaped like ``reference``'s:
    e.g. test data with as many features as the training data."""
    rows, expected = tuple(x.shape[1:]), tuple(reference.shape[1:])
    if rows != expected:
        what = (f"{rows[0]} features, {reference_name} has {expected[0]}"
                if len(rows) == len(expected) == 1 else
                f"rows of shape {rows}, {reference_name}'s are {expected}")
        raise ValueError(f"{name} has {what}: they must match")


def class_labels(y: Any, name: str, classes: int | None = None,
                 length: int | None = None) -> torch.Tensor:
    """A 1-D integer tensor of class indices, ``length`` long and in [0, ``classes``) when
    given."""
    tensor(y, name, ndim=1, floating=False)
    if length is not None and len(y) != length:
        raise ValueError(f"{name} must have shape ({length},), one label per example, got "
                         f"{tuple(y.shape)}")
    if classes is not None and y.numel():
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= classes:
            raise ValueError(f"{name} must hold class indices in [0, {classes}), got values in "
                             f"[{low}, {high}]")
    return y


def broadcast_shapes(*shapes) -> torch.Size:
    """The shape that ``shapes`` broadcast to (NumPy's rule: align on the right; each pair of
    sizes must be equal or one of them 1); RuntimeError when they do not broadcast — as
    ``torch.broadcast_shapes``, which however imports torch.fx and sympy on its first call
    (~1 s), a cost every experiment would pay."""
    ndim = max((len(shape) for shape in shapes), default=0)
    result = [1] * ndim
    for shape in shapes:
        for offset, size in enumerate(shape, start=ndim - len(shape)):
            size = int(size)
            if size != 1:
                if result[offset] not in (1, size):
                    raise RuntimeError(f"shapes {[tuple(s) for s in shapes]} do not broadcast: "
                                       f"size {size} against {result[offset]}")
                result[offset] = size
    return torch.Size(result)
__all__ += ["broadcast_shapes"]
