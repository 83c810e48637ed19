"""Generative adversarial nets: Algorithm 1 of the notes, for any of the seven losses.

Algorithm 1 (Goodfellow et al. 2014), generalized to a loss pair (L_D, L_G):

    for each training iteration:
        for k steps:                                   # k = n_critic for the WGANs
            sample z⁽¹⁾..z⁽ᵐ⁾ ~ p_z = N(0, I), x⁽¹⁾..x⁽ᵐ⁾ ~ p_data
            update D by descending ∇_θd L_D        (for MM/NS: ascending V(D, G))
            (WGAN: clip D's weights to [−c, c])
        sample z⁽¹⁾..z⁽ᵐ⁾ ~ p_z
        update G by descending ∇_θg L_G
        (BEGAN: k_t ← clip(k_t + λ_k (γ L(x) − L(G(z))), 0, 1))

``train_gan``'s loop body is the alternation above and nothing else: the seeded real batches
are an ``engine.BatchStream``; logging window, history, evaluation schedule, fingerprinted
checkpoints and bit-identical resume, the NaN/Inf guard, callbacks (the generator's EMA is an
``engine.EMA``) and the progress bar are ``engine.Bookkeeping``'s — the same object
``engine.fit`` uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core import checks
from ..core.checks import positive_int, positive_number, unit_interval
from ..core.rng import check_seed, make_generator
from ..engine import EMA, BatchStream, Bookkeeping, Run, as_tensors, resolve_device
from ..engine.checkpoint import parameter_shapes
from ..engine.preflight import SHAPE_ERRORS, check_optimizer, check_scheduler, forward_error
from .losses import GANLoss, make_loss

# ---------------------------------------------------------------------------------------------
# networks


class Generator(nn.Module):
    """G: R^k → data space, an MLP z ↦ x (ReLU hidden layers, linear output) reshaped to
    ``output_shape``. ``latent_dim`` = k; ``hidden`` the widths of the hidden layers."""

    def __init__(self, latent_dim: int, output_shape: int | Sequence[int],
                 hidden: Sequence[int] = (128, 128), activation: str = "relu"):
        from ..nn.models import MLP

        super().__init__()
        shape = checks.dims(output_shape, "output_shape")
        self.latent_dim = latent_dim = positive_int(latent_dim, "latent_dim")
        self.output_shape = shape
        self.net = MLP([latent_dim, *hidden, math.prod(shape)], activation=activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(len(z), *self.output_shape)


class Discriminator(nn.Module):
    """D: data space → R^``outputs`` (a logit or score; for BEGAN's auto-encoder, ``outputs`` =
    the data dimension and the output is reshaped like the input). An MLP with ``hidden``
    widths; ``activation`` defaults to ReLU."""

    def __init__(self, input_shape: int | Sequence[int], hidden: Sequence[int] = (128, 128),
                 autoencoder: bool = False, activation: str = "relu"):
        from ..nn.models import MLP

        super().__init__()
        shape = checks.dims(input_shape, "input_shape")
        self.input_shape = shape
        self.autoencoder = bool(autoencoder)
        outputs = math.prod(shape) if autoencoder else 1
        self.net = MLP([math.prod(shape), *hidden, outputs], activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.reshape(x.shape) if self.autoencoder else out[:, 0]


class ConvGenerator(nn.Module):
    """A DCGAN-style generator for 8×8 images: z → linear → (2c)×2×2 → transposed convs to
    4×4 and 8×8 (batch norm + ReLU, as DCGAN, when ``batch_norm``) → 1 channel in [0, 1]
    (sigmoid). ``latent_dim`` = k, ``width`` = c."""

    def __init__(self, latent_dim: int = 16, width: int = 32, batch_norm: bool = False):
        super().__init__()
        self.latent_dim = latent_dim = positive_int(latent_dim, "latent_dim")
        self.width = width = positive_int(width, "width")

        def norm(channels: int) -> nn.Module:
            return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * width * 4), nn.ReLU())
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), norm(width),
            nn.ReLU(),  # 4×4
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), norm(width),
            nn.ReLU(),  # 8×8
            nn.Conv2d(width, 1, 3, padding=1), nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).reshape(len(z), 2 * self.width, 2, 2))


class ConvDiscriminator(nn.Module):
    """A small conv discriminator for 8×8 images: two stride-2 convs (LeakyReLU 0.2) and a
    linear output (one logit / score per image)."""

    def __init__(self, width: int = 32):
        super().__init__()
        width = positive_int(width, "width")
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),  # 4×4
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),  # 2×2
            nn.Flatten(), nn.Linear(2 * width * 4, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def sample(generator: nn.Module, n: int, *, seed: int = 0, rng: torch.Generator | None = None,
           latent_dim: int | None = None, batch_size: int = 10_000) -> torch.Tensor:
    """n samples G(z), z ~ N(0, I), without gradients and in eval mode (noise from ``rng``, else
    a generator seeded ``seed``); returned on the CPU."""
    latent_dim = _latent_dim(generator, latent_dim)
    n = positive_int(n, "n")
    batch_size = positive_int(batch_size, "batch_size")
    device = next(generator.parameters()).device
    rng = rng if rng is not None else make_generator(seed, device)
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        try:
            out = torch.cat([
                generator(torch.randn(min(batch_size, n - i), latent_dim, generator=rng,
                                      device=device)).cpu()
                for i in range(0, n, batch_size)
            ])
        except SHAPE_ERRORS as err:
            generator.train(was_training)
            z = torch.zeros(1, latent_dim, device=device)
            raise forward_error(generator, z, "latent_dim", err, what="the generator") from err
    generator.train(was_training)
    return out


def _latent_dim(generator: nn.Module, latent_dim: int | None) -> int:
    if latent_dim is None:
        latent_dim = getattr(generator, "latent_dim", None)
    if latent_dim is None:
        raise ValueError("latent_dim must be a positive int: pass latent_dim=, or give the "
                         "generator a latent_dim attribute")
    return positive_int(latent_dim, "latent_dim")


# ---------------------------------------------------------------------------------------------
# defaults and optimizers

#: Per-loss defaults: the optimizer ("momentum" = SGD with momentum 0.9, as in Algorithm 1),
#: its learning rate and the batch size m. The discriminator steps per generator step k
#: (n_critic) belong to the loss: ``GANLoss.default_k`` (5 for the WGANs, 1 otherwise).
#: WGAN: Arjovsky et al.'s α = 5e-5 RMSProp, m = 64 (n_critic = 5, c = 0.01 in the loss).
#: WGAN-GP: Gulrajani et al.'s Adam(1e-4, β = (0, 0.9)) (n_critic = 5). BEGAN: Adam 1e-4.
DEFAULTS: dict[str, dict[str, Any]] = {
    "mm": {"optimizer": "momentum", "lr": 0.01, "batch_size": 64},
    "ns": {"optimizer": "momentum", "lr": 0.01, "batch_size": 64},
    "lsgan": {"optimizer": "momentum", "lr": 0.01, "batch_size": 64},
    "dragan": {"optimizer": "momentum", "lr": 0.01, "batch_size": 64},
    "wgan": {"optimizer": "rmsprop", "lr": 5e-5, "batch_size": 64},
    "wgan-gp": {"optimizer": "adam", "lr": 1e-4, "batch_size": 64, "betas": (0.0, 0.9)},
    "began": {"optimizer": "adam", "lr": 1e-4, "batch_size": 64, "betas": (0.5, 0.999)},
}


def make_optimizer(optimizer, parameters, *, lr: float,
                   betas=(0.9, 0.999)) -> torch.optim.Optimizer:
    """``optimizer``: a name — "momentum" (SGD, momentum 0.9), "sgd", "rmsprop" (α as the
    course: PyTorch's RMSprop with alpha 0.99 here), "adam" — or a factory params → Optimizer."""
    parameters = list(parameters)
    betas = checks.betas(betas)
    if callable(optimizer) and not isinstance(optimizer, str):
        built = optimizer(parameters)
        if not isinstance(built, torch.optim.Optimizer):
            raise TypeError("an optimizer factory must return a torch.optim.Optimizer")
        return built
    lr = positive_number(lr, "lr")
    if optimizer == "momentum":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9)
    if optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=lr)
    if optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    if optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=tuple(betas))
    raise ValueError("optimizer must be 'momentum', 'sgd', 'rmsprop', 'adam' or a factory "
                     f"params -> Optimizer, got {optimizer!r}")


# ---------------------------------------------------------------------------------------------
# the trainer


@dataclass
class GANResult:
    """What ``train_gan`` returns: both networks, the generator iterations done, the loss object
    (with its state, e.g. BEGAN's k), both optimizers, the logged records and the final
    window's mean losses (``d_loss``, ``g_loss``, ...) plus the last evaluation."""

    generator: nn.Module
    discriminator: nn.Module
    steps: int
    loss: GANLoss
    d_optimizer: torch.optim.Optimizer
    g_optimizer: torch.optim.Optimizer
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    #: the exponential moving average of the generator's weights (``ema`` given), else None
    generator_ema: nn.Module | None = None


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data,
    *,
    loss: str | GANLoss = "ns",
    loss_options: dict[str, Any] | None = None,
    steps: int = 1000,
    k: int | None = None,
    batch_size: int | None = None,
    pack: int = 1,
    latent_dim: int | None = None,
    optimizer=None,
    lr: float | None = None,
    d_optimizer=None,
    g_optimizer=None,
    betas: tuple[float, float] | None = None,
    scheduler: Callable | None = None,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    eval_every: int | None = None,
    log_every: int = 100,
    checkpoint_every: int | None = None,
    run: Run | None = None,
    name: str = "gan",
    device: str | torch.device = "auto",
    seed: int = 0,
    resume: bool | None = None,
    progress: bool | None = None,
    ema: float | None = None,
    callbacks: Sequence[Callable] = (),
) -> GANResult:
    """Train ``generator`` G and ``discriminator`` D by Algorithm 1 (module docstring).

    Arguments (defaults per loss in ``DEFAULTS``; k from the loss):
        data: real examples X (N, ...) — a floating tensor, ``(X,)``, ``(X, y)`` (labels
            ignored) or a ``TensorDataset``; batches of m = ``batch_size`` come from a
            ``BatchStream`` (seeded reshuffle every epoch), one batch per discriminator step.
        loss: "mm", "ns", "wgan", "wgan-gp", "lsgan", "dragan", "began" or a ``GANLoss``;
            ``loss_options`` its options (``clip``, ``lam``, ``gamma``, ...).
        steps: generator iterations; ``k``: discriminator steps per generator step (n_critic),
            by default the loss's ``default_k`` (5 for the WGANs, else 1).
        pack: PacGAN packing (Lin et al. 2018): D judges ``pack`` samples at once, concatenated
            along the first feature axis ((m·pack, d) → (m, pack·d)), all real or all
            generated; each step then draws m·pack real and m·pack generated samples. D must
            accept the packed input size. 1 (default) is the plain GAN.
        optimizer, lr, betas: the optimizer of both players (a name or a factory params →
            Optimizer); ``d_optimizer``/``g_optimizer`` override it per player.
        scheduler: optional factory optimizer → LR scheduler, applied to both, stepped once per
            generator iteration.
        latent_dim: k of p_z = N(0, I_k) (default ``generator.latent_dim``).
        evaluate, eval_every: ``evaluate(G) -> {name: number}`` logged every ``eval_every``
            iterations and at the end (e.g. modes captured).
        run, name: records go to ``metrics.jsonl`` tagged ``fit=name``; the checkpoint
            (both networks and optimizers, the noise generator, the loss's state, the batch
            position, the logging window, callbacks' states) to ``checkpoints/<name>.pt``
            every ``checkpoint_every`` iterations and at the end; ``resume`` (default
            ``run.resume``) continues from it — weights, logged values and returned history
            bit-identical on CPU to an uninterrupted run's. A checkpoint written with another
            data size, batch size, k, pack, loss, seed or networks is refused.
        seed: seeds the batch order, the noise p_z and penalties' randomness (one
            ``torch.Generator``), and torch's global RNG. Initialization is the caller's.
        ema: β in [0, 1) to also keep an exponential moving average of G's weights,
            θ̄ ← β θ̄ + (1 − β) θ after every generator step (Yazıcı et al. 2019; an
            ``engine.EMA`` callback), returned as ``generator_ema`` and checkpointed; it does
            not influence training. None: off.
        callbacks: each called ``cb(step, g_loss, generator)`` after every generator step.

    The bookkeeping (window, history, evaluation schedule, checkpoints, NaN guard, progress)
    is ``engine.Bookkeeping``'s, as for ``engine.fit``. The first iteration checks that G's
    output has the data's shape and that D accepts (packed) batches, with errors naming the
    argument and both shapes.

    Raises ``engine.NonFiniteLossError`` when a loss becomes NaN/Inf.
    """
    if not isinstance(generator, nn.Module) or not isinstance(discriminator, nn.Module):
        raise TypeError("generator and discriminator must be torch.nn.Module instances")
    seed = check_seed(seed)
    gan_loss = make_loss(loss, **(loss_options or {}))
    defaults = DEFAULTS.get(gan_loss.name, DEFAULTS["ns"])
    (real,) = as_tensors(data, "data")[:1]
    if not real.is_floating_point():
        raise TypeError(f"data must be a floating-point tensor, got dtype {real.dtype}")
    if real.dim() < 2:
        raise ValueError(f"data must have shape (N, features...), got {tuple(real.shape)}")
    if not torch.isfinite(real).all():
        raise ValueError("data contains NaN or Inf values")
    latent_dim = _latent_dim(generator, latent_dim)
    callbacks = list(callbacks)
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}] must be callable cb(step, loss, generator), got "
                            f"{type(callback).__name__}")
    if ema is not None:
        ema = unit_interval(ema, "ema")
    if scheduler is not None:
        checks.function(scheduler, "scheduler", "(a factory optimizer -> LR scheduler)")
    if evaluate is not None:
        checks.function(evaluate, "evaluate", "evaluate(generator) -> {name: number}")
    steps = positive_int(steps, "steps")
    k = positive_int(k if k is not None else gan_loss.default_k, "k")
    batch_size = positive_int(batch_size if batch_size is not None else defaults["batch_size"],
                              "batch_size")
    log_every = positive_int(log_every, "log_every")
    pack = positive_int(pack, "pack")
    checkpoint_every = (positive_int(checkpoint_every, "checkpoint_every")
                        if checkpoint_every is not None else max(1, steps // 10))
    if eval_every is not None:
        eval_every = positive_int(eval_every, "eval_every")
    lr = defaults["lr"] if lr is None else lr
    betas = betas if betas is not None else defaults.get("betas", (0.9, 0.999))
    optimizer = optimizer if optimizer is not None else defaults["optimizer"]

    device = resolve_device(device)
    generator.to(device)
    discriminator.to(device)
    real = real.to(device)
    opt_d = make_optimizer(d_optimizer or optimizer, discriminator.parameters(), lr=lr, betas=betas)
    opt_g = make_optimizer(g_optimizer or optimizer, generator.parameters(), lr=lr, betas=betas)
    check_optimizer(opt_d, discriminator, "d_optimizer")
    check_optimizer(opt_g, generator, "g_optimizer")
    sched_d = sched_g = None
    if scheduler is not None:
        checkpointed = run is not None
        sched_d = check_scheduler(scheduler(opt_d), "scheduler", checkpointed)
        sched_g = check_scheduler(scheduler(opt_g), "scheduler", checkpointed)
    noise = make_generator(seed, device)
    batches = BatchStream((real,), batch_size * pack, seed=seed)
    if ema is not None:
        averaged = EMA(generator, ema)
        callbacks.append(averaged)

    def evaluation() -> dict[str, float]:
        scores = evaluate(generator)
        generator.train()
        return scores

    book = Bookkeeping(
        name, total=steps, run=run,
        resume=run.resume if (resume is None and run is not None) else bool(resume),
        states={"generator": generator, "discriminator": discriminator,
                "d_optimizer": opt_d, "g_optimizer": opt_g, "d_scheduler": sched_d,
                "g_scheduler": sched_g, "noise_rng": noise, "loss": gan_loss,
                "batches": batches},
        fingerprint={"n": len(real), "batch_size": batch_size, "k": k, "pack": pack,
                     "seed": seed, "loss": gan_loss.name, "latent_dim": latent_dim,
                     "ema": ema, "generator": parameter_shapes(generator),
                     "discriminator": parameter_shapes(discriminator)},
        log_every=log_every, eval_every=eval_every, checkpoint_every=checkpoint_every,
        evaluate=evaluation if evaluate is not None else None, callbacks=callbacks,
        guard={"d_loss": "the discriminator's loss", "g_loss": "the generator's loss"},
        rate=("iterations_per_s", 1), progress=progress, seed=seed,
    )

    def packed(samples: torch.Tensor) -> torch.Tensor:
        if pack == 1:
            return samples
        return samples.reshape(len(samples) // pack, pack * samples.shape[1], *samples.shape[2:])

    def real_batch() -> torch.Tensor:
        (x,) = next(batches)
        if len(x) % pack:  # a short last batch of an epoch
            x = x[: len(x) - len(x) % pack] if len(x) >= pack else next(batches)[0]
        return x

    # the first discriminator step checks its inputs (G's output shape, D's input size)
    generate, d_loss_of = _checked_generate, _checked_discriminator_loss
    generator.train()
    discriminator.train()
    try:
        with book:
            while not book.done:
                # k discriminator steps (G fixed: its samples carry no graph)
                discriminator.requires_grad_(True)
                for _ in range(k):
                    x = real_batch()
                    z = torch.randn(len(x), latent_dim, generator=noise, device=device)
                    with torch.no_grad():
                        fake = generate(generator, z, x)
                    opt_d.zero_grad(set_to_none=True)
                    d_loss, d_stats = d_loss_of(gan_loss, discriminator, packed(x), packed(fake),
                                                noise, pack)
                    d_loss.backward()
                    opt_d.step()
                    gan_loss.after_discriminator_step(discriminator)
                    generate, d_loss_of = _generate, _discriminator_loss
                # one generator step (D fixed: no gradients for its weights)
                discriminator.requires_grad_(False)
                z = torch.randn(batch_size * pack, latent_dim, generator=noise, device=device)
                opt_g.zero_grad(set_to_none=True)
                g_loss, g_stats = gan_loss.generator_loss(discriminator, packed(generator(z)))
                g_loss.backward()
                opt_g.step()
                loss_stats = gan_loss.after_generator_step()
                if sched_d is not None:
                    sched_d.step()
                    sched_g.step()
                d_value, g_value = float(d_loss.detach()), float(g_loss.detach())
                book.end_step({"d_loss": d_value, "g_loss": g_value, **d_stats, **g_stats},
                              latest=loss_stats, loss=g_value, model=generator,
                              info=f"D {d_value:.3g} G {g_value:.3g}")
            final = book.finish()
    finally:
        discriminator.requires_grad_(True)
    return GANResult(generator, discriminator, book.step, gan_loss, opt_d, opt_g, book.history,
                     final, averaged.module if ema is not None else None)


def _generate(generator: nn.Module, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return generator(z)


def _checked_generate(generator: nn.Module, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """G(z) for the first batch, with a clear error when G cannot take z or its output does
    not look like a data example x."""
    try:
        fake = generator(z)
    except SHAPE_ERRORS as err:
        raise forward_error(generator, z, "latent_dim", err, what="the generator") from err
    if not isinstance(fake, torch.Tensor) or fake.shape[1:] != x.shape[1:]:
        shape = tuple(fake.shape) if isinstance(fake, torch.Tensor) else type(fake).__name__
        raise ValueError(
            f"generator: G(z) has shape {shape} for {len(z)} noise vectors, but the data's "
            f"rows have shape {tuple(x.shape[1:])}: the generator's output must look like one "
            "data example")
    return fake


def _discriminator_loss(gan_loss: GANLoss, discriminator: nn.Module, real: torch.Tensor,
                        fake: torch.Tensor, rng: torch.Generator, pack: int):
    return gan_loss.discriminator_loss(discriminator, real, fake, rng)


def _checked_discriminator_loss(gan_loss: GANLoss, discriminator: nn.Module,
                                real: torch.Tensor, fake: torch.Tensor, rng: torch.Generator,
                                pack: int):
    """The first discriminator loss; when it fails because D cannot take the (packed) batch,
    say so with both shapes."""
    try:
        return gan_loss.discriminator_loss(discriminator, real, fake, rng)
    except SHAPE_ERRORS as err:
        try:
            with torch.no_grad():
                discriminator(real)
        except SHAPE_ERRORS as forward_err:
            argument = "discriminator" if pack == 1 else (
                f"discriminator (pack={pack}: D judges {pack} samples concatenated per input)")
            raise forward_error(discriminator, real, argument, forward_err,
                                what="the discriminator") from err
        raise
