"""For a fixed generator the optimal discriminator is D*(x) = p_d(x) / (p_d(x) + p_g(x)).

p_d is a two-component 1-D Gaussian mixture and p_g a single Gaussian, both known. A
discriminator MLP (logit output, D = σ) is trained with ``engine.fit`` on samples of each,
minimizing the GAN discriminator loss −E_{p_d} log D − E_{p_g} log(1 − D) (each class averaged
separately, ``generative.labeled_discriminator_loss``). The learned D(x) is compared with
``generative.optimal_discriminator`` on a grid wherever (p_d + p_g)/2 is not negligible.
The virtual training criterion C(G) = V(D*, G) is integrated on the grid and compared with
−log 4 + 2·JSD(p_d ‖ p_g), the JSD taken from scipy as the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..engine import fit, make_generator
from ..generative import labeled_discriminator_loss
from ..generative import theory as T
from ..nn.models import MLP
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("For a fixed generator the discriminator that maximizes the GAN value function is "
         "D*(x) = p_d(x) / (p_d(x) + p_g(x)), and then the value C(G) = −log 4 + 2·JSD(p_d ‖ p_g).")

MAX_ERROR = 0.05
RELEVANT_DENSITY = 0.03  # compare D with D* where (p_d + p_g)/2 ≥ this
IDENTITY_TOLERANCE = 1e-9

DATA_MEANS, DATA_STDS = (-2.0, 1.5), (0.5, 0.8)
MODEL_MEAN, MODEL_STD = 0.5, 1.2


@dataclass(frozen=True)
class Config:
    samples: int = 20_000
    width: int = 64
    steps: int = 3000
    batch_size: int = 1000
    lr: float = 3e-3
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(steps=2000, batch_size=500)

    @classmethod
    def full(cls) -> Config:
        return cls()


def _sample_data(n: int, generator: torch.Generator) -> torch.Tensor:
    component = torch.randint(2, (n,), generator=generator)
    means, stds = torch.tensor(DATA_MEANS), torch.tensor(DATA_STDS)
    return means[component] + stds[component] * torch.randn(n, generator=generator)


def run(config: Config, run) -> Result:
    generator = make_generator(config.seed)
    real = _sample_data(config.samples, generator)
    fake = MODEL_MEAN + MODEL_STD * torch.randn(config.samples, generator=generator)
    x = torch.cat([real, fake]).unsqueeze(1)
    is_real = torch.cat([torch.ones(config.samples), torch.zeros(config.samples)])

    torch.manual_seed(config.seed)
    discriminator = MLP([1, config.width, config.width, 1], activation="tanh")
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=config.lr)
    trained = fit(
        discriminator,
        lambda logits, y: labeled_discriminator_loss(logits[:, 0], y),
        optimizer, (x, is_real), steps=config.steps, batch_size=config.batch_size,
        scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps),
        log_every=max(1, config.steps // 50), run=run, name="discriminator",
        device=config.device, seed=config.seed,
    )
    discriminator = trained.model.cpu().eval()

    grid = torch.linspace(-6, 6, 2401, dtype=torch.float64)
    dx = float(grid[1] - grid[0])
    p_d = T.mixture_density(grid, DATA_MEANS, DATA_STDS)
    p_g = T.gaussian_density(grid, MODEL_MEAN, MODEL_STD)
    # renormalize on the grid (Σ p Δx = 1) so the identity holds to rounding, not to the tails
    p_d, p_g = p_d / (p_d.sum() * dx), p_g / (p_g.sum() * dx)
    d_star = T.optimal_discriminator(p_d, p_g)
    with torch.no_grad():
        d_learned = torch.sigmoid(discriminator(grid.float().unsqueeze(1))[:, 0]).double()
    relevant = (p_d + p_g) / 2 >= RELEVANT_DENSITY
    max_error = float((d_learned - d_star)[relevant].abs().max())
    mean_error = float((d_learned - d_star)[relevant].abs().mean())

    c_of_g = float(T.virtual_training_criterion(p_d, p_g, dx))
    jsd = float(T.jensen_shannon_divergence(p_d, p_g, dx))
    from scipy.spatial.distance import jensenshannon

    jsd_scipy = float(jensenshannon(p_d.numpy(), p_g.numpy())) ** 2
    identity_gap = abs((c_of_g + math.log(4)) - 2 * jsd_scipy)
    value_learned = float(T.value_function(d_learned.clamp(1e-12, 1 - 1e-12), p_d, p_g, dx))

    metrics = {
        "max_abs_error": max_error,
        "mean_abs_error": mean_error,
        "relevant_fraction_of_grid": float(relevant.double().mean()),
        "C_of_G": c_of_g,
        "C_of_G_plus_log4": c_of_g + math.log(4),
        "two_jsd": 2 * jsd,
        "two_jsd_scipy": 2 * jsd_scipy,
        "identity_gap": identity_gap,
        "value_of_learned_D": value_learned,
        "final_loss": trained.metrics["train_loss"],
    }
    verdict = Verdict.all_of(
        (max_error <= MAX_ERROR,
         f"max |D(x) − D*(x)| = {max_error:.3f} ≤ {MAX_ERROR} where (p_d+p_g)/2 ≥ "
         f"{RELEVANT_DENSITY}"),
        (identity_gap <= IDENTITY_TOLERANCE,
         f"|C(G) + log 4 − 2·JSD_scipy| = {identity_gap:.1e} ≤ {IDENTITY_TOLERANCE:g}"),
        (value_learned <= c_of_g + 1e-9,
         f"V(learned D) = {value_learned:.4f} ≤ C(G) = {c_of_g:.4f}"),
    )

    fig, (ax_density, ax_disc) = new_figure(ncols=2)
    ax_density.plot(grid, p_d, label="p_d (data)")
    ax_density.plot(grid, p_g, label="p_g (generator)")
    ax_density.set(xlabel="x", ylabel="density", title="fixed densities")
    ax_density.legend()
    ax_disc.plot(grid, d_star, label="D* = p_d/(p_d+p_g)", lw=2)
    ax_disc.plot(grid, d_learned, "--", label="learned D")
    ax_disc.fill_between(grid, 0, 1, where=~relevant.numpy(), color="gray", alpha=0.15,
                         label="negligible density")
    ax_disc.set(xlabel="x", ylabel="D(x)", ylim=(-0.02, 1.02),
                title=f"max error {max_error:.3f}")
    ax_disc.legend(fontsize=7)
    return Result(metrics, verdict, [save_figure(fig, run, "optimal_discriminator")])
