"""Generated data with known truth: regression with known f and σ, 2-D Gaussian mixtures."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..core import checks
from ..core.rng import make_generator


@dataclass(frozen=True)
class RegressionData:
    """y = f(X) + ε, ε ~ N(0, σ²). ``f_x`` = f(X) (noise-free); ``coef`` and ``intercept`` are
    the truth when f is linear (else None); ``noise`` = σ; ``f`` evaluates the truth anywhere."""

    X: torch.Tensor
    y: torch.Tensor
    f_x: torch.Tensor
    noise: float
    f: Callable[[torch.Tensor], torch.Tensor]
    coef: torch.Tensor | None = None
    intercept: float | None = None


def regression(
    n: int = 200,
    d: int = 1,
    noise: float = 0.1,
    f: str | Callable[[torch.Tensor], torch.Tensor] = "linear",
    *,
    x_dist: str = "normal",
    seed: int = 0,
    rng: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> RegressionData:
    """Sample n points y_i = f(x_i) + ε_i, x_i ∈ R^d, ε_i ~ N(0, σ²) with σ = ``noise``.

    ``f``: ``"linear"`` (f(x) = xᵀa + b with a ~ N(0, I), b ~ N(0, 1), drawn from the same
    rng), ``"sin"`` (f(x) = sin(2π x₁), for 1-D complexity sweeps), or any callable
    mapping an (n, d) tensor to (n,). ``x_dist``: ``"normal"`` (N(0, I)) or ``"uniform"``
    (U[−1, 1]^d). Randomness comes from ``rng`` (or a fresh one seeded ``seed``).
    """
    n, d = checks.positive_int(n, "n"), checks.positive_int(d, "d")
    noise = checks.nonnegative_number(noise, "noise")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    rng = _generator(rng, seed)
    coef = intercept = None
    if f == "linear":
        coef = torch.randn(d, generator=rng, dtype=dtype)
        intercept = float(torch.randn((), generator=rng, dtype=dtype))
        a, b = coef.clone(), intercept
        f = lambda x: x @ a.to(x.dtype) + b  # noqa: E731
    elif f == "sin":
        f = lambda x: torch.sin(2 * math.pi * x[:, 0])  # noqa: E731
    elif not callable(f):
        raise ValueError(f"f must be 'linear', 'sin' or a callable, got {f!r}")
    if x_dist == "normal":
        X = torch.randn(n, d, generator=rng, dtype=dtype)
    elif x_dist == "uniform":
        X = torch.rand(n, d, generator=rng, dtype=dtype) * 2 - 1
    else:
        raise ValueError(f"x_dist must be 'normal' or 'uniform', got {x_dist!r}")
    f_x = f(X)
    if f_x.shape != (n,):
        raise ValueError(f"f must map an (n, d) tensor to shape (n,), got {tuple(f_x.shape)}")
    y = f_x + noise * torch.randn(n, generator=rng, dtype=dtype)
    return RegressionData(X, y, f_x, float(noise), f, coef, intercept)


@dataclass(frozen=True)
class Mixture:
    """Samples of an equal-weight 2-D Gaussian mixture, with its mode ``centers`` (K×2), the
    per-coordinate ``std``, and the mode each sample came from (``labels``)."""

    samples: torch.Tensor
    centers: torch.Tensor
    std: float
    labels: torch.Tensor


def _generator(rng, seed) -> torch.Generator:
    """``rng`` itself, or a fresh CPU generator seeded ``seed`` when it is None."""
    if rng is None:
        return make_generator(seed)
    if not isinstance(rng, torch.Generator):
        raise TypeError(f"rng must be a torch.Generator or None, got {type(rng).__name__}")
    return rng


def _mixture(n: int, centers: torch.Tensor, std: float, seed: int, rng) -> Mixture:
    n = checks.positive_int(n, "n")
    std = checks.positive_number(std, "std")
    rng = _generator(rng, seed)
    labels = torch.randint(len(centers), (n,), generator=rng)
    samples = centers[labels] + std * torch.randn(n, 2, generator=rng)
    return Mixture(samples, centers, float(std), labels)


def ring_centers(modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Mode centers (r cos 2πk/K, r sin 2πk/K), k = 0..K−1; r = ``radius`` > 0."""
    modes = checks.positive_int(modes, "modes")
    radius = checks.positive_number(radius, "radius")
    angles = 2 * math.pi * torch.arange(modes, dtype=torch.float32) / modes
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def grid_centers(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Mode centers on a side×side grid centred at 0, ``spacing`` > 0 apart (default
    {−4,−2,0,2,4}²)."""
    side = checks.positive_int(side, "side")
    spacing = checks.positive_number(spacing, "spacing")
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


def mixture_ring(
    n: int, modes: int = 8, radius: float = 1.0, std: float = 0.01, *, seed: int = 0,
    rng: torch.Generator | None = None,
) -> Mixture:
    """The PacGAN/VEEGAN ring: ``modes`` Gaussians of std ``std`` on a circle of ``radius``."""
    return _mixture(n, ring_centers(modes, radius), std, seed, rng)


def mixture_grid(
    n: int, side: int = 5, spacing: float = 2.0, std: float = 0.05, *, seed: int = 0,
    rng: torch.Generator | None = None,
) -> Mixture:
    """The PacGAN/VEEGAN grid: side² Gaussians of std ``std`` at {−4,−2,0,2,4}² by default."""
    return _mixture(n, grid_centers(side, spacing), std, seed, rng)
