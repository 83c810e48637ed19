"""A small convolutional GAN on the 8×8 digits, trained with the NS and the WGAN-GP losses.

Generator: z ∈ R^16 → linear → 2×2 maps → two transposed convolutions → 8×8 image in [0, 1].
Discriminator: two stride-2 convolutions and a linear output. Both trained by
``generative.train_gan`` on scikit-learn's digits (training split, 1,347 images), Adam, once
per loss and seed (named random streams per seed: initialization, training, sampling). The
samples come from an exponential moving average of the generator's weights (``ema`` = β,
θ̄ ← β θ̄ + (1 − β) θ after each generator step; Yazıcı et al. 2019), which smooths the
iterate-to-iterate jitter of GAN training; the raw generator's distance is reported beside it.

Quality is the Fréchet distance (FD) between generated and *test* images in the feature space
of a digits classifier that deepnotes trains once and caches (``generative.digits_classifier``).
Two yardsticks, both measured with the same number of images (the training split's size, so
the distances share the finite-sample bias): the **real-vs-real baseline** FD(training images,
test images), the smallest distance a perfect generator could show here, and the **untrained
generator's** FD. The verdict judges the best loss (lowest mean FD) on a log₁₀ scale, mean over
seeds with Student-t intervals:

- training helps: log₁₀(FD_untrained / FD_trained) ≥ 1 (at least 10× closer);
- the samples approach the data: log₁₀(FD_trained / FD_baseline) ≤ 1 (within 10× of the
  real-vs-real distance).

Mode collapse is reported per loss, not judged: the classifier labels the generated images and
a loss *collapses* when fewer than 8 of the 10 digits each get at least half their uniform
share (5%) of its samples (the test images cover all 10).

Measured (full preset, 3 seeds, one thread, ≈ 8 CPU-minutes): real-vs-real FD 0.665,
untrained 300. WGAN-GP: FD 3.05 / 3.14 / 2.44 (4.3× the baseline, 105× closer than untrained;
all 10 digits) — its raw generator, without the weight average, 8.2 / 5.9 / 5.1 (7.7–12× the
baseline). NS collapses onto one digit on every seed (FD 254–324, no better than untrained;
also with DCGAN's batch-norm generator and lr 2e-4, β = (0.5, 0.999), tried once). Issue 11's
"3.6× closer than untrained, 125× the baseline" matches the old quick preset (100 steps: 3.7×,
121× here); the old full recipe (2,000 steps, no average) reached 4.7× the baseline with
WGAN-GP on seed 0. The quick preset (20 generator steps) only runs the path: both checks are
undecided there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import data
from ..generative import (
    ConvDiscriminator,
    ConvGenerator,
    digits_classifier,
    frechet_distance_features,
    sample,
    train_gan,
)
from ..generative.metrics import class_shares, classifier_features
from .base import (
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    mean_and_se,
    new_figure,
    save_figure,
    short_run,
    t_quantile,
    unit_run,
)

CLAIM = ("A convolutional GAN trained on handwritten digits produces samples that approach the "
         "data: their classifier-feature Fréchet distance to held-out digits falls far below "
         "that of the untrained generator, toward the real-vs-real baseline.")
SECTION = 8
IMPLEMENTS = ("deepnotes.generative.gan", "deepnotes.generative.losses",
              "deepnotes.generative.metrics")
FORMULA = ("FD² = ‖μ_g − μ_r‖² + tr(Σ_g + Σ_r − 2 (Σ_g Σ_r)^{1/2}) on classifier features;  "
           "judged: FD_untrained / FD_trained ≥ 10 and FD_trained / FD(real train, real test) ≤ 10")

#: "Falls far below that of its untrained generator" (the claim): at least an order of
#: magnitude, log₁₀(FD_untrained / FD_trained) ≥ 1.
MIN_LOG10_IMPROVEMENT = 1.0
#: "Toward the real-vs-real baseline" (the claim; issue 11: judge against the baseline, not only
#: the untrained generator): within an order of magnitude of it, log₁₀(FD / FD_baseline) ≤ 1.
MAX_LOG10_OVER_BASELINE = 1.0
#: Collapse (reported, not judged): fewer than this many of the 10 digits get at least
#: COVERED_SHARE of a loss's samples (half the uniform 10%).
MIN_DIGITS_COVERED = 8
COVERED_SHARE = 0.05
ALPHA = 0.05
#: The generator-step budget of the claim (the full preset's); a shorter run can pass a check
#: but its shortfall is reported as undecided, not failed.
CLAIM_STEPS = 1000


@dataclass(frozen=True)
class Config(ExperimentConfig):
    losses: tuple[str, ...] = ("ns", "wgan-gp")
    steps: int = 1000
    batch_size: int = 64
    latent_dim: int = 16
    width: int = 32
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.9
    ema: float | None = 0.995
    seeds: int = 3

    @classmethod
    def quick(cls) -> Config:
        return cls(steps=20, batch_size=32, width=16, lr=2e-3, ema=0.8, seeds=2)


def units(config: Config) -> list[dict]:
    """One unit per (loss, seed index): each trains one GAN."""
    return [{"key": f"{loss}-{replicate}", "loss": loss, "replicate": replicate}
            for loss in config.losses for replicate in range(config.seeds)]


def _reference(classifier):
    """The training and test digits, the test set's classifier features."""
    x_train, _ = data.digits("train")
    x_test, _ = data.digits("test")
    return x_train, x_test, classifier_features(classifier, x_test)


def run_unit(config: Config, unit: dict) -> dict:
    """Train one (loss, seed index); FD of its samples before and after, and class shares
    (and, for seed index 0, 64 samples for the figure)."""
    loss, replicate = unit["loss"], unit["replicate"]
    classifier = digits_classifier()
    x_train, _, test_features = _reference(classifier)
    streams = config.streams()
    n = len(x_train)
    streams.manual_seed(f"init/{replicate}")
    G = ConvGenerator(config.latent_dim, config.width)
    D = ConvDiscriminator(config.width)

    def fd(images):
        return frechet_distance_features(classifier_features(classifier, images), test_features)

    fd_before = fd(sample(G, n, rng=streams.generator(f"eval/{replicate}")))
    trained = train_gan(
        G, D, x_train, loss=loss, steps=config.steps, batch_size=config.batch_size,
        optimizer="adam", lr=config.lr, betas=(config.beta1, config.beta2),
        log_every=max(1, config.steps // 30), run=None, name=f"digits-{loss}-{replicate}",
        device=config.device, seed=streams.seed(f"train/{replicate}"), progress=False,
        ema=config.ema,
    )
    final = trained.generator_ema if config.ema is not None else trained.generator
    generated = sample(final, n, rng=streams.generator(f"eval/{replicate}"))
    raw = sample(trained.generator, n, rng=streams.generator(f"eval/{replicate}"))
    shares = class_shares(classifier, generated)
    return {"fd_untrained": fd_before, "fd": fd(generated), "fd_raw_generator": fd(raw),
            "images": generated[:64].tolist() if replicate == 0 else None,
            "shares": shares.tolist(),
            "digits_covered": int((shares >= COVERED_SHARE).sum())}


def summarize(config: Config, unit_results: list[dict], run) -> Result:
    classifier = digits_classifier()
    x_train, x_test, test_features = _reference(classifier)
    baseline = frechet_distance_features(classifier_features(classifier, x_train), test_features)
    test_shares = class_shares(classifier, x_test)
    by_key = {unit["key"]: result for unit, result in zip(units(config), unit_results,
                                                          strict=True)}

    per_loss, grids = {}, {}
    for loss in config.losses:
        rows = [by_key[f"{loss}-{r}"] for r in range(config.seeds)]
        grids[loss] = torch.tensor(rows[0]["images"])
        improvement = [math.log10(r["fd_untrained"] / r["fd"]) for r in rows]
        over_baseline = [math.log10(r["fd"] / baseline) for r in rows]
        improvement_mean, improvement_se = mean_and_se(improvement)
        over_mean, over_se = mean_and_se(over_baseline)
        covered = [r["digits_covered"] for r in rows]
        per_loss[loss] = {
            "fd": [r["fd"] for r in rows], "fd_untrained": [r["fd_untrained"] for r in rows],
            "fd_raw_generator": [r["fd_raw_generator"] for r in rows],
            "fd_mean": mean_and_se([r["fd"] for r in rows])[0],
            "log10_improvement": improvement_mean,
            "log10_improvement_se": improvement_se if math.isfinite(improvement_se) else None,
            "log10_over_baseline": over_mean,
            "log10_over_baseline_se": over_se if math.isfinite(over_se) else None,
            "digits_covered": covered,
            "collapsed_seeds": sum(c < MIN_DIGITS_COVERED for c in covered),
            "class_shares_first_seed": [round(s, 4) for s in rows[0]["shares"]],
        }
        run.log({"loss": loss, **{k: v for k, v in per_loss[loss].items()
                                   if not isinstance(v, list)}})

    best = min(per_loss, key=lambda loss: per_loss[loss]["log10_over_baseline"])
    row = per_loss[best]
    z = t_quantile(config.seeds - 1, alpha=ALPHA)
    se_improvement = math.inf if row["log10_improvement_se"] is None else row[
        "log10_improvement_se"]
    se_over = math.inf if row["log10_over_baseline_se"] is None else row["log10_over_baseline_se"]
    checks = [
        short_run(Check.at_least(
            f"training helps: log₁₀(FD_untrained / FD_trained) of the best loss ({best}), mean "
            f"over {config.seeds} seeds ({10 ** row['log10_improvement']:.1f}× closer)",
            row["log10_improvement"], MIN_LOG10_IMPROVEMENT, se=se_improvement, z=z),
            config.steps, CLAIM_STEPS, "generator steps"),
        short_run(Check.at_most(
            f"samples approach the data: log₁₀(FD_trained / FD_real-vs-real) of the best loss "
            f"({best}), mean over {config.seeds} seeds ({10 ** row['log10_over_baseline']:.0f}× "
            f"the baseline {baseline:.3g})",
            row["log10_over_baseline"], MAX_LOG10_OVER_BASELINE, se=se_over, z=z),
            config.steps, CLAIM_STEPS, "generator steps"),
    ]
    metrics = {
        "fd_real_train_vs_test": baseline,
        "best_loss": best,
        "losses": per_loss,
        "collapsed_losses": [loss for loss, r in per_loss.items() if r["collapsed_seeds"]],
        "test_digits_covered": int((test_shares >= COVERED_SHARE).sum()),
    }

    panels = [("real (test)", x_test[:64])] + [(loss, grids[loss]) for loss in config.losses]
    fig, axes = new_figure(ncols=len(panels), width=3.2, height=3.4)
    for ax, (title, images) in zip(axes, panels, strict=True):
        tiles = images[:64, 0].reshape(8, 8, 8, 8).permute(0, 2, 1, 3).reshape(64, 64)
        ax.imshow(tiles.numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[], title=title)
    return Result(metrics, Verdict(checks), [save_figure(fig, run, "digits_gan_samples")])


run = unit_run(units, run_unit, summarize)
