"""GAN theory on 1-D densities tabulated on a grid: the value function, D*, C(G) and JSD.

V(D, G) = E_{x~p_d} log D(x) + E_{x~p_g} log(1 − D(x)) = ∫ p_d log D + p_g log(1 − D) dx.
For fixed G it is maximized pointwise by D*(x) = p_d(x) / (p_d(x) + p_g(x)), and
C(G) = max_D V(D, G) = V(D*, G) = −log 4 + KL(p_d ‖ m) + KL(p_g ‖ m) = −log 4 + 2·JSD(p_d ‖ p_g),
m = (p_d + p_g)/2.

Correction to the notes: they write KL(p_d ‖ m) + KL(p_g ‖ m) = JS(p_d, p_g); the sum is
*twice* the Jensen–Shannon divergence JSD = ½ KL(p_d ‖ m) + ½ KL(p_g ‖ m) (natural log, so
0 ≤ JSD ≤ log 2 and −log 4 ≤ C(G) ≤ 0).

Integrals are Riemann sums Σ f(xᵢ) Δx on a uniform grid (``dx`` = Δx); densities are given as
their values at the grid points.
"""

from __future__ import annotations

import math

import torch

from ..core import checks


def _densities(p_d: torch.Tensor, p_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    for name, p in (("p_d", p_d), ("p_g", p_g)):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{name} must be a tensor of density values, got {type(p).__name__}")
        checks.tensor(p, name, floating=True)
        if not torch.isfinite(p).all() or (p < 0).any():
            raise ValueError(f"{name} must be finite and >= 0 everywhere")
    if p_d.shape != p_g.shape:
        raise ValueError(f"p_d and p_g must have the same shape, got {tuple(p_d.shape)} and "
                         f"{tuple(p_g.shape)}")
    return p_d, p_g


def _dx(dx: float) -> float:
    """The grid spacing Δx, a number > 0."""
    return checks.positive_number(dx, "dx")


def gaussian_density(x: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """N(x; μ, σ²) = exp(−(x − μ)²/(2σ²)) / (σ√(2π)), μ = ``mean``, σ = ``std``."""
    std = checks.positive_number(std, "std")
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def mixture_density(x: torch.Tensor, means, stds, weights=None) -> torch.Tensor:
    """Σ_k π_k N(x; μ_k, σ_k²); ``weights`` π (default equal) must sum to 1."""
    means, stds = list(means), list(stds)
    if len(means) != len(stds) or not means:
        raise ValueError("means and stds must be non-empty and of equal length")
    weights = [1 / len(means)] * len(means) if weights is None else list(weights)
    if len(weights) != len(means) or abs(sum(weights) - 1) > 1e-9 or min(weights) < 0:
        raise ValueError(f"weights must be {len(means)} non-negative numbers summing to 1")
    return sum(w * gaussian_density(x, m, s) for w, m, s in zip(weights, means, stds, strict=True))


def optimal_discriminator(p_d: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*_G(x) = p_d(x) / (p_d(x) + p_g(x)), the maximizer of V(·, G) for fixed G.

    Where both densities vanish D* is undefined (V does not depend on it there); we return ½.
    """
    p_d, p_g = _densities(p_d, p_g)
    total = p_d + p_g
    return torch.where(total > 0, p_d / total.clamp_min(torch.finfo(total.dtype).tiny),
                       torch.full_like(total, 0.5))


def _xlogy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x·log y with 0·log 0 = 0 (so points where a density vanishes contribute nothing)."""
    return torch.special.xlogy(x, y)


def value_function(discriminator: torch.Tensor, p_d: torch.Tensor, p_g: torch.Tensor,
                   dx: float) -> torch.Tensor:
    """V(D, G) = ∫ p_d(x) log D(x) + p_g(x) log(1 − D(x)) dx, with ``discriminator`` = D(x) on
    the grid (values in [0, 1])."""
    p_d, p_g = _densities(p_d, p_g)
    checks.tensor(discriminator, "discriminator", floating=True)
    if discriminator.shape != p_d.shape:
        raise ValueError(f"discriminator must have the densities' shape {tuple(p_d.shape)}, got "
                         f"{tuple(discriminator.shape)}")
    if (discriminator < 0).any() or (discriminator > 1).any():
        raise ValueError("discriminator values must lie in [0, 1] (probabilities)")
    return (_xlogy(p_d, discriminator) + _xlogy(p_g, 1 - discriminator)).sum() * _dx(dx)


def virtual_training_criterion(p_d: torch.Tensor, p_g: torch.Tensor, dx: float) -> torch.Tensor:
    """C(G) = max_D V(D, G) = V(D*_G, G); equals −log 4 + 2·JSD(p_d ‖ p_g)."""
    return value_function(optimal_discriminator(p_d, p_g), p_d, p_g, dx)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """KL(p ‖ q) = ∫ p log(p/q) dx (natural log); infinite where p > 0 = q."""
    p, q = _densities(p, q)
    return (_xlogy(p, p) - _xlogy(p, q)).sum() * _dx(dx)


def jensen_shannon_divergence(p_d: torch.Tensor, p_g: torch.Tensor, dx: float) -> torch.Tensor:
    """JSD(p_d ‖ p_g) = ½ KL(p_d ‖ m) + ½ KL(p_g ‖ m), m = (p_d + p_g)/2, in nats."""
    p_d, p_g = _densities(p_d, p_g)
    mixture = (p_d + p_g) / 2
    return 0.5 * kl_divergence(p_d, mixture, dx) + 0.5 * kl_divergence(p_g, mixture, dx)
