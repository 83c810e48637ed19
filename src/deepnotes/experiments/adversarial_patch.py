"""A universal targeted adversarial patch, robust to placement, rotation and scale.

A CNN is trained on generated 32×32 ``shapes`` (circle, triangle, cross; one filled object of
side 20–35% of the image per picture, ``data.shapes``). A patch δ of side ``patch_size``
(10×10: ≤ 10% of the image at the largest scale) is trained by expectation over
transformations,

    δ* = argmax_δ E_{x, l, T} log P(A(δ, x, l, T) is class t),

on training images, with a fresh random location l, rotation (±20°) and scale (0.8–1.0) T per
image and step (``adversarial.train_patch``). It is then pasted into held-out test images whose
true class is not t, under fresh random transformations; the targeted success rate is the
fraction classified t. Baselines, measured on the same held-out images and placements:
``noise_patches`` uniform-noise patches of the same size (the verdict uses the worst, i.e. the
highest, rate) and a plain white patch (reported: it shows the patch is not just "another
bright object").

The claim is about a classifier, so it is judged on each of ``seeds`` independently trained
classifiers (each with its own initialization, batch order, clutter and patch; named random
streams ``.../k``; each a sweep unit, ``units``): per classifier, clean test accuracy ≥ 0.90
(a weak classifier must not be what makes the patch succeed), targeted success ≥ 0.80 and
worst noise-patch success ≤ 0.10, each rate with its binomial standard error; and one check
states on how many classifiers the claim holds (all are required). The patch area at the
largest scale ≤ 10% of the image is checked once (geometry, no noise).

Choices and why (measured with this code, CPU):
- target = cross. Targets whose look-alike is a plain blob are confounded: with circle or
  square as the target a white 10×10 patch alone reached 50–99% "success".
- The classifier is trained with random-noise clutter: 30% of the training images carry a
  uniform-noise patch under the same random placements (``occluder_patches`` patches from
  their own stream; the baseline's noise patches are different ones). Without it, noise
  textures read as "cross" for some classifiers (noise-patch success 0.03–0.60 across seeds).
- A well-trained CNN (16, 32, 64 channels, clean accuracy ≈ 1.0): smaller or less trained
  models both resist less and classify worse, which is what the clean-accuracy gate excludes.
- Measured (full preset, CPU, 667 held-out images per classifier; success / worst noise
  patch / clean accuracy): classifier 0: 0.627 ± 0.019 / 0.105 ± 0.012 / 1.00 (NOT
  reproduced), classifier 1: 0.957 / 0.042 / 1.00, classifier 2: 0.985 / 0.058 / 1.00; the
  white patch ≤ 0.002. The claim holds for 2 of 3 classifiers — as with the earlier seeding
  (0.972, 0.751, 0.967), where the resisting classifier resisted every patch-side change tried
  (1,000 steps, other learning rates, a margin loss, training on non-target images only:
  0.69–0.78). It is a property of some classifiers, not of the attack.
- The quick preset (one classifier, 24×24 images, a 7×7 patch, fewer steps) is a smoke run:
  a check it fails becomes undecided (``short_run``).
- Digits (``--data digits``, upsampled to 32×32) do NOT reproduce the claim: ≈ 5–25% success
  at random placement (the evidence of a digit is spread over its whole shape).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import data
from ..adversarial import EOT, apply_patch, patch_fraction, predict, train_patch
from ..engine import resolve_device
from ..nn.models import CNN2d
from .base import (
    FAILED,
    PASSED,
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    new_figure,
    save_figure,
    short_run,
    train_classifier,
    unit_run,
)

CLAIM = ("A patch covering at most 10% of the image, trained over random placements, rotations "
         "and scales, makes a classifier output the attacker's class on most held-out images, "
         "while random patches of the same size do not.")
SECTION = 5
IMPLEMENTS = ("deepnotes.adversarial.patch",)
FORMULA = ("δ* = argmax_δ E_{x, l, T} log P(f(A(δ, x, l, T)) = t), "
           "A = paste δ at location l under rotation/scale T\n"
           "success = P(f(A(δ*, x, l, T)) = t) over held-out x with label ≠ t")

#: the claim: "a patch covering at most 10% of the image" (Brown et al. 2017 use ≤ 10% too)
MAX_FRACTION = 0.10
#: the claim: "on most held-out images" — read as at least 80% (Brown et al. report > 80%
#: success at 10% of the image for placement-robust patches)
MIN_SUCCESS = 0.80
#: the claim: "random patches of the same size do not" — at most 10% targeted success
MAX_NOISE_SUCCESS = 0.10
#: the claim is about a working classifier: at least 90% clean test accuracy
MIN_CLEAN_ACCURACY = 0.90


@dataclass(frozen=True)
class Config(ExperimentConfig):
    data: str = "shapes"
    image_size: int = 32
    object_scale: tuple[float, float] = (0.2, 0.35)
    classes: tuple[str, ...] = ("circle", "triangle", "cross")
    object_intensity: tuple[float, float] = (0.6, 1.0)
    background_noise: float = 0.03
    channels: tuple[int, ...] = (16, 32, 64)
    train_steps: int = 800
    batch_size: int = 64
    lr: float = 3e-3
    target: int = 2
    patch_size: int = 10
    patch_steps: int = 1000
    patch_lr: float = 0.1
    rotation: float = 20.0
    scale: tuple[float, float] = (0.8, 1.0)
    noise_patches: int = 5
    occluded_fraction: float = 0.3
    occluder_patches: int = 20
    seeds: int = 3  # independently trained classifiers, each judged
    train_size: int | None = None  # first training images used (None: all)
    test_size: int | None = None  # first test images used (None: all)

    @classmethod
    def quick(cls) -> Config:
        return cls(seeds=1, image_size=24, patch_size=7, channels=(8, 16, 32), train_steps=300,
                   batch_size=32, patch_steps=150, train_size=1500, test_size=400)


#: The claim is about a trained classifier and a trained patch: the full preset's training
#: budget is the claim's; a shorter run can pass a check, not fail it (``short_run``).
CLAIM_BUDGET = Config()


def load_images(name: str, split: str, size: int, object_scale: tuple[float, float] = (0.2, 0.35),
                classes: tuple[str, ...] = ("circle", "triangle", "cross"),
                object_intensity: tuple[float, float] = (0.6, 1.0),
                background_noise: float = 0.03) -> tuple[torch.Tensor, torch.Tensor]:
    """Generated shapes (``data.shapes_split``) drawn at size×size; digits upsampled to
    size×size; other data sets resized (bilinear) to size×size."""
    if name == "shapes":
        generated = data.shapes_split(split, size, classes, scale=object_scale,
                                      intensity=object_intensity, noise=background_noise)
        return generated.images, generated.labels
    if name == "digits":
        return data.digits_resized(split, size)
    x, y = data.load(name, split)
    if x.dim() != 4:
        raise ValueError(f"{name}: the patch experiment needs images (N, C, H, W)")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1), y


def with_random_occluders(images: torch.Tensor, config: Config, eot: EOT, *,
                          rng: torch.Generator) -> torch.Tensor:
    """A copy of ``images`` where a random ``occluded_fraction`` of them carry a uniform-noise
    patch of the attack's size under the attack's transformations, ``occluder_patches``
    different ones, all drawn from ``rng``: clutter augmentation, so that the classifier
    learns to ignore random patches."""
    count = int(round(config.occluded_fraction * len(images)))
    if count == 0:
        return images
    chosen = torch.randperm(len(images), generator=rng)[:count]
    images = images.clone()
    for part in chosen.chunk(config.occluder_patches):
        noise = torch.rand((images.shape[1],) + (config.patch_size,) * 2, generator=rng)
        images[part] = apply_patch(images[part], noise, eot, rng=rng)
    return images


def _rate(hits: torch.Tensor) -> tuple[float, float]:
    """A proportion and its binomial standard error √(p(1 − p)/n)."""
    p = float(hits.float().mean())
    return p, math.sqrt(p * (1 - p) / len(hits))


def _images(config: Config, device) -> tuple[torch.Tensor, ...]:
    """``(x_train, y_train, x_test, y_test)``: the configured images, the first ``train_size`` /
    ``test_size`` of each split, the test images on ``device``."""
    x_train, y_train = load_images(config.data, "train", config.image_size, config.object_scale,
                                   config.classes, config.object_intensity,
                                   config.background_noise)
    x_test, y_test = load_images(config.data, "test", config.image_size, config.object_scale,
                                 config.classes, config.object_intensity,
                                 config.background_noise)
    x_train, y_train = x_train[: config.train_size], y_train[: config.train_size]
    x_test, y_test = x_test[: config.test_size].to(device), y_test[: config.test_size].to(device)
    return x_train, y_train, x_test, y_test


def units(config: Config) -> list[dict]:
    """The sweep units: one per independently trained classifier ``k`` (its own named random
    streams ``.../k``)."""
    return [{"key": f"classifier-{k}", "index": k} for k in range(config.seeds)]


def run_unit(config: Config, unit: dict) -> dict:
    """Train classifier ``k = unit["index"]`` and its patch; return its rates (each a pair
    [rate, standard error]) and what the figure shows (the patch and six patched held-out
    images, as nested lists)."""
    k = unit["index"]
    device = resolve_device(config.device)
    streams = config.streams()
    x_train, y_train, x_test, y_test = _images(config, device)
    eot = EOT(location=True, rotation=config.rotation, scale=config.scale)

    cluttered = with_random_occluders(x_train, config, eot, rng=streams.generator(f"clutter/{k}"))
    streams.manual_seed(f"init/{k}")
    model = CNN2d(x_train.shape[1], int(y_train.max()) + 1, config.channels)
    train_classifier(model, (cluttered, y_train), steps=config.train_steps,
                     batch_size=config.batch_size, lr=config.lr, run=None, name=f"classifier-{k}",
                     device=device, seed=streams.seed(f"batches/{k}"))
    clean = _rate(predict(model, x_test) == y_test)

    patch = train_patch(model, x_train, config.target, size=config.patch_size,
                        steps=config.patch_steps, transforms=eot, lr=config.patch_lr,
                        batch_size=config.batch_size, device=device,
                        seed=streams.seed(f"patch-batches/{k}"), run=None, name=f"patch-{k}",
                        rng=streams.generator(f"patch/{k}", device))
    held_out = x_test[y_test != config.target]

    def targeted(candidate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out images with ``candidate`` pasted — the same placements for every
        candidate — and whether each is classified as the target."""
        pasted = apply_patch(held_out, candidate.to(device), eot,
                             rng=streams.generator(f"placements/{k}", device))
        return pasted, predict(model, pasted) == config.target

    patched, hits = targeted(patch)
    noise_rates = []
    for j in range(config.noise_patches):
        noise = torch.rand(patch.shape, generator=streams.generator(f"noise/{k}/{j}"))
        noise_rates.append(_rate(targeted(noise)[1]))
    worst = max(range(len(noise_rates)), key=lambda j: noise_rates[j][0])
    return {
        "clean_accuracy": list(clean),
        "targeted_success": list(_rate(hits)),
        "noise_success_worst": list(noise_rates[worst]),
        "noise_success_per_patch": [rate for rate, _ in noise_rates],
        # a plain white patch: whether merely drawing a bright square of that size does it
        "white_patch_success": _rate(targeted(torch.ones_like(patch))[1])[0],
        "held_out_images": len(held_out),
        "patch": patch.detach().cpu().tolist(),
        "examples": patched[:6].detach().cpu().tolist(),
    }


def summarize(config: Config, unit_results: list[dict], run) -> Result:
    """The checks, metrics and figure from the classifiers' results (in ``units`` order)."""
    outcomes = unit_results
    fraction = patch_fraction((config.patch_size,) * 2, (config.image_size,) * 2,
                              max(config.scale))
    checks = [Check.exact(f"patch covers at most {MAX_FRACTION:.0%} of the image at the "
                          "largest scale", fraction <= MAX_FRACTION, value=fraction,
                          threshold=MAX_FRACTION, comparison="<=")]
    per_seed = []
    for k, outcome in enumerate(outcomes):
        trained = [(config.train_steps, CLAIM_BUDGET.train_steps, "classifier steps"),
                   (config.patch_steps, CLAIM_BUDGET.patch_steps, "patch steps")]
        own = [
            Check.at_least(f"classifier {k}: clean test accuracy", outcome["clean_accuracy"][0],
                           MIN_CLEAN_ACCURACY, se=outcome["clean_accuracy"][1]),
            Check.at_least(f"classifier {k}: targeted patch success on held-out images",
                           outcome["targeted_success"][0], MIN_SUCCESS,
                           se=outcome["targeted_success"][1]),
            Check.at_most(f"classifier {k}: worst random-noise patch's targeted success",
                          outcome["noise_success_worst"][0], MAX_NOISE_SUCCESS,
                          se=outcome["noise_success_worst"][1]),
        ]
        for done, budget, unit in trained:
            own = [short_run(check, done, budget, unit) for check in own]
        checks += own
        per_seed.append(own)
    holds = sum(all(c.outcome == PASSED for c in own) for own in per_seed)
    fails = sum(any(c.outcome == FAILED for c in own) for own in per_seed)
    count = f"the claim holds on {holds} of {config.seeds} classifiers (all required)"
    if fails:
        checks.append(Check.exact(count, False, value=holds, threshold=config.seeds,
                                  comparison=">="))
    elif holds < config.seeds:
        checks.append(Check.undecided(count, f"{config.seeds - holds} undecided", value=holds,
                                      threshold=config.seeds, comparison=">="))
    else:
        checks.append(Check.exact(count, True, value=holds, threshold=config.seeds,
                                  comparison=">="))
    verdict = Verdict(checks)

    metrics = {
        "target": config.target,
        "patch_fraction_max": fraction,
        "classifiers": config.seeds,
        "claim_holds_on": holds,
        "per_classifier": [
            {"clean_accuracy": o["clean_accuracy"][0],
             "targeted_success": o["targeted_success"][0],
             "targeted_success_se": o["targeted_success"][1],
             "noise_success_worst": o["noise_success_worst"][0],
             "noise_success_per_patch": o["noise_success_per_patch"],
             "white_patch_success": o["white_patch_success"],
             "held_out_images": o["held_out_images"]}
            for o in outcomes
        ],
    }

    fig, axes = new_figure(ncols=3, width=3.6, height=3.2)
    first = outcomes[0]
    patch = torch.tensor(first["patch"], dtype=torch.float32)
    axes[0].imshow(patch[0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"classifier 0's patch (→ class {config.target})", fontsize=9)
    examples = torch.tensor(first["examples"], dtype=torch.float32)[:, 0]
    axes[1].imshow(torch.cat(list(examples[:3]), dim=1).numpy(), cmap="gray", vmin=0, vmax=1)
    axes[1].set_title("held-out images with the patch", fontsize=9)
    positions = torch.arange(config.seeds, dtype=torch.float64)
    for offset, key, label, color in ((-0.27, "targeted_success", "patch", "tab:red"),
                                      (0.0, "noise_success_worst", "worst noise", "tab:gray"),
                                      (0.27, "white_patch_success", "white", "tab:olive")):
        heights = [o[key][0] if isinstance(o[key], list) else o[key] for o in outcomes]
        axes[2].bar(positions + offset, heights, width=0.27, label=label, color=color)
    axes[2].axhline(MIN_SUCCESS, color="tab:red", ls=":", lw=1)
    axes[2].axhline(MAX_NOISE_SUCCESS, color="k", ls=":", lw=1)
    axes[2].set_xticks(positions.tolist(), [str(k) for k in range(config.seeds)])
    axes[2].set(ylim=(0, 1.05), xlabel="classifier", ylabel="targeted success",
                title="success per classifier")
    axes[2].legend(fontsize=7)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    return Result(metrics, verdict, [save_figure(fig, run, "adversarial_patch")])


run = unit_run(units, run_unit, summarize)
