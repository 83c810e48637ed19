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

``train_gan`` composes the engine's pieces — ``iterate_batches`` (seeded real batches),
``Checkpointer`` (bit-identical resume), ``Progress``, ``check_finite`` and ``Run`` logging — the
same ones ``engine.fit`` is made of, with the alternation above as its step.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..engine import Checkpointer, Progress, Run, as_tensors, check_finite, iterate_batches
from ..engine.devices import check_seed, make_generator, resolve_device
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
        shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim <= 0:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        self.latent_dim = latent_dim
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
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
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
        self.latent_dim = latent_dim
        self.width = width

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
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive int, got {n!r}")
    device = next(generator.parameters()).device
    rng = rng if rng is not None else make_generator(seed, device)
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        out = torch.cat([
            generator(torch.randn(min(batch_size, n - i), latent_dim, generator=rng,
                                  device=device)).cpu()
            for i in range(0, n, batch_size)
        ])
    generator.train(was_training)
    return out


def _latent_dim(generator: nn.Module, latent_dim: int | None) -> int:
    if latent_dim is None:
        latent_dim = getattr(generator, "latent_dim", None)
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim <= 0:
        raise ValueError("latent_dim must be a positive int (pass latent_dim=, or give the "
                         f"generator a latent_dim attribute), got {latent_dim!r}")
    return latent_dim


# ---------------------------------------------------------------------------------------------
# defaults and optimizers

#: Per-loss defaults: the optimizer ("momentum" = SGD with momentum 0.9, as in Algorithm 1),
#: its learning rate, the batch size m and the discriminator steps per generator step k.
#: WGAN: Arjovsky et al.'s α = 5e-5 RMSProp, m = 64, n_critic = 5 (and c = 0.01 in the loss).
#: WGAN-GP: Gulrajani et al.'s Adam(1e-4, β = (0, 0.9)), n_critic = 5. BEGAN: Adam 1e-4.
DEFAULTS: dict[str, dict[str, Any]] = {
    "mm": {"optimizer": "momentum", "lr": 0.01, "batch_size": 64, "k": 1},
    "ns": {"optimizer": "momentum", "lr": 0.01, "batch_size": 64, "k": 1},
    "lsgan": {"optimizer": "momentum", "lr": 0.01, "batch_size": 64, "k": 1},
    "dragan": {"optimizer": "momentum", "lr": 0.01, "batch_size": 64, "k": 1},
    "wgan": {"optimizer": "rmsprop", "lr": 5e-5, "batch_size": 64, "k": 5},
    "wgan-gp": {"optimizer": "adam", "lr": 1e-4, "batch_size": 64, "k": 5, "betas": (0.0, 0.9)},
    "began": {"optimizer": "adam", "lr": 1e-4, "batch_size": 64, "k": 1, "betas": (0.5, 0.999)},
}


def make_optimizer(optimizer, parameters, *, lr: float,
                   betas=(0.9, 0.999)) -> torch.optim.Optimizer:
    """``optimizer``: a name — "momentum" (SGD, momentum 0.9), "sgd", "rmsprop" (α as the
    course: PyTorch's RMSprop with alpha 0.99 here), "adam" — or a factory params → Optimizer."""
    parameters = list(parameters)
    if callable(optimizer) and not isinstance(optimizer, str):
        built = optimizer(parameters)
        if not isinstance(built, torch.optim.Optimizer):
            raise TypeError("an optimizer factory must return a torch.optim.Optimizer")
        return built
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be > 0, got {lr!r}")
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


def _positive_int(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{argument} must be a positive int, got {value!r}")
    return value


def _set_requires_grad(module: nn.Module, flag: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(flag)


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
) -> GANResult:
    """Train ``generator`` G and ``discriminator`` D by Algorithm 1 (module docstring).

    Arguments (defaults per loss in ``DEFAULTS``):
        data: real examples X (N, ...) — a tensor, ``(X,)``, ``(X, y)`` (labels ignored) or a
            ``TensorDataset``; batches of m = ``batch_size`` come from ``iterate_batches``
            (seeded reshuffle every epoch), one batch per discriminator step.
        loss: "mm", "ns", "wgan", "wgan-gp", "lsgan", "dragan", "began" or a ``GANLoss``;
            ``loss_options`` its options (``clip``, ``lam``, ``gamma``, ...).
        steps: generator iterations; ``k``: discriminator steps per generator step (n_critic).
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
            (both networks and optimizers, the noise generator, the loss's state) to
            ``checkpoints/<name>.pt`` every ``checkpoint_every`` iterations and at the end;
            ``resume`` (default ``run.resume``) continues from it, bit-identically on CPU.
        seed: seeds the batch order, the noise p_z and penalties' randomness (one
            ``torch.Generator``), and torch's global RNG. Initialization is the caller's.
        ema: β in [0, 1) to also keep an exponential moving average of G's weights,
            θ̄ ← β θ̄ + (1 − β) θ after every generator step (Yazıcı et al. 2019), returned as
            ``generator_ema`` and checkpointed; it does not influence training. None: off.

    Raises ``engine.NonFiniteLossError`` when a loss becomes NaN/Inf.
    """
    if not isinstance(generator, nn.Module) or not isinstance(discriminator, nn.Module):
        raise TypeError("generator and discriminator must be torch.nn.Module instances")
    seed = check_seed(seed)
    gan_loss = make_loss(loss, **(loss_options or {}))
    defaults = DEFAULTS.get(gan_loss.name, DEFAULTS["ns"])
    (real,) = as_tensors(data, "data")[:1]
    if not torch.isfinite(real).all():
        raise ValueError("data contains NaN or Inf values")
    latent_dim = _latent_dim(generator, latent_dim)
    if ema is not None and (isinstance(ema, bool) or not isinstance(ema, (int, float))
                            or not 0 <= ema < 1):
        raise ValueError(f"ema must be None or a number in [0, 1), got {ema!r}")
    steps = _positive_int(steps, "steps")
    k = _positive_int(k if k is not None else defaults["k"], "k")
    batch_size = _positive_int(batch_size if batch_size is not None else defaults["batch_size"],
                               "batch_size")
    log_every = _positive_int(log_every, "log_every")
    pack = _positive_int(pack, "pack")
    checkpoint_every = (_positive_int(checkpoint_every, "checkpoint_every")
                        if checkpoint_every is not None else max(1, steps // 10))
    if eval_every is not None:
        eval_every = _positive_int(eval_every, "eval_every")
    lr = defaults["lr"] if lr is None else lr
    betas = betas if betas is not None else defaults.get("betas", (0.9, 0.999))
    optimizer = optimizer if optimizer is not None else defaults["optimizer"]

    device = resolve_device(device)
    generator.to(device)
    discriminator.to(device)
    real = real.to(device)
    opt_d = make_optimizer(d_optimizer or optimizer, discriminator.parameters(), lr=lr, betas=betas)
    opt_g = make_optimizer(g_optimizer or optimizer, generator.parameters(), lr=lr, betas=betas)
    sched_d = scheduler(opt_d) if scheduler is not None else None
    sched_g = scheduler(opt_g) if scheduler is not None else None
    noise = torch.Generator(device=device)
    noise.manual_seed(seed)

    # One "model" and one "optimizer" for the engine's Checkpointer; the rest rides as extras.
    players = nn.ModuleDict({"generator": generator, "discriminator": discriminator})
    averaged = None
    if ema is not None:
        averaged = copy.deepcopy(generator).requires_grad_(False)
        players["generator_ema"] = averaged
    checkpointer = Checkpointer(run, name)
    resume = run.resume if (resume is None and run is not None) else bool(resume)
    start = 0
    if resume and checkpointer.exists:
        state = checkpointer.load(players, opt_d, sched_d)
        start = int(state["step"])
        opt_g.load_state_dict(state["g_optimizer"])
        if sched_g is not None and "g_scheduler" in state:
            sched_g.load_state_dict(state["g_scheduler"])
        noise.set_state(state["noise_rng"].to(noise.get_state().device))
        gan_loss.load_state_dict(state["loss_state"])
        if run is not None:
            run.truncate_metrics(lambda r: r.get("fit") != name or r.get("step", 0) <= start)
    else:
        torch.manual_seed(seed)

    def save(step: int) -> None:
        extra = {"g_optimizer": opt_g.state_dict(), "noise_rng": noise.get_state(),
                 "loss_state": gan_loss.state_dict()}
        if sched_g is not None:
            extra["g_scheduler"] = sched_g.state_dict()
        checkpointer.save(step, players, opt_d, sched_d, **extra)

    history: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        entry = {"fit": name, **entry}
        history.append(entry)
        if run is not None:
            run.log(entry)

    def evaluation(step: int) -> dict[str, float]:
        scores = {f"eval_{key}": float(value) for key, value in evaluate(generator).items()}
        generator.train()
        record({"step": step, **scores})
        return scores

    def packed(samples: torch.Tensor) -> torch.Tensor:
        if pack == 1:
            return samples
        return samples.reshape(len(samples) // pack, pack * samples.shape[1], *samples.shape[2:])

    batches = iterate_batches((real,), batch_size * pack, seed=seed, start_step=start * k)
    bar = Progress(steps, name, progress)
    window: dict[str, float] = {}
    window_steps, window_start = 0, time.perf_counter()
    last: dict[str, float] = {}
    generator.train()
    discriminator.train()
    step = start
    try:
        while step < steps:
            # k discriminator steps (G fixed: its samples carry no graph)
            _set_requires_grad(discriminator, True)
            for _ in range(k):
                (x,) = next(batches)
                if len(x) % pack:  # a short last batch of an epoch
                    x = x[: len(x) - len(x) % pack] if len(x) >= pack else next(batches)[0]
                z = torch.randn(len(x), latent_dim, generator=noise, device=device)
                with torch.no_grad():
                    fake = generator(z)
                opt_d.zero_grad(set_to_none=True)
                d_loss, d_stats = gan_loss.discriminator_loss(discriminator, packed(x),
                                                              packed(fake), noise)
                d_loss.backward()
                opt_d.step()
                gan_loss.after_discriminator_step(discriminator)
            # one generator step (D fixed: no gradients for its weights)
            _set_requires_grad(discriminator, False)
            z = torch.randn(batch_size * pack, latent_dim, generator=noise, device=device)
            opt_g.zero_grad(set_to_none=True)
            g_loss, g_stats = gan_loss.generator_loss(discriminator, packed(generator(z)))
            g_loss.backward()
            opt_g.step()
            if averaged is not None:
                with torch.no_grad():
                    ema_params = list(averaged.parameters())
                    torch._foreach_lerp_(ema_params, list(generator.parameters()), 1.0 - ema)
                    for mean_buffer, buffer in zip(averaged.buffers(), generator.buffers(),
                                                   strict=True):
                        mean_buffer.copy_(buffer)
            loss_stats = gan_loss.after_generator_step()
            if sched_d is not None:
                sched_d.step()
                sched_g.step()
            step += 1
            d_value, g_value = float(d_loss.detach()), float(g_loss.detach())
            check_finite(d_value, step, f"{name} (discriminator)", checkpointer)
            check_finite(g_value, step, f"{name} (generator)", checkpointer)
            values = {"d_loss": d_value, "g_loss": g_value, **d_stats, **g_stats}
            for key, value in values.items():
                window[key] = window.get(key, 0.0) + float(value)
            window_steps += 1
            if step % log_every == 0 or step == steps:
                elapsed = time.perf_counter() - window_start
                last = {key: total / window_steps for key, total in window.items()}
                last.update(loss_stats)
                record({"step": step, **last,
                        "iterations_per_s": window_steps / max(elapsed, 1e-9)})
                window, window_steps, window_start = {}, 0, time.perf_counter()
            if evaluate is not None and eval_every and step % eval_every == 0:
                evaluation(step)
            if step % checkpoint_every == 0 or step == steps:
                save(step)
            bar.update(step, f"D {d_value:.3g} G {g_value:.3g}")
    finally:
        _set_requires_grad(discriminator, True)
        bar.close()

    final = dict(last)
    if evaluate is not None and not (eval_every and step % eval_every == 0 and step > start):
        final.update(evaluation(step))
    elif evaluate is not None:
        final.update({key: value for key, value in history[-1].items() if key.startswith("eval_")})
    return GANResult(generator, discriminator, step, gan_loss, opt_d, opt_g, history, final,
                     averaged)
