"""A universal targeted adversarial patch, robust to placement, rotation and scale.

A CNN is trained on generated 32×32 ``shapes`` (circle, triangle, cross; one filled object of
side 20–35% of the image per picture, ``data.shapes``). A patch δ of side ``patch_size``
(10×10: ≤ 10% of the image at the largest scale) is trained by expectation over
transformations,

    δ* = argmax_δ E_{x, l, T} log P(A(δ, x, l, T) is class t),

on training images, with a fresh random location l, rotation (±20°) and scale (0.8–1.0) T per
image and step (``adversarial.train_patch``). It is then pasted into held-out test images whose
true class is not t, under fresh random transformations; the targeted success rate is the
fraction classified t. Baselines, measured on the same held-out images and placements: five
uniform-noise patches of the same size (the verdict uses the worst, i.e. the highest, rate)
and a plain white patch (reported: it shows the patch is not just "another bright object").

Verdict (explicit): patch area at the largest scale ≤ 10% of the image, targeted success
≥ 0.80, noise-patch success ≤ 0.10, and clean test accuracy ≥ 0.90 (a weak classifier must
not be what makes the patch succeed).

Choices and why (measured with this code, CPU):
- target = cross. Targets whose look-alike is a plain blob are confounded: with circle or
  square as the target a white 10×10 patch alone reached 50–99% "success".
- The classifier is trained with random-noise clutter: 30% of the training images carry a
  uniform-noise patch under the same random placements (20 patches from a separate seed; the
  baseline's noise patches are different ones). Without it, noise textures read as "cross"
  for some seeds (noise-patch success 0.03–0.60 across seeds 0–2).
- A well-trained CNN (16, 32, 64 channels, clean accuracy ≈ 1.0): smaller or less trained
  models both resist less and classify worse, which is what the clean-accuracy gate excludes.
- Measured (CPU, one thread; success / worst noise patch / clean accuracy): quick (450
  classifier steps) seed 0: 0.963 / 0.007 / 1.00, seed 2: 0.988 / 0.078 / 1.00; with 600
  steps seed 1: 0.724 / 0.052 / 1.00 (NOT reproduced); full seed 0: 0.972 / 0.004, seed 1:
  0.751 / 0.042 (NOT reproduced), seed 2: 0.967 / 0.015. The white patch: ≤ 0.01 everywhere.
  So the claim holds for 2 of 3 seeds; seed 1's classifier resists the patch. It is the
  classifier, not the attack: for seed 1, 1,000 patch steps (0.76–0.78), two initializations,
  batch 128, lr 0.03 or 0.3, a clipped margin loss instead of the log-likelihood (0.69–0.76)
  and training the patch on non-target images only (0.745) all stay below 0.80; less clutter
  in the classifier's training lowers it further (10%: 0.63), and weaker classifiers that
  the patch does fool (lr 1e-3: 0.92; 8/16/32 channels: 0.82) also fall for noise patches
  (0.26, 0.14 > 0.10).
- Digits (``--data digits``, upsampled to 32×32) do NOT reproduce the claim: ≈ 5–25% success
  at random placement (the evidence of a digit is spread over its whole shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import data
from ..adversarial import EOT, apply_patch, patch_fraction, predict, train_patch
from ..engine import make_generator, resolve_device
from ..nn.models import CNN2d
from .base import Result, Verdict, new_figure, save_figure, train_classifier

CLAIM = ("A patch covering at most 10% of the image, trained over random placements, rotations "
         "and scales, makes a classifier output the attacker's class on most held-out images, "
         "while random patches of the same size do not.")

MAX_FRACTION = 0.10
MIN_SUCCESS = 0.80
MAX_NOISE_SUCCESS = 0.10
MIN_CLEAN_ACCURACY = 0.90


@dataclass(frozen=True)
class Config:
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
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(train_steps=450, patch_steps=300)

    @classmethod
    def full(cls) -> Config:
        return cls()


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


def with_random_occluders(images: torch.Tensor, config: Config, eot: EOT) -> torch.Tensor:
    """A copy of ``images`` where the first ``occluded_fraction`` (in a seeded random order)
    carry a uniform-noise patch of the attack's size under the attack's transformations,
    ``occluder_patches`` different ones: clutter augmentation, so that the classifier learns
    to ignore random patches (they are drawn from other seeds than the baseline's)."""
    count = int(round(config.occluded_fraction * len(images)))
    if count == 0:
        return images
    generator = make_generator(config.seed + 10_000)
    chosen = torch.randperm(len(images), generator=generator)[:count]
    images = images.clone()
    for part in chosen.chunk(config.occluder_patches):
        noise = torch.rand((images.shape[1],) + (config.patch_size,) * 2, generator=generator)
        images[part] = apply_patch(images[part], noise, eot, rng=generator)
    return images


def run(config: Config, run) -> Result:
    device = resolve_device(config.device)
    x_train, y_train = load_images(config.data, "train", config.image_size, config.object_scale,
                                   config.classes, config.object_intensity,
                                   config.background_noise)
    x_test, y_test = load_images(config.data, "test", config.image_size, config.object_scale,
                                   config.classes, config.object_intensity,
                                   config.background_noise)
    eot = EOT(location=True, rotation=config.rotation, scale=config.scale)
    cluttered = with_random_occluders(x_train, config, eot)
    torch.manual_seed(config.seed)
    model = CNN2d(x_train.shape[1], int(y_train.max()) + 1, config.channels)
    train_classifier(model, (cluttered, y_train), steps=config.train_steps,
                     batch_size=config.batch_size, lr=config.lr, run=run, name="classifier",
                     device=device, seed=config.seed)
    x_test, y_test = x_test.to(device), y_test.to(device)
    clean_accuracy = float((predict(model, x_test) == y_test).float().mean())

    patch = train_patch(model, x_train, config.target, size=config.patch_size,
                        steps=config.patch_steps, transforms=eot, lr=config.patch_lr,
                        batch_size=config.batch_size, device=device, seed=config.seed, run=run,
                        name="patch", rng=make_generator(config.seed, device))
    held_out = x_test[y_test != config.target]
    patched = apply_patch(held_out, patch.to(device), eot,
                          rng=make_generator(config.seed + 1, device))
    predicted = predict(model, patched)
    success = float((predicted == config.target).float().mean())
    noise_rates = []
    for k in range(config.noise_patches):
        noise = torch.rand(patch.shape, generator=make_generator(config.seed + 100 + k))
        noisy = apply_patch(held_out, noise.to(device), eot,
                            rng=make_generator(config.seed + 1, device))
        noise_rates.append(float((predict(model, noisy) == config.target).float().mean()))
    noise_success = max(noise_rates)
    # a plain white patch: shows whether merely drawing a bright square of that size does it
    solid = apply_patch(held_out, torch.ones_like(patch).to(device), eot,
                        rng=make_generator(config.seed + 1, device))
    solid_success = float((predict(model, solid) == config.target).float().mean())
    fraction = patch_fraction((config.patch_size,) * 2, (config.image_size,) * 2,
                              max(config.scale))
    metrics = {
        "clean_accuracy": clean_accuracy,
        "target": config.target,
        "patch_fraction_max": fraction,
        "held_out_images": len(held_out),
        "targeted_success": success,
        "noise_success_per_patch": noise_rates,
        "noise_success_max": noise_success,
        "white_patch_success": solid_success,
        "accuracy_with_patch": float((predicted == y_test[y_test != config.target])
                                     .float().mean()),
    }
    verdict = Verdict.all_of(
        (fraction <= MAX_FRACTION,
         f"patch covers {fraction:.3f} ≤ {MAX_FRACTION} of the image at the largest scale"),
        (success >= MIN_SUCCESS,
         f"targeted success on held-out images {success:.3f} ≥ {MIN_SUCCESS}"),
        (noise_success <= MAX_NOISE_SUCCESS,
         f"random-noise patches: at most {noise_success:.3f} ≤ {MAX_NOISE_SUCCESS}"),
        (clean_accuracy >= MIN_CLEAN_ACCURACY,
         f"clean test accuracy {clean_accuracy:.3f} ≥ {MIN_CLEAN_ACCURACY}"),
    )

    shown = 6
    fig, axes = new_figure(ncols=shown + 1, nrows=2, width=1.6, height=1.8)
    axes = axes.reshape(2, shown + 1)
    axes[0, 0].imshow(patch[0].cpu(), cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title(f"patch (→{config.target})", fontsize=8)
    axes[1, 0].bar(["patch", "noise", "white"], [success, noise_success, solid_success],
                   color=["tab:red", "tab:gray", "tab:olive"])
    axes[1, 0].set(ylim=(0, 1), title="success", xlabel="")
    noisy_example = apply_patch(held_out[:shown], torch.rand(patch.shape, generator=make_generator(
        config.seed + 100)).to(device), eot, rng=make_generator(config.seed + 1, device))
    noisy_predicted = predict(model, noisy_example)
    for i in range(shown):
        axes[0, i + 1].imshow(patched[i, 0].cpu(), cmap="gray", vmin=0, vmax=1)
        axes[0, i + 1].set_title(f"→ {int(predicted[i])}", fontsize=8)
        axes[1, i + 1].imshow(noisy_example[i, 0].cpu(), cmap="gray", vmin=0, vmax=1)
        axes[1, i + 1].set_title(f"noise → {int(noisy_predicted[i])}", fontsize=8)
    for ax in list(axes[0]) + list(axes[1, 1:]):
        ax.set_xticks([])
        ax.set_yticks([])
    return Result(metrics, verdict, [save_figure(fig, run, "adversarial_patch")])
