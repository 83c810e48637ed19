"""Autoencoders and variational autoencoders (the course's "VAE" notes; Kingma & Welling 2014).

Autoencoder: an encoder E and a decoder D trained so that x' = D(E(x)) ≈ x, e.g.
min Σᵢ ‖D(E(xᵢ)) − xᵢ‖² (the notes). It defines no distribution over x, so it is not a
generative model: decoding draws z ~ N(0, I) gives whatever D does off the codes it was
trained on (experiment ``ae-vs-vae``).

VAE: prior p(z) = N(0, I), decoder p_θ(x|z) (Bernoulli with logits D(z), or Gaussian with
mean D(z) and variance σ²), encoder q_φ(z|x) = N(μ(x), diag σ²(x)) returning (μ, log σ²).
The evidence lower bound (ELBO) of the notes,

    L(x) = E_q log p(x|z) − KL(q(z|x) ‖ p(z)) ≤ log p(x),

is estimated with the reparameterization z = μ + σ ⊙ ε, ε ~ N(0, I) (so ∇ passes through the
sample), and the closed-form Gaussian KL

    KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σⱼ (μⱼ² + σⱼ² − 1 − log σⱼ²).

The importance-weighted bound (Burda et al. 2016) with k samples zᵢ ~ q(z|x),

    L_k(x) = log (1/k) Σᵢ p(x, zᵢ) / q(zᵢ|x),   L_1 = ELBO in expectation,
    E L_k ≤ E L_{k+1} ≤ log p(x),  L_k → log p(x) as k → ∞,

is computed with logsumexp over chunks of samples (memory O(chunk × N × D), not O(k × N × D)).

Per-example log-likelihoods: ``bernoulli_log_likelihood`` and ``gaussian_log_likelihood`` are
the per-example sums of ``deepnotes.losses.bernoulli_nll`` / ``gaussian_nll`` (which return the
mean over all entries): a VAE needs one number per example and per latent sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ..core import checks
from ..core.checks import positive_int
from ..nn.activations import make_activation
from ..nn.models import MLP

__all__ = [
    "DIGITS", "ELBO", "ELBO_METRICS", "LIKELIHOODS", "MNIST", "Autoencoder", "GaussianEncoder",
    "MLPDecoder", "NegativeELBO",
    "ReconstructionLoss", "VAE", "bernoulli_log_likelihood", "gaussian_kl",
    "gaussian_log_likelihood", "mlp_autoencoder", "mlp_vae", "standard_normal_log_density",
]

LIKELIHOODS = ("bernoulli", "gaussian")
_LOG_2PI = math.log(2 * math.pi)
#: Importance samples are drawn in blocks of this many, whatever ``chunk_size`` is, so that the
#: bound computed with any chunk size uses the very same ε (chunked == unchunked).
_DRAW_BLOCK = 64


# ---------------------------------------------------------------------------------------------
# densities, one number per example


def _data_dims(params: torch.Tensor, x: torch.Tensor, names: tuple[str, str]) -> int:
    """How many trailing dims of ``params`` (shape (..., N, *D)) are data dims of ``x`` (N, *D)."""
    if params.dim() < x.dim() or params.shape[params.dim() - x.dim():] != x.shape:
        raise ValueError(f"{names[0]} must have the shape of {names[1]} {tuple(x.shape)} "
                         f"(optionally with leading sample dims), got {tuple(params.shape)}")
    return x.dim() - 1


def _sum_data(values: torch.Tensor, data_dims: int) -> torch.Tensor:
    return values.sum(dim=tuple(range(values.dim() - data_dims, values.dim()))) if data_dims \
        else values


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = Σ_d [x_d log σ(l_d) + (1 − x_d) log(1 − σ(l_d))] per example, l = ``logits``.

    Stable form: log σ(l) = −softplus(−l), log(1 − σ(l)) = −softplus(l). ``x`` (N, *D) holds
    values in [0, 1]; ``logits`` has x's shape, optionally with leading sample dims (S, N, *D).
    Returns shape (N,) or (S, N). Equals −D · ``losses.bernoulli_nll`` averaged over examples.
    """
    checks.tensor(logits, "logits", floating=True)
    checks.tensor(x, "x", floating=True)
    data_dims = _data_dims(logits, x, ("logits", "x"))
    return -_sum_data(x * F.softplus(-logits) + (1 - x) * F.softplus(logits), data_dims)


def gaussian_log_likelihood(mean: torch.Tensor, x: torch.Tensor,
                            log_var: torch.Tensor | float = 0.0) -> torch.Tensor:
    """log N(x; mean, σ² I) = −½ Σ_d [log 2π + log σ²_d + (x_d − mean_d)² / σ²_d] per example.

    ``log_var`` = log σ²: a number or a tensor broadcastable to ``mean`` (0 = the notes'
    N(x; G(z), I)). ``mean`` has x's shape (N, *D), optionally with leading sample dims.
    Returns shape (N,) or (S, N).
    """
    checks.tensor(mean, "mean", floating=True)
    checks.tensor(x, "x", floating=True)
    data_dims = _data_dims(mean, x, ("mean", "x"))
    if not isinstance(log_var, torch.Tensor):
        log_var = torch.tensor(checks.real(log_var, "log_var"), dtype=mean.dtype,
                               device=mean.device)
    terms = _LOG_2PI + log_var + (x - mean) ** 2 * torch.exp(-log_var)
    return -0.5 * _sum_data(terms.expand(mean.shape), data_dims)


def gaussian_kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σⱼ (μⱼ² + σⱼ² − 1 − log σⱼ²) per row.

    ``mu`` = μ and ``log_var`` = log σ², both (N, L); returns (N,)."""
    checks.tensor(mu, "mu", floating=True, ndim=2)
    checks.tensor(log_var, "log_var", floating=True, ndim=2)
    checks.same_shape(mu, "mu", log_var, "log_var")
    return 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum(dim=-1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) = −½ Σⱼ (zⱼ² + log 2π), summed over the last dim."""
    return -0.5 * (z ** 2 + _LOG_2PI).sum(dim=-1)


# ---------------------------------------------------------------------------------------------
# networks


class GaussianEncoder(nn.Module):
    """q(z|x) = N(μ(x), diag σ²(x)): an MLP body (``hidden`` widths, ``activation``) and two
    linear heads, ``forward(x) -> (μ, log σ²)``, each (N, ``latent_dim``)."""

    def __init__(self, input_shape: int | Sequence[int], latent_dim: int,
                 hidden: Sequence[int] = (200, 200), activation: str = "tanh"):
        super().__init__()
        self.input_shape = checks.dims(input_shape, "input_shape")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        hidden = [positive_int(h, "hidden") for h in checks.sequence(hidden, "hidden")]
        if not hidden:
            raise ValueError("hidden must hold at least one width")
        self.body = nn.Sequential(MLP([math.prod(self.input_shape), *hidden],
                                      activation=activation),
                                  make_activation(activation, hidden[-1], implementation="torch"))
        self.mu = nn.Linear(hidden[-1], self.latent_dim)
        self.log_var = nn.Linear(hidden[-1], self.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.log_var(h)


class MLPDecoder(nn.Module):
    """z ↦ the decoder's output (Bernoulli logits or Gaussian mean) shaped like the data: an
    MLP ``latent_dim`` → ``hidden`` → prod(``output_shape``), linear output."""

    def __init__(self, latent_dim: int, output_shape: int | Sequence[int],
                 hidden: Sequence[int] = (200, 200), activation: str = "tanh"):
        super().__init__()
        self.output_shape = checks.dims(output_shape, "output_shape")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        self.net = MLP([self.latent_dim, *hidden, math.prod(self.output_shape)],
                       activation=activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(len(z), *self.output_shape)


# ---------------------------------------------------------------------------------------------
# common checks


def _likelihood(value) -> str:
    return checks.choice(value, "likelihood", LIKELIHOODS)


def _check_data(x, likelihood: str, name: str = "x") -> torch.Tensor:
    checks.tensor(x, name, floating=True, finite=True)
    if x.dim() < 2 or len(x) == 0:
        raise ValueError(f"{name} must be a batch (N, ...) with N >= 1, got shape "
                         f"{tuple(x.shape)}")
    if likelihood == "bernoulli" and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError(f"{name} must lie in [0, 1] for a Bernoulli decoder, got values in "
                         f"[{float(x.min()):.4g}, {float(x.max()):.4g}]")
    return x


def _latent_dim(model: nn.Module, latent_dim) -> int | None:
    if latent_dim is not None:
        return positive_int(latent_dim, "latent_dim")
    for part in (model.encoder, model.decoder):
        found = getattr(part, "latent_dim", None)
        if found is not None:
            return int(found)
    return None


def _example(x, name: str, shape: tuple[int, ...] | None) -> torch.Tensor:
    """One example given as (*D) or (1, *D), returned as (1, *D)."""
    checks.tensor(x, name, floating=True, finite=True)
    if shape is not None and tuple(x.shape) == shape:
        return x.unsqueeze(0)
    if x.dim() >= 2 and len(x) == 1:
        return x
    if shape is None:
        return x.unsqueeze(0)
    raise ValueError(f"{name} must be one example of shape {shape} (or (1, *shape)), got "
                     f"{tuple(x.shape)}")


def _steps(steps) -> torch.Tensor:
    steps = checks.int_at_least(steps, "steps", 2)
    return torch.linspace(0, 1, steps)


# ---------------------------------------------------------------------------------------------
# autoencoder


class Autoencoder(nn.Module):
    """A plain autoencoder x' = D(E(x)), trained on reconstruction (``ReconstructionLoss``).

    ``encoder``: x ↦ z (N, L) (an encoder returning (μ, log σ²) is used through μ);
    ``decoder``: z ↦ the reconstruction's parameters shaped like x (the mean for
    ``likelihood="gaussian"``: loss ½‖x − D(E(x))‖² + const, the notes' squared error; logits
    for ``"bernoulli"``: the cross-entropy). ``forward(x)`` returns the decoder's raw output,
    ``reconstruct(x)`` and ``decode(z)`` the data-space mean (σ(logits) for Bernoulli).
    ``sample(n)`` decodes z ~ N(0, I): the lesson that an AE defines no such distribution.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: str = "gaussian",
                 *, latent_dim: int | None = None):
        super().__init__()
        self.encoder = checks.module(encoder, "encoder")
        self.decoder = checks.module(decoder, "decoder")
        self.likelihood = _likelihood(likelihood)
        self.latent_dim = _latent_dim(self, latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        if isinstance(z, (tuple, list)):
            z = z[0]
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or len(z) != len(x):
            raise ValueError(f"encoder must map x (N, ...) to codes (N, L), got "
                             f"{getattr(z, 'shape', type(z).__name__)}")
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample(self, n: int, *, rng: torch.Generator | None = None) -> torch.Tensor:
        """D(z) for n draws z ~ N(0, I) (eval mode, no gradients; on the model's device)."""
        return _decode_prior(self, n, rng)

    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10) -> torch.Tensor:
        """D((1 − t) E(x_a) + t E(x_b)) for ``steps`` values of t evenly in [0, 1]."""
        return _interpolate(self, x_a, x_b, steps, lambda x: self.encode(x))


class ReconstructionLoss:
    """Mean over examples of −log p(x | params), params = the autoencoder's output
    (``fit(ae, ReconstructionLoss(ae.likelihood), opt, X)`` trains on targets = inputs).

    Gaussian (σ = 1): ½ Σ_d (x_d − x'_d)² + (D/2) log 2π; Bernoulli: the summed cross-entropy."""

    def __init__(self, likelihood: str = "gaussian"):
        self.likelihood = _likelihood(likelihood)

    def __call__(self, output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.likelihood == "bernoulli":
            return -bernoulli_log_likelihood(output, x).mean()
        return -gaussian_log_likelihood(output, x).mean()


# ---------------------------------------------------------------------------------------------
# VAE


class ELBO(NamedTuple):
    """Per-example ELBO terms (each (N,)): ``elbo`` = ``reconstruction`` − ``kl``, with
    ``reconstruction`` = E_q log p(x|z) (Monte Carlo) and ``kl`` = KL(q(z|x) ‖ N(0, I))
    (closed form)."""

    elbo: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


class VAE(nn.Module):
    """A variational autoencoder (module docstring for the formulas).

    Arguments:
        encoder: x (N, *D) ↦ (μ, log σ²), each (N, L) — e.g. ``GaussianEncoder``.
        decoder: z (M, L) ↦ Bernoulli logits (M, *D), or for ``likelihood="gaussian"`` the
            mean (M, *D) or a pair (mean, log σ²) — e.g. ``MLPDecoder``.
        likelihood: "bernoulli" (x in [0, 1]) or "gaussian".
        decoder_log_var: log σ² of a Gaussian decoder that returns only the mean (0: the notes'
            N(x; G(z), I)).
        latent_dim: L, needed by ``sample``; read from ``encoder.latent_dim`` or
            ``decoder.latent_dim`` when not given.

    ``forward(x)`` is ``elbo(x)`` with one sample from torch's global RNG (what ``fit``
    trains, through ``NegativeELBO``).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: str = "bernoulli",
                 *, decoder_log_var: float = 0.0, latent_dim: int | None = None):
        super().__init__()
        self.encoder = checks.module(encoder, "encoder")
        self.decoder = checks.module(decoder, "decoder")
        self.likelihood = _likelihood(likelihood)
        self.decoder_log_var = checks.real(decoder_log_var, "decoder_log_var")
        self.latent_dim = _latent_dim(self, latent_dim)

    # -- the two distributions -----------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²) of q(z|x), each (N, L)."""
        out = self.encoder(x)
        if (not isinstance(out, (tuple, list)) or len(out) != 2
                or not all(isinstance(t, torch.Tensor) for t in out)):
            raise TypeError(f"encoder must return a pair (mu, log_var) of tensors, got "
                            f"{type(out).__name__}")
        mu, log_var = out
        if mu.dim() != 2 or mu.shape != log_var.shape or len(mu) != len(x):
            raise ValueError(f"encoder must return mu and log_var of shape (N, L) with "
                             f"N = {len(x)}, got {tuple(mu.shape)} and {tuple(log_var.shape)}")
        if self.latent_dim is not None and mu.shape[1] != self.latent_dim:
            raise ValueError(f"encoder returned {mu.shape[1]} latent dims, latent_dim is "
                             f"{self.latent_dim}")
        return mu, log_var

    def _decoder_params(self, z: torch.Tensor):
        out = self.decoder(z)
        if self.likelihood == "gaussian":
            if isinstance(out, (tuple, list)):
                return out[0], out[1]
            return out, self.decoder_log_var
        return out, None

    def conditional_log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for z of shape (S, N, L) (or (N, L)) → (S, N) (or (N,))."""
        lead = z.shape[:-1]
        params, log_var = self._decoder_params(z.reshape(-1, z.shape[-1]))
        params = params.reshape(*lead, *x.shape[1:])
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(params, x)
        if isinstance(log_var, torch.Tensor):
            log_var = log_var.reshape(*lead, *log_var.shape[1:])
        return gaussian_log_likelihood(params, x, log_var)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean of p(x|z) in data space: σ(logits) (Bernoulli) or the Gaussian mean."""
        params, _ = self._decoder_params(z)
        return torch.sigmoid(params) if self.likelihood == "bernoulli" else params

    # -- bounds ------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> ELBO:
        return self.elbo(x)

    def elbo(self, x: torch.Tensor, *, rng: torch.Generator | None = None,
             samples: int = 1) -> ELBO:
        """Per-example ELBO = E_q log p(x|z) − KL(q(z|x) ‖ N(0, I)).

        E_q log p(x|z) ≈ (1/S) Σₛ log p(x | μ + σ ⊙ εₛ), εₛ ~ N(0, I) from ``rng``, S =
        ``samples``; the KL in closed form (``gaussian_kl``). Differentiable in the encoder's
        and the decoder's parameters (the reparameterization trick)."""
        _check_data(x, self.likelihood)
        samples = positive_int(samples, "samples")
        rng = checks.generator(rng)
        mu, log_var = self.encode(x)
        eps = torch.randn((samples, *mu.shape), generator=rng, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * log_var) * eps                     # z = μ + σ ⊙ ε
        reconstruction = self.conditional_log_likelihood(x, z).mean(dim=0)
        kl = gaussian_kl(mu, log_var)
        return ELBO(reconstruction - kl, reconstruction, kl)

    def importance_weighted_bounds(self, x: torch.Tensor, ks: Sequence[int], *,
                                   chunk_size: int = 100,
                                   rng: torch.Generator | None = None) -> torch.Tensor:
        """L_k(x) = log (1/k) Σᵢ₌₁ᵏ p(x, zᵢ)/q(zᵢ|x) for every k in ``ks``, from nested samples:
        the bound for k uses the first k of one set of max(ks) draws zᵢ = μ + σ ⊙ εᵢ.

        log wᵢ = log p(x|zᵢ) + log N(zᵢ; 0, I) − log N(zᵢ; μ, σ²); the sum is a running
        logsumexp over chunks of ``chunk_size`` samples (the result does not depend on it: ε is
        drawn in fixed blocks). Returns (len(ks), N). Gradients flow (the IWAE objective), but
        memory then grows with k: evaluate under ``torch.no_grad()``."""
        _check_data(x, self.likelihood)
        ks = [positive_int(k, "k") for k in checks.sequence(ks, "ks")]
        if not ks:
            raise ValueError("ks must hold at least one k")
        chunk_size = positive_int(chunk_size, "chunk_size")
        rng = checks.generator(rng)
        mu, log_var = self.encode(x)
        std = torch.exp(0.5 * log_var)
        k_max = max(ks)
        totals = [torch.full((len(x),), -math.inf, dtype=mu.dtype, device=mu.device)
                  for _ in ks]
        noise = _NoiseBlocks(mu, k_max, rng)
        for start in range(0, k_max, chunk_size):
            eps = noise.take(min(chunk_size, k_max - start))       # (c, N, L)
            z = mu + std * eps
            log_w = (self.conditional_log_likelihood(x, z) + standard_normal_log_density(z)
                     + 0.5 * (eps ** 2 + _LOG_2PI + log_var).sum(dim=-1))   # − log q(z|x)
            for j, k in enumerate(ks):
                if k > start:
                    part = torch.logsumexp(log_w[: k - start], dim=0)
                    totals[j] = torch.logaddexp(totals[j], part)
        log_k = torch.log(torch.tensor(ks, dtype=mu.dtype, device=mu.device))
        return torch.stack(totals) - log_k[:, None]

    def log_likelihood(self, x: torch.Tensor, k: int = 100, *, chunk_size: int = 100,
                       rng: torch.Generator | None = None) -> torch.Tensor:
        """The importance-weighted bound L_k(x) ≤ log p(x) per example (N,), k = ``k``
        samples, logsumexp over chunks of ``chunk_size`` (``importance_weighted_bounds``)."""
        k = positive_int(k, "k")
        return self.importance_weighted_bounds(x, [k], chunk_size=chunk_size, rng=rng)[0]

    # -- generation ----------------------------------------------------------------------------
    def sample(self, n: int, *, rng: torch.Generator | None = None) -> torch.Tensor:
        """The means of p(x|z) for n draws z ~ N(0, I) (eval mode, no gradients)."""
        return _decode_prior(self, n, rng)

    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10) -> torch.Tensor:
        """Decoded means along the segment between the posterior means μ(x_a) and μ(x_b):
        decode((1 − t) μ_a + t μ_b) for ``steps`` values of t evenly in [0, 1]."""
        return _interpolate(self, x_a, x_b, steps, lambda x: self.encode(x)[0])


class NegativeELBO:
    """The VAE's training loss for ``engine.fit``: −(1/N) Σᵢ ELBO(xᵢ), one reparameterized
    sample per example from torch's global RNG (which ``fit`` seeds and checkpoints, so resume
    is exact). ``takes_model = True``: called ``loss(model, x, y)``; y (= x) is ignored."""

    takes_model = True

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None
                 ) -> torch.Tensor:
        out = model(x)
        if not isinstance(out, ELBO):
            raise TypeError(f"NegativeELBO needs a VAE (model(x) -> ELBO), got a model "
                            f"returning {type(out).__name__}")
        return -out.elbo.mean()


#: ``fit`` metrics of a VAE on eval data: the mean ELBO and its two terms (one sample each).
ELBO_METRICS = {
    "elbo": lambda out, x: out.elbo.mean(),
    "reconstruction": lambda out, x: out.reconstruction.mean(),
    "kl": lambda out, x: out.kl.mean(),
}


class _NoiseBlocks:
    """ε ~ N(0, I) of shape (c, N, L) handed out in any chunk sizes, drawn in blocks of
    ``_DRAW_BLOCK`` samples: the i-th sample is the same whatever the chunking."""

    def __init__(self, like: torch.Tensor, total: int, rng: torch.Generator | None):
        self.like, self.left, self.rng = like, total, rng
        self.buffer = like.new_empty((0, *like.shape))

    def take(self, count: int) -> torch.Tensor:
        while len(self.buffer) < count:
            block = min(_DRAW_BLOCK, self.left)
            self.left -= block
            fresh = torch.randn((block, *self.like.shape), generator=self.rng,
                                device=self.like.device, dtype=self.like.dtype)
            self.buffer = torch.cat([self.buffer, fresh])
        out, self.buffer = self.buffer[:count], self.buffer[count:]
        return out


def _decode_prior(model, n, rng) -> torch.Tensor:
    n = positive_int(n, "n")
    rng = checks.generator(rng)
    if model.latent_dim is None:
        raise ValueError("latent_dim is unknown: pass latent_dim= to the model, or give the "
                         "encoder or decoder a latent_dim attribute")
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            z = torch.randn((n, model.latent_dim), generator=rng, device=parameter.device,
                            dtype=parameter.dtype)
            return model.decode(z)
    finally:
        model.train(was_training)


def _interpolate(model, x_a, x_b, steps, encode) -> torch.Tensor:
    shape = getattr(model.encoder, "input_shape", None)
    x_a, x_b = _example(x_a, "x_a", shape), _example(x_b, "x_b", shape)
    if x_a.shape != x_b.shape:
        raise ValueError(f"x_a and x_b must have the same shape, got {tuple(x_a.shape)} and "
                         f"{tuple(x_b.shape)}")
    t = _steps(steps).to(x_a.device, x_a.dtype)[:, None]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            z_a, z_b = encode(x_a), encode(x_b)
            return model.decode((1 - t) * z_a + t * z_b)
    finally:
        model.train(was_training)


# ---------------------------------------------------------------------------------------------
# builders

#: MLP widths and latent sizes: 8×8 digits (small, trains in seconds on a CPU) and 28×28
#: MNIST (Burda et al. 2016's one-stochastic-layer VAE: two deterministic tanh layers of 200,
#: 50 latent units).
DIGITS = {"input_shape": (1, 8, 8), "hidden": (128, 128), "latent_dim": 8}
MNIST = {"input_shape": (1, 28, 28), "hidden": (200, 200), "latent_dim": 50}


def mlp_vae(input_shape: int | Sequence[int] = DIGITS["input_shape"],
            latent_dim: int = DIGITS["latent_dim"], hidden: Sequence[int] = DIGITS["hidden"],
            likelihood: str = "bernoulli", activation: str = "tanh") -> VAE:
    """A VAE with a ``GaussianEncoder`` and an ``MLPDecoder`` of mirrored ``hidden`` widths
    (``DIGITS`` by default; ``mlp_vae(**MNIST)`` for 28×28 MNIST)."""
    hidden = tuple(checks.sequence(hidden, "hidden"))
    encoder = GaussianEncoder(input_shape, latent_dim, hidden, activation)
    decoder = MLPDecoder(latent_dim, input_shape, hidden[::-1], activation)
    return VAE(encoder, decoder, likelihood)


def mlp_autoencoder(input_shape: int | Sequence[int] = DIGITS["input_shape"],
                    latent_dim: int = DIGITS["latent_dim"],
                    hidden: Sequence[int] = DIGITS["hidden"], likelihood: str = "bernoulli",
                    activation: str = "tanh") -> Autoencoder:
    """The autoencoder with ``mlp_vae``'s architecture: the encoder's body and μ head
    (no log σ² head: a code, not a distribution) and the same decoder."""
    hidden = tuple(checks.sequence(hidden, "hidden"))
    shape = checks.dims(input_shape, "input_shape")
    encoder = MLP([math.prod(shape), *hidden, positive_int(latent_dim, "latent_dim")],
                  activation=activation)
    encoder.input_shape = shape
    decoder = MLPDecoder(latent_dim, shape, hidden[::-1], activation)
    return Autoencoder(encoder, decoder, likelihood, latent_dim=latent_dim)
