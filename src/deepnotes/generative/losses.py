"""The seven GAN losses of the course, with correct signs.

Every loss is *minimized* by the player it belongs to. Notation (the course's table):
x ~ p_d a real batch, x̂ = G(z) ~ p_g a generated batch, D the discriminator.

What ``D`` outputs depends on the loss:

- minimax (MM), non-saturating (NS), DRAGAN: a **logit** ℓ, with D(x) = σ(ℓ) the probability
  that x is real. Working on logits keeps log D = −softplus(−ℓ) and log(1 − D) = −softplus(ℓ)
  finite where σ saturates;
- WGAN, WGAN-GP: the critic's real-valued score f_w(x);
- LSGAN: a real-valued score (no sigmoid);
- BEGAN: an auto-encoder's reconstruction AE(x), same shape as x.

| loss | L_D (discriminator / critic) | L_G (generator) |
|---|---|---|
| MM | −E log D(x) − E log(1 − D(x̂)) | E log(1 − D(x̂)) |
| NS | same as MM | −E log D(x̂) |
| WGAN | −E D(x) + E D(x̂), weights clipped to [−c, c] | −E D(x̂) |
| WGAN-GP | L_D^WGAN + λ E_x̃ (‖∇D(x̃)‖₂ − 1)², x̃ = εx + (1 − ε)x̂ | −E D(x̂) |
| LSGAN | E (D(x) − 1)² + E D(x̂)² | E (D(x̂) − 1)² |
| DRAGAN | L_D^GAN + λ E_{x̃ ~ p_d + N(0, c²)} (‖∇D(x̃)‖₂ − 1)² | −E log D(x̂) (NS) |
| BEGAN | L(x) − k_t L(x̂), L(v) = ‖v − AE(v)‖₁ | L(x̂) |

Corrections to the course's table (the code is right):

- **LSGAN**: the table writes L_D = −E (D(x) − 1)² + E D(x̂)² and L_G = −E (D(x̂) − 1)². With
  those signs the discriminator would push D(x) *away* from its target 1 and the generator
  would push D(x̂) away from 1. Mao et al. (2017, eq. 2 with a = 0, b = c = 1) minimize
  E (D(x) − 1)² + E D(x̂)² and E (D(x̂) − 1)²: both terms positive. (Mao et al. put a factor ½
  in front; we keep the course's scale.)
- **WGAN formulation**: the notes write min_w max_θ E f_w(x) − E f_w(G_θ(z)). The critic
  (weights w) *maximizes* the difference and the generator (θ) minimizes it:
  min_θ max_w E f_w(x) − E f_w(G_θ(z)).
- **DRAGAN**: the table adds the penalty to L_D^WGAN; Kodali et al. (2017) add it to the
  cross-entropy loss L_D^GAN with a sigmoid discriminator, as here (``base="wgan"`` gives the
  table's literal form). The table's generator loss E log(1 − D(x̂)) is the saturating one;
  DRAGAN's reference code trains the generator with the non-saturating loss, our default
  (``saturating=True`` gives the table's).
- **Gradient penalties** are computed per example: one interpolation coefficient εᵢ ~ U[0, 1]
  per example and the norm ‖∇ₓ D(x̃ᵢ)‖₂ of each example's own input gradient, then averaged.
  Drawing one ε for the whole batch, or taking one norm over the whole batch's gradient, is a
  different (wrong) penalty.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core import checks

# ---------------------------------------------------------------------------------------------
# checks


def _scores(values: torch.Tensor, argument: str) -> torch.Tensor:
    """Discriminator outputs as a 1-D tensor: accept (N,) or (N, 1).

    NaN outputs are not refused here: they make the loss NaN, which the trainer's guard reports
    with the step and the kept checkpoint."""
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{argument} must be a tensor, got {type(values).__name__}")
    checks.tensor(values, argument, floating=True)
    if values.dim() == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"{argument} must have shape (N,) or (N, 1) with N > 0, got "
                         f"{tuple(values.shape)}")
    return values


def _batch(values: torch.Tensor, argument: str) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{argument} must be a tensor, got {type(values).__name__}")
    checks.tensor(values, argument, floating=True)
    if values.dim() < 2 or len(values) == 0:
        raise ValueError(f"{argument} must be a batch of shape (N, ...) with N > 0 and at "
                         f"least 2 dimensions, got {tuple(values.shape)}")
    return values


def _gamma(gamma: float) -> float:
    """BEGAN's diversity ratio γ = E L(G(z)) / E L(x) ∈ (0, 1] (Berthelot et al. 2017, §3.3)."""
    gamma = checks.positive_number(gamma, "gamma")
    if gamma > 1.0:
        raise ValueError(f"gamma must be in (0, 1] (the diversity ratio), got {gamma}")
    return gamma


# ---------------------------------------------------------------------------------------------
# minimax and non-saturating (D outputs logits, D(x) = σ(ℓ))


def minimax_discriminator_loss(real_logits: torch.Tensor,
                               fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = −E_{x~p_d} log D(x) − E_{x̂~p_g} log(1 − D(x̂)), the negative value function −V(D, G).

    ``real_logits`` = ℓ(x), ``fake_logits`` = ℓ(x̂), D = σ(ℓ). Computed as
    E softplus(−ℓ(x)) + E softplus(ℓ(x̂)). Shared by MM and NS (and DRAGAN's base).
    """
    real_logits = _scores(real_logits, "real_logits")
    fake_logits = _scores(fake_logits, "fake_logits")
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_G^MM = E_{x̂~p_g} log(1 − D(x̂)) = −E softplus(ℓ(x̂)) (the generator's side of min_G max_D V).

    Its gradient in ℓ is −σ(ℓ) = −D(x̂): it vanishes when D confidently rejects the fakes.
    """
    return -F.softplus(_scores(fake_logits, "fake_logits")).mean()


nonsaturating_discriminator_loss = minimax_discriminator_loss


def labeled_discriminator_loss(logits: torch.Tensor, is_real: torch.Tensor) -> torch.Tensor:
    """L_D of ``minimax_discriminator_loss`` for a mixed batch: ``is_real`` (N,) marks the rows
    drawn from p_d (1) and from p_g (0); each group is averaged separately, so the minimizer is
    D* = p_d/(p_d + p_g) whatever the mix. Usable as ``engine.fit``'s ``loss_fn(output, y)``."""
    logits = _scores(logits, "logits")
    if not isinstance(is_real, torch.Tensor) or is_real.shape != logits.shape:
        raise ValueError(f"is_real must be a tensor of shape {tuple(logits.shape)}")
    real = is_real.bool()
    if real.all() or not real.any():
        raise ValueError("is_real must mark at least one real and one generated example")
    return minimax_discriminator_loss(logits[real], logits[~real])


def nonsaturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_G^NS = −E_{x̂~p_g} log D(x̂) = E softplus(−ℓ(x̂)).

    Its gradient in ℓ is −(1 − D(x̂)): strong exactly when D rejects the fakes.
    """
    return F.softplus(-_scores(fake_logits, "fake_logits")).mean()


# ---------------------------------------------------------------------------------------------
# Wasserstein (critic scores f_w)


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """L_D^WGAN = −E_{x~p_d} f_w(x) + E_{x̂~p_g} f_w(x̂).

    Minimizing it maximizes E f_w(x) − E f_w(x̂), the Kantorovich–Rubinstein estimate of
    W(p_d, p_g) when f_w is 1-Lipschitz: min_θ max_w (the notes' min_w max_θ is swapped).
    """
    return -_scores(real_scores, "real_scores").mean() + _scores(fake_scores, "fake_scores").mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """L_G^WGAN = −E_{x̂~p_g} f_w(x̂) (also WGAN-GP's generator loss)."""
    return -_scores(fake_scores, "fake_scores").mean()


def clip_weights(module: nn.Module, clip: float = 0.01) -> None:
    """WGAN's Lipschitz constraint: w ← clip(w, −c, c) for every parameter, c = ``clip``."""
    checks.module(module, "module")
    clip = checks.positive_number(clip, "clip")
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.clamp_(-clip, clip)


# ---------------------------------------------------------------------------------------------
# gradient penalties


def input_gradient_norms(discriminator: nn.Module, points: torch.Tensor) -> torch.Tensor:
    """‖∇ₓ D(xᵢ)‖₂ for each example i of ``points`` (N, ...): a tensor of N norms.

    Because examples do not interact in D, ∇ of Σᵢ D(xᵢ) with respect to the batch holds each
    example's own gradient in its row; the norm is taken over each row separately. The graph is
    kept (``create_graph``) so a penalty on these norms trains D.
    """
    points = _batch(points, "points")
    if not points.requires_grad:
        points = points.detach().requires_grad_(True)
    scores = discriminator(points)
    (gradient,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
    return gradient.flatten(1).norm(dim=1)


def interpolate(
    real: torch.Tensor, fake: torch.Tensor, *, rng: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """x̃ᵢ = εᵢ xᵢ + (1 − εᵢ) x̂ᵢ with one εᵢ ~ U[0, 1] **per example**; returns (x̃, ε)."""
    real, fake = _batch(real, "real"), _batch(fake, "fake")
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    shape = (len(real),) + (1,) * (real.dim() - 1)
    epsilon = torch.rand(shape, generator=rng, device=real.device, dtype=real.dtype)
    return epsilon * real.detach() + (1 - epsilon) * fake.detach(), epsilon.reshape(-1)


def gradient_penalty(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    rng: torch.Generator | None = None,
    target: float = 1.0,
) -> torch.Tensor:
    """WGAN-GP's penalty E_x̃ (‖∇D(x̃)‖₂ − 1)², x̃ = εx + (1 − ε)x̂, without the factor λ.

    One εᵢ ~ U[0, 1] per example (drawn from ``rng``), and each example's own gradient
    norm; ``target`` is the norm the penalty pulls toward (1 for 1-Lipschitz).
    """
    target = checks.nonnegative_number(target, "target")
    points, _ = interpolate(real, fake, rng=rng)
    return ((input_gradient_norms(discriminator, points) - target) ** 2).mean()


def dragan_penalty(
    discriminator: nn.Module,
    real: torch.Tensor,
    *,
    noise_std: float | None = None,
    rng: torch.Generator | None = None,
    target: float = 1.0,
) -> torch.Tensor:
    """DRAGAN's penalty E_{x̃ ~ p_d + N(0, c²)} (‖∇D(x̃)‖₂ − 1)², without the factor λ.

    x̃ = x + c·ξ, ξ ~ N(0, I): the penalty acts in a neighbourhood of the data. ``noise_std`` = c
    (default: half the standard deviation of the real batch, the scale of the authors' code).
    """
    real = _batch(real, "real")
    target = checks.nonnegative_number(target, "target")
    if noise_std is None:
        noise_std = 0.5 * float(real.detach().std())
    else:
        noise_std = checks.positive_number(noise_std, "noise_std")
    noise = torch.randn(real.shape, generator=rng, device=real.device, dtype=real.dtype)
    points = real.detach() + noise_std * noise
    return ((input_gradient_norms(discriminator, points) - target) ** 2).mean()


# ---------------------------------------------------------------------------------------------
# least squares


def least_squares_discriminator_loss(real_scores: torch.Tensor,
                                     fake_scores: torch.Tensor) -> torch.Tensor:
    """L_D^LSGAN = E_{x~p_d} (D(x) − 1)² + E_{x̂~p_g} D(x̂)² (the notes' first minus sign is a
    typo)."""
    real_scores = _scores(real_scores, "real_scores")
    fake_scores = _scores(fake_scores, "fake_scores")
    return ((real_scores - 1) ** 2).mean() + (fake_scores**2).mean()


def least_squares_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """L_G^LSGAN = E_{x̂~p_g} (D(x̂) − 1)² (the notes' minus sign is a typo)."""
    return ((_scores(fake_scores, "fake_scores") - 1) ** 2).mean()


# ---------------------------------------------------------------------------------------------
# BEGAN (D is an auto-encoder)


def autoencoder_l1(inputs: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """L(v) = ‖v − AE(v)‖₁ per example, as the mean over its coordinates: a tensor of N values."""
    inputs = _batch(inputs, "inputs")
    if reconstructions.shape != inputs.shape:
        raise ValueError(f"reconstructions must have the inputs' shape {tuple(inputs.shape)}, got "
                         f"{tuple(reconstructions.shape)}: BEGAN's discriminator is an "
                         "auto-encoder")
    return (inputs - reconstructions).abs().flatten(1).mean(dim=1)


def began_discriminator_loss(real_l1: torch.Tensor, fake_l1: torch.Tensor,
                             k: float) -> torch.Tensor:
    """L_D^BEGAN = E L(x) − k_t E L(x̂), with ``real_l1`` = L(x), ``fake_l1`` = L(x̂), ``k`` = k_t."""
    if not 0.0 <= float(k) <= 1.0:
        raise ValueError(f"k must lie in [0, 1], got {k!r}")
    return real_l1.mean() - float(k) * fake_l1.mean()


def began_generator_loss(fake_l1: torch.Tensor) -> torch.Tensor:
    """L_G^BEGAN = E L(x̂): the generator wants its samples reconstructed well."""
    return fake_l1.mean()


def began_update_k(k: float, real_l1: float, fake_l1: float, gamma: float = 0.5,
                   lambda_k: float = 0.001) -> float:
    """k_{t+1} = clip(k_t + λ_k (γ L(x) − L(x̂)), 0, 1): the proportional control keeping
    E L(x̂) = γ E L(x); γ = ``gamma`` (the diversity ratio), λ_k = ``lambda_k``."""
    gamma = _gamma(gamma)
    lambda_k = checks.positive_number(lambda_k, "lambda_k")
    k = checks.probability(k, "k")
    real_l1 = checks.nonnegative_number(real_l1, "real_l1")
    fake_l1 = checks.nonnegative_number(fake_l1, "fake_l1")
    return min(1.0, max(0.0, float(k) + lambda_k * (gamma * float(real_l1) - float(fake_l1))))


def began_convergence(real_l1: float, fake_l1: float, gamma: float = 0.5) -> float:
    """BEGAN's convergence measure M_global = L(x) + |γ L(x) − L(x̂)|."""
    gamma = _gamma(gamma)
    real_l1 = checks.nonnegative_number(real_l1, "real_l1")
    fake_l1 = checks.nonnegative_number(fake_l1, "fake_l1")
    return float(real_l1) + abs(gamma * float(real_l1) - float(fake_l1))


# ---------------------------------------------------------------------------------------------
# thin objects: one interface for the trainer


class GANLoss:
    """A GAN loss as the trainer sees it.

    ``discriminator_loss(D, real, fake, rng)`` returns (L_D, stats) for one discriminator
    step; ``generator_loss(D, fake)`` returns (L_G, stats); hooks run after each step;
    ``state_dict``/``load_state_dict`` carry state that must survive a checkpoint (BEGAN's k_t).
    ``default_k`` is the number of discriminator steps per generator step; ``output_like_input``
    says D must return a tensor shaped like its input (BEGAN's auto-encoder).
    """

    name = "gan"
    default_k = 1
    output_like_input = False

    def discriminator_loss(self, discriminator, real, fake, rng=None):
        raise NotImplementedError

    def generator_loss(self, discriminator, fake):
        raise NotImplementedError

    def after_discriminator_step(self, discriminator: nn.Module) -> None:
        """Called after each discriminator update (WGAN clips weights here)."""

    def after_generator_step(self) -> dict[str, float]:
        """Called after each generator update; returns numbers to log (BEGAN's k_t)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MinimaxLoss(GANLoss):
    """The original minimax game: L_D = −V(D, G), L_G = E log(1 − D(x̂))."""

    name = "mm"

    def discriminator_loss(self, discriminator, real, fake, rng=None):
        real_logits, fake_logits = discriminator(real), discriminator(fake)
        loss = minimax_discriminator_loss(real_logits, fake_logits)
        return loss, {"d_real": torch.sigmoid(real_logits.detach()).mean(),
                      "d_fake": torch.sigmoid(fake_logits.detach()).mean()}

    def generator_loss(self, discriminator, fake):
        return minimax_generator_loss(discriminator(fake)), {}


class NonSaturatingLoss(MinimaxLoss):
    """Same discriminator as minimax; generator minimizes −E log D(x̂)."""

    name = "ns"

    def generator_loss(self, discriminator, fake):
        return nonsaturating_generator_loss(discriminator(fake)), {}


class WassersteinLoss(GANLoss):
    """WGAN: critic loss −E f(x) + E f(x̂), weights clipped to [−c, c] after each critic step;
    generator loss −E f(x̂). Arjovsky et al.'s defaults (the trainer's when ``loss="wgan"``):
    RMSProp with α = 5e-5, c = 0.01, m = 64, n_critic = 5."""

    name = "wgan"
    default_k = 5

    def __init__(self, clip: float = 0.01):
        self.clip = checks.positive_number(clip, "clip")

    def discriminator_loss(self, discriminator, real, fake, rng=None):
        real_scores, fake_scores = discriminator(real), discriminator(fake)
        loss = wasserstein_critic_loss(real_scores, fake_scores)
        return loss, {"wasserstein": -loss.detach()}

    def generator_loss(self, discriminator, fake):
        return wasserstein_generator_loss(discriminator(fake)), {}

    def after_discriminator_step(self, discriminator):
        clip_weights(discriminator, self.clip)

    def __repr__(self) -> str:
        return f"WassersteinLoss(clip={self.clip})"


class WassersteinGPLoss(GANLoss):
    """WGAN-GP: L_D^WGAN + λ E (‖∇D(x̃)‖₂ − 1)², per-example ε and norms; λ = ``lam`` = 10;
    n_critic = 5 by default (Gulrajani et al.)."""

    name = "wgan-gp"
    default_k = 5

    def __init__(self, lam: float = 10.0):
        self.lam = checks.positive_number(lam, "lam")

    def discriminator_loss(self, discriminator, real, fake, rng=None):
        real_scores, fake_scores = discriminator(real), discriminator(fake)
        distance = wasserstein_critic_loss(real_scores, fake_scores)
        penalty = gradient_penalty(discriminator, real, fake, rng=rng)
        return distance + self.lam * penalty, {"wasserstein": -distance.detach(),
                                               "penalty": penalty.detach()}

    def generator_loss(self, discriminator, fake):
        return wasserstein_generator_loss(discriminator(fake)), {}

    def __repr__(self) -> str:
        return f"WassersteinGPLoss(lam={self.lam})"


class LeastSquaresLoss(GANLoss):
    """LSGAN with targets a = 0 (fake), b = 1 (real), c = 1 (what G wants): corrected signs."""

    name = "lsgan"

    def discriminator_loss(self, discriminator, real, fake, rng=None):
        return least_squares_discriminator_loss(discriminator(real), discriminator(fake)), {}

    def generator_loss(self, discriminator, fake):
        return least_squares_generator_loss(discriminator(fake)), {}


class DraganLoss(GANLoss):
    """DRAGAN: L_D^GAN + λ E_{x̃ ~ p_d + N(0, c²)} (‖∇D(x̃)‖₂ − 1)², λ = ``lam`` = 10,
    c = ``noise_std``; generator non-saturating unless ``saturating``. ``base="wgan"`` uses the
    table's literal L_D^WGAN instead of the cross-entropy."""

    name = "dragan"

    def __init__(self, lam: float = 10.0, noise_std: float | None = None,
                 saturating: bool = False, base: str = "gan"):
        self.lam = checks.positive_number(lam, "lam")
        self.noise_std = (None if noise_std is None
                          else checks.positive_number(noise_std, "noise_std"))
        if base not in ("gan", "wgan"):
            raise ValueError(f"base must be 'gan' or 'wgan', got {base!r}")
        self.saturating, self.base = bool(saturating), base

    def discriminator_loss(self, discriminator, real, fake, rng=None):
        real_out, fake_out = discriminator(real), discriminator(fake)
        if self.base == "gan":
            base = minimax_discriminator_loss(real_out, fake_out)
        else:
            base = wasserstein_critic_loss(real_out, fake_out)
        penalty = dragan_penalty(discriminator, real, noise_std=self.noise_std, rng=rng)
        return base + self.lam * penalty, {"penalty": penalty.detach()}

    def generator_loss(self, discriminator, fake):
        logits = discriminator(fake)
        if self.base == "wgan":
            return wasserstein_generator_loss(logits), {}
        if self.saturating:
            return minimax_generator_loss(logits), {}
        return nonsaturating_generator_loss(logits), {}

    def __repr__(self) -> str:
        return (f"DraganLoss(lam={self.lam}, noise_std={self.noise_std}, "
                f"saturating={self.saturating}, base={self.base!r})")


class BeganLoss(GANLoss):
    """BEGAN: D is an auto-encoder, L(v) = ‖v − AE(v)‖₁. L_D = L(x) − k_t L(x̂), L_G = L(x̂);
    after each generator step k_{t+1} = clip(k_t + λ_k (γ L(x) − L(x̂)), 0, 1), with L(x) from
    the last discriminator step and L(x̂) from the generator step. Logs k_t and
    M_global = L(x) + |γ L(x) − L(x̂)|. γ = ``gamma``, λ_k = ``lambda_k``, k_0 = ``k``."""

    name = "began"
    output_like_input = True

    def __init__(self, gamma: float = 0.5, lambda_k: float = 0.001, k: float = 0.0):
        self.gamma = _gamma(gamma)
        self.lambda_k = checks.positive_number(lambda_k, "lambda_k")
        if not 0.0 <= float(k) <= 1.0:
            raise ValueError(f"k must lie in [0, 1], got {k!r}")
        self.k = float(k)
        self._real_l1 = self._fake_l1 = 0.0

    def discriminator_loss(self, discriminator, real, fake, rng=None):
        real_l1 = autoencoder_l1(real, discriminator(real))
        fake_l1 = autoencoder_l1(fake, discriminator(fake))
        self._real_l1 = real_l1.detach().mean()
        return began_discriminator_loss(real_l1, fake_l1, self.k), {"real_l1": self._real_l1}

    def generator_loss(self, discriminator, fake):
        fake_l1 = autoencoder_l1(fake, discriminator(fake))
        self._fake_l1 = fake_l1.detach().mean()
        return began_generator_loss(fake_l1), {"fake_l1": self._fake_l1}

    def after_generator_step(self) -> dict[str, float]:
        real_l1, fake_l1 = float(self._real_l1), float(self._fake_l1)
        if not math.isfinite(real_l1 + fake_l1):  # k stays; the trainer's NaN guard stops here
            return {"k": self.k, "convergence": math.nan}
        self.k = began_update_k(self.k, real_l1, fake_l1, self.gamma, self.lambda_k)
        return {"k": self.k, "convergence": began_convergence(real_l1, fake_l1, self.gamma)}

    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k = float(state["k"])

    def __repr__(self) -> str:
        return f"BeganLoss(gamma={self.gamma}, lambda_k={self.lambda_k}, k={self.k})"


LOSSES: dict[str, type[GANLoss]] = {
    "mm": MinimaxLoss,
    "ns": NonSaturatingLoss,
    "wgan": WassersteinLoss,
    "wgan-gp": WassersteinGPLoss,
    "lsgan": LeastSquaresLoss,
    "dragan": DraganLoss,
    "began": BeganLoss,
}


def make_loss(loss: str | GANLoss, **options: Any) -> GANLoss:
    """A ``GANLoss`` by name (``mm``, ``ns``, ``wgan``, ``wgan-gp``, ``lsgan``, ``dragan``,
    ``began``) with its options (``clip``, ``lam``, ``gamma``, ...), or ``loss`` itself."""
    if isinstance(loss, GANLoss):
        if options:
            raise ValueError("loss options are only accepted with a loss name")
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a GANLoss, got {loss!r}")
    try:
        return LOSSES[loss](**options)
    except TypeError as err:
        raise TypeError(f"loss {loss!r}: bad option ({err})") from err
