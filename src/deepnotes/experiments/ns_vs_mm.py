"""Early in training the minimax generator loss saturates; the non-saturating one does not.

A freshly initialized generator G (MLP) produces samples far from the 8-mode ring. A
discriminator D is trained against these fixed samples with ``engine.fit`` (the GAN
discriminator loss), and at snapshots along the way we measure, at the same parameters, the
norm of the generator's gradient ‖∇_θg L_G‖ for

- minimax: L_G = E log(1 − D(G(z))), per-sample logit gradient −D(G(z)) → 0 as D rejects;
- non-saturating: L_G = −E log D(G(z)), per-sample logit gradient −(1 − D(G(z))) → −1.

The whole experiment is repeated for ``seeds`` independent draws (data, initializations,
noise, batch order: named random streams per seed). Two checks, each the mean over seeds with
its standard error: after the discriminator's training D is confident (mean D(G(z)) ≤ 0.05,
Goodfellow et al. 2014: "early in learning, when G is poor, D can reject samples with high
confidence"), and there the minimax gradient is at least 10× smaller than the non-saturating
one (judged on log₁₀ of the ratio: ≥ 1).
"""

from __future__ import annotations

import math
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
from .base import (
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    mean_and_se,
    new_figure,
    save_figure,
    unit_run,
)

CLAIM = ("With a confident discriminator early in training, the minimax generator loss "
         "log(1 − D(G(z))) saturates: its gradient is far smaller than that of the "
         "non-saturating loss −log D(G(z)).")
SECTION = 8
IMPLEMENTS = ("deepnotes.generative.losses",)
FORMULA = ("MM: L_G = E log(1 − D(G(z))), ∂L_G/∂ℓ = −D(G(z)) → 0 as D(G(z)) → 0;  "
           "NS: L_G = −E log D(G(z)), ∂L_G/∂ℓ = −(1 − D(G(z))) → −1  (ℓ = D's logit)")

#: "Far smaller": at least an order of magnitude (the claim), judged as log₁₀(NS/MM) ≥ 1.
MIN_LOG10_RATIO = 1.0
#: "A confident discriminator": mean D(G(z)) ≤ 0.05, i.e. D rejects the generator's samples
#: with ≥ 95% confidence (Goodfellow et al. 2014, §3: "D can reject samples with high
#: confidence").
CONFIDENT = 0.05


@dataclass(frozen=True)
class Config(ExperimentConfig):
    samples: int = 4096
    width: int = 128
    snapshots: int = 12
    steps_per_snapshot: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    probe: int = 1024
    seeds: int = 5

    @classmethod
    def quick(cls) -> Config:
        return cls(samples=2048, width=64, snapshots=8, steps_per_snapshot=25, seeds=3)


def _generator_gradient_norm(loss_fn, generator, discriminator, z) -> float:
    """‖∇_θg loss_fn(D(G(z)))‖₂ over all of G's parameters."""
    generator.zero_grad(set_to_none=True)
    loss_fn(discriminator(generator(z))).backward()
    return float(torch.sqrt(sum((p.grad**2).sum() for p in generator.parameters())))


def units(config: Config) -> list[dict]:
    """One sweep unit per seed index (streams ``data/<i>``, ``init/<i>``, ``noise/<i>``,
    ``batches/<i>/<snapshot>``)."""
    return [{"key": f"seed-{replicate}", "seed": replicate} for replicate in range(config.seeds)]


def run_unit(config: Config, unit: dict) -> dict:
    """Train D against a fixed untrained G's samples; the snapshots' gradient norms."""
    replicate = unit["seed"]
    streams = config.streams()
    ring = data.mixture_ring(config.samples, rng=streams.generator(f"data/{replicate}"))
    streams.manual_seed(f"init/{replicate}")
    G = Generator(2, 2, hidden=(config.width, config.width))
    D = Discriminator(2, hidden=(config.width, config.width))
    noise = streams.generator(f"noise/{replicate}")
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
                log_every=config.steps_per_snapshot,
                name=f"discriminator-{replicate}-{snapshot}", device=config.device,
                seed=streams.seed(f"batches/{replicate}/{snapshot}"), progress=False)
            D.cpu()
        with torch.no_grad():
            d_fake = float(torch.sigmoid(D(G(z_probe))).mean())
        rows.append({
            "d_steps": snapshot * config.steps_per_snapshot,
            "mean_D_of_G_z": d_fake,
            "grad_norm_mm": _generator_gradient_norm(minimax_generator_loss, G, D, z_probe),
            "grad_norm_ns": _generator_gradient_norm(nonsaturating_generator_loss, G, D, z_probe),
        })
    return {"rows": rows}


def _log10_ratio(row: dict[str, float]) -> float:
    return math.log10(row["grad_norm_ns"] / max(row["grad_norm_mm"], 1e-300))


def summarize(config: Config, unit_results: list[dict], run) -> Result:
    per_seed = [result["rows"] for result in unit_results]
    for replicate, rows in enumerate(per_seed):
        for snapshot, row in enumerate(rows):
            run.log({"seed_index": replicate, "snapshot": snapshot, **row})
    finals = [rows[-1] for rows in per_seed]
    confidence, confidence_se = mean_and_se([r["mean_D_of_G_z"] for r in finals])
    log_ratio, log_ratio_se = mean_and_se([_log10_ratio(r) for r in finals])
    metrics = {
        "seeds": config.seeds,
        "d_steps": config.snapshots * config.steps_per_snapshot,
        "final_mean_D_of_G_z": confidence, "final_mean_D_of_G_z_se": confidence_se,
        "final_log10_ratio_ns_over_mm": log_ratio, "final_log10_ratio_se": log_ratio_se,
        "final_ratio_ns_over_mm_geometric_mean": 10**log_ratio,
        "initial_ratio_ns_over_mm": [10 ** _log10_ratio(rows[0]) for rows in per_seed],
        "final_grad_norm_mm": [r["grad_norm_mm"] for r in finals],
        "final_grad_norm_ns": [r["grad_norm_ns"] for r in finals],
    }
    checks = [
        Check.at_most(f"D becomes confident: mean D(G(z)) after "
                      f"{metrics['d_steps']} discriminator steps (mean over {config.seeds} seeds)",
                      confidence, CONFIDENT, se=confidence_se),
        Check.at_least(f"there the MM gradient is ≥ 10× smaller: log₁₀(‖∇L_G^NS‖ / "
                       f"‖∇L_G^MM‖) (mean over {config.seeds} seeds; ratio "
                       f"{10**log_ratio:.1f}×)", log_ratio, MIN_LOG10_RATIO, se=log_ratio_se),
    ]

    fig, axes = new_figure(ncols=2)
    ax_norm, ax_ratio = axes
    for i, rows in enumerate(per_seed):
        d_values = [r["mean_D_of_G_z"] for r in rows]
        ax_norm.plot(d_values, [r["grad_norm_mm"] for r in rows], "o-", color="C0", ms=3,
                     label="minimax log(1 − D)" if i == 0 else None)
        ax_norm.plot(d_values, [r["grad_norm_ns"] for r in rows], "s-", color="C1", ms=3,
                     label="non-saturating −log D" if i == 0 else None)
        ax_ratio.plot([r["d_steps"] for r in rows], [10 ** _log10_ratio(r) for r in rows],
                      "o-", color="C2", ms=3)
    ax_norm.set(xscale="log", yscale="log", xlabel="mean D(G(z))",
                ylabel="‖∇_θg L_G‖", title="generator gradient vs D's confidence")
    ax_norm.invert_xaxis()
    ax_norm.legend()
    ax_ratio.axhline(10**MIN_LOG10_RATIO, color="gray", ls="--", lw=0.8)
    ax_ratio.set(yscale="log", xlabel="discriminator steps", ylabel="NS / MM gradient norm",
                 title=f"ratio grows as D learns ({config.seeds} seeds)")
    return Result(metrics, Verdict(checks), [save_figure(fig, run, "ns_vs_mm_gradients")])


run = unit_run(units, run_unit, summarize)
