"""A universal targeted adversarial patch, robust to placement, rotation and scale.

A CNN is trained on digits upsampled to 32×32. A patch δ of side ``patch_size`` (≤ 10% of
the image at the largest scale) is trained by expectation over transformations,

    δ* = argmax_δ E_{x, l, T} log P(A(δ, x, l, T) is class t),

on training images, with a fresh random location l, rotation and scale T per image and step
(``adversarial.train_patch``). It is then pasted into held-out test images (true class ≠ t)
under fresh random transformations; the targeted success rate is the fraction classified t.
Random patches of the same size (uniform noise) are the baseline.

Measured with this code (CPU, seed 0): on a well-trained CNN (test accuracy ≈ 0.9–0.96) a
universal 10×10 patch at random placement reaches only ≈ 5–10% targeted success (noise ≈ 1%),
so the ≥ 80% criterion is NOT reproduced on 32×32 upsampled digits. Probes: a 16×16 patch
(25% of the image) at random placement ≈ 22%; a fixed, centred 8×8 patch on 16×16 digits (25%)
≈ 93%; a poorly trained classifier (accuracy 0.70) ≈ 52%. Random placement is what small digit
CNNs resist: their evidence is spread over the whole digit and bounded pixels cannot create
super-stimuli, unlike the ImageNet networks of Brown et al.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import data
from ..adversarial import EOT, apply_patch, patch_fraction, predict, train_patch
from ..engine import fit, make_generator, resolve_device
from ..nn.models import CNN2d
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("A patch covering at most 10% of the image, trained over random placements, rotations "
         "and scales, makes a classifier output the attacker's class on most held-out images, "
         "while random patches of the same size do not.")

MAX_FRACTION = 0.10
MIN_SUCCESS = 0.80
MAX_NOISE_SUCCESS = 0.10


@dataclass(frozen=True)
class Config:
    data: str = "digits"
    image_size: int = 32
    channels: tuple[int, ...] = (16, 32, 64)
    train_steps: int = 800
    batch_size: int = 64
    lr: float = 3e-3
    target: int = 3
    patch_size: int = 10
    patch_steps: int = 1000
    patch_lr: float = 0.05
    rotation: float = 20.0
    scale: tuple[float, float] = (0.8, 1.0)
    noise_patches: int = 5
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(channels=(8, 16, 32), train_steps=250, patch_steps=150)

    @classmethod
    def full(cls) -> Config:
        return cls()


def load_images(name: str, split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits upsampled to size×size; other data sets resized (bilinear) to size×size."""
    if name == "digits":
        return data.digits_resized(split, size)
    x, y = data.load(name, split)
    if x.dim() != 4:
        raise ValueError(f"{name}: the patch experiment needs images (N, C, H, W)")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1), y


def run(config: Config, run) -> Result:
    device = resolve_device(config.device)
    x_train, y_train = load_images(config.data, "train", config.image_size)
    x_test, y_test = load_images(config.data, "test", config.image_size)
    torch.manual_seed(config.seed)
    model = CNN2d(x_train.shape[1], int(y_train.max()) + 1, config.channels)
    fit(model, F.cross_entropy, lambda p: torch.optim.Adam(p, lr=config.lr), (x_train, y_train),
        steps=config.train_steps, batch_size=config.batch_size,
        log_every=max(1, config.train_steps // 20), run=run, name="classifier", device=device,
        seed=config.seed)
    model.eval()
    x_test, y_test = x_test.to(device), y_test.to(device)
    clean_accuracy = float((predict(model, x_test) == y_test).float().mean())

    eot = EOT(location=True, rotation=config.rotation, scale=config.scale)
    patch = train_patch(model, x_train, config.target, size=config.patch_size,
                        steps=config.patch_steps, transforms=eot, lr=config.patch_lr,
                        batch_size=config.batch_size, device=device, seed=config.seed, run=run,
                        name="patch", generator=make_generator(config.seed, device))
    held_out = x_test[y_test != config.target]
    patched = apply_patch(held_out, patch.to(device), eot,
                          generator=make_generator(config.seed + 1, device))
    predicted = predict(model, patched)
    success = float((predicted == config.target).float().mean())
    noise_rates = []
    for k in range(config.noise_patches):
        noise = torch.rand(patch.shape, generator=make_generator(config.seed + 100 + k))
        noisy = apply_patch(held_out, noise.to(device), eot,
                            generator=make_generator(config.seed + 1, device))
        noise_rates.append(float((predict(model, noisy) == config.target).float().mean()))
    noise_success = max(noise_rates)
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
        "accuracy_with_patch": float((predicted == y_test[y_test != config.target])
                                     .float().mean()),
    }
    verdict = Verdict.all_of(
        (fraction <= MAX_FRACTION,
         f"patch covers {fraction:.3f} ≤ {MAX_FRACTION} of the image at the largest scale"),
        (success >= MIN_SUCCESS,
         f"targeted success on held-out images {success:.3f} ≥ {MIN_SUCCESS}"),
        (noise_success <= MAX_NOISE_SUCCESS,
         f"random patches: at most {noise_success:.3f} ≤ {MAX_NOISE_SUCCESS}"),
    )

    shown = 6
    fig, axes = new_figure(ncols=shown + 1, nrows=2, width=1.6, height=1.8)
    axes = axes.reshape(2, shown + 1)
    axes[0, 0].imshow(patch[0].cpu(), cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title(f"patch (→{config.target})", fontsize=8)
    axes[1, 0].bar(["patch", "noise"], [success, noise_success], color=["tab:red", "tab:gray"])
    axes[1, 0].set(ylim=(0, 1), title="success", xlabel="")
    noisy_example = apply_patch(held_out[:shown], torch.rand(patch.shape, generator=make_generator(
        config.seed + 100)).to(device), eot, generator=make_generator(config.seed + 1, device))
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
