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
    "count",
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


count = positive_int


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
