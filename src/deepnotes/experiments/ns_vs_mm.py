"""Early in training the minimax generator loss saturates; the non-saturating one does not.

A freshly initialized generator G (MLP) produces samples far from the 8-mode ring. A
discriminator D is trained against these fixed samples with ``engine.fit`` (the GAN
discriminator loss), and at snapshots along the way we measure, at the same parameters, the
norm of the generator's gradient ‖∇_θg L_G‖ for

- minimax: L_G = E log(1 − D(G(z))), per-sample logit gradient −D(G(z)) → 0 as D rejects;
- non-saturating: L_G = −E log D(G(z)), per-sample logit gradient −(1 − D(G(z))) → −1.

The notes' reason to prefer NS: once D is confident (mean D(G(z)) small), MM's gradient is at
least 10× smaller than NS's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import data
from ..engine import fit
from ..generative import (
    Discriminator,
    Generator,
    labeled_discriminator_loss,
    minimax_generator_loss,
    nonsaturating_generator_loss,
)
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("With a confident discriminator early in training, the minimax generator loss "
         "log(1 − D(G(z))) saturates: its gradient is far smaller than that of the "
         "non-saturating loss −log D(G(z)).")

MIN_RATIO = 10.0
CONFIDENT = 0.05  # "confident": mean D(G(z)) at most this


@dataclass(frozen=True)
class Config:
    samples: int = 4096
    width: int = 128
    snapshots: int = 12
    steps_per_snapshot: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    probe: int = 1024
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(samples=2048, width=64, snapshots=8, steps_per_snapshot=25)

    @classmethod
    def full(cls) -> Config:
        return cls()


def _generator_gradient_norm(loss_fn, generator, discriminator, z) -> float:
    generator.zero_grad(set_to_none=True)
    loss_fn(discriminator(generator(z))).backward()
    return float(torch.sqrt(sum((p.grad**2).sum() for p in generator.parameters())))


def run(config: Config, run) -> Result:
    ring = data.mixture_ring(config.samples, seed=config.seed)
    torch.manual_seed(config.seed)
    G = Generator(2, 2, hidden=(config.width, config.width))
    D = Discriminator(2, hidden=(config.width, config.width))
    noise = torch.Generator().manual_seed(config.seed + 1)
    with torch.no_grad():
        fakes = G(torch.randn(config.samples, 2, generator=noise))
    z_probe = torch.randn(config.probe, 2, generator=noise)
    x = torch.cat([ring.samples, fakes])
    is_real = torch.cat([torch.ones(config.samples), torch.zeros(config.samples)])
    optimizer = torch.optim.Adam(D.parameters(), lr=config.lr)

    rows = []
    for snapshot in range(config.snapshots + 1):
        if snapshot:
            fit(D, labeled_discriminator_loss, optimizer, (x, is_real),
                steps=config.steps_per_snapshot, batch_size=config.batch_size,
                log_every=config.steps_per_snapshot, run=run, name=f"discriminator-{snapshot}",
                device=config.device, seed=config.seed + snapshot, progress=False)
            D.cpu()
        with torch.no_grad():
            d_fake = float(torch.sigmoid(D(G(z_probe))).mean())
        rows.append({
            "d_steps": snapshot * config.steps_per_snapshot,
            "mean_D_of_G_z": d_fake,
            "grad_norm_mm": _generator_gradient_norm(minimax_generator_loss, G, D, z_probe),
            "grad_norm_ns": _generator_gradient_norm(nonsaturating_generator_loss, G, D, z_probe),
        })
        run.log({"snapshot": snapshot, **rows[-1]})

    confident = [r for r in rows if r["mean_D_of_G_z"] <= CONFIDENT]
    last = rows[-1]
    ratio = last["grad_norm_ns"] / max(last["grad_norm_mm"], 1e-300)
    metrics = {
        "final_mean_D_of_G_z": last["mean_D_of_G_z"],
        "final_grad_norm_mm": last["grad_norm_mm"],
        "final_grad_norm_ns": last["grad_norm_ns"],
        "final_ratio_ns_over_mm": ratio,
        "initial_ratio_ns_over_mm": rows[0]["grad_norm_ns"] / rows[0]["grad_norm_mm"],
        "confident_snapshots": len(confident),
        "min_ratio_when_confident": min(
            (r["grad_norm_ns"] / r["grad_norm_mm"] for r in confident), default=float("nan")),
    }
    verdict = Verdict.all_of(
        (last["mean_D_of_G_z"] <= CONFIDENT,
         f"D is confident: mean D(G(z)) = {last['mean_D_of_G_z']:.3g} ≤ {CONFIDENT}"),
        (ratio >= MIN_RATIO,
         f"‖∇L_G^NS‖ / ‖∇L_G^MM‖ = {ratio:.1f} ≥ {MIN_RATIO:g} at that point"),
    )

    fig, (ax_norm, ax_ratio) = new_figure(ncols=2)
    d_values = [r["mean_D_of_G_z"] for r in rows]
    ax_norm.plot(d_values, [r["grad_norm_mm"] for r in rows], "o-", label="minimax log(1 − D)")
    ax_norm.plot(d_values, [r["grad_norm_ns"] for r in rows], "s-", label="non-saturating −log D")
    ax_norm.set(xscale="log", yscale="log", xlabel="mean D(G(z))",
                ylabel="‖∇_θg L_G‖", title="generator gradient vs D's confidence")
    ax_norm.invert_xaxis()
    ax_norm.legend()
    ax_ratio.plot([r["d_steps"] for r in rows],
                  [r["grad_norm_ns"] / r["grad_norm_mm"] for r in rows], "o-")
    ax_ratio.axhline(MIN_RATIO, color="gray", ls="--", lw=0.8)
    ax_ratio.set(yscale="log", xlabel="discriminator steps", ylabel="NS / MM gradient norm",
                 title="ratio grows as D learns")
    return Result(metrics, verdict, [save_figure(fig, run, "ns_vs_mm_gradients")])
