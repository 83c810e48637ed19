"""Adversarial patch (Brown et al. 2017) with expectation over transformations (EOT).

A patch δ (C × h × w) is pasted into image x by the operator A(δ, x, l, T): scaled by s,
rotated by angle r (T = (r, s)) and centred at location l. The targeted patch solves

    δ* = argmax_δ E_{x ~ X, l ~ L, T ~ T} log P(A(δ, x, l, T) is class t)

by stochastic gradient ascent: each minibatch draws images and fresh (l, r, s) per image.
A is built from ``affine_grid``/``grid_sample`` (bilinear), so the pasted image is
differentiable in δ; a mask warped with the same grid blends patch and image:
A(δ, x, l, T) = (1 − m)·x + warp(δ) with m = warp(1) (warp(δ) is already masked by the zero
padding outside the patch).

The patch is kept in ``bounds`` by the parameterization δ = low + (high − low)·sigmoid(v).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core import checks
from ..core.rng import make_generator
from ..engine import fit
from .attacks import Bounds, attack_mode, check_bounds

__all__ = ["EOT", "PatchedModel", "apply_patch", "patch_fraction", "train_patch"]


@dataclass(frozen=True)
class EOT:
    """The distribution of placements: ``location`` (True: centre uniform over the positions
    where the scaled, unrotated patch lies inside the image; False: the image centre),
    ``rotation`` (angle uniform in ±rotation degrees) and ``scale`` (side multiplier s uniform
    in [scale[0], scale[1]])."""

    location: bool = True
    rotation: float = 20.0
    scale: tuple[float, float] = (0.8, 1.0)

    def __post_init__(self):
        if not isinstance(self.location, bool):
            raise TypeError(f"location must be a bool, got {self.location!r}")
        object.__setattr__(self, "rotation", checks.nonnegative_number(self.rotation,
                                                                       "rotation"))
        try:
            low, high = (checks.real(v, "scale") for v in self.scale)
        except (TypeError, ValueError):
            raise ValueError(f"scale must be a pair (low, high) of finite numbers, got "
                             f"{self.scale!r}") from None
        if not (0 < low <= high):
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {self.scale}")
        object.__setattr__(self, "scale", (low, high))

    def sample(self, n: int, patch_hw: tuple[int, int], image_hw: tuple[int, int],
               rng: torch.Generator | None = None) -> torch.Tensor:
        """``n`` affine matrices θ (n × 2 × 3) mapping image coordinates to patch coordinates
        (the form ``affine_grid`` wants), in the normalized [−1, 1] coordinates."""
        (ph, pw), (height, width) = patch_hw, image_hw
        device = rng.device if rng is not None else "cpu"
        u = torch.rand(n, 4, generator=rng, device=device, dtype=torch.float64).cpu()
        low, high = self.scale
        s = low + (high - low) * u[:, 0]
        if (s.max() * ph > height) or (s.max() * pw > width):
            raise ValueError(f"a {ph}×{pw} patch at scale {high} does not fit a "
                             f"{height}×{width} image")
        angle = math.radians(self.rotation) * (2 * u[:, 1] - 1)
        kx, ky = s * pw / width, s * ph / height  # half-extent of the patch, normalized units
        if self.location:
            cx = (1 - kx) * (2 * u[:, 2] - 1)
            cy = (1 - ky) * (2 * u[:, 3] - 1)
        else:
            cx = cy = torch.zeros(n, dtype=torch.float64)
        # image point p (normalized) → pixels D_img p → undo translation and rotation, divide by
        # s → patch pixels → normalized patch units D_patch⁻¹:  q = D_patch⁻¹ R(−r)/s D_img (p − c)
        cos, sin = torch.cos(angle), torch.sin(angle)
        a11 = cos * (width / 2) / (s * pw / 2)
        a12 = sin * (height / 2) / (s * pw / 2)
        a21 = -sin * (width / 2) / (s * ph / 2)
        a22 = cos * (height / 2) / (s * ph / 2)
        theta = torch.stack([
            torch.stack([a11, a12, -(a11 * cx + a12 * cy)], dim=1),
            torch.stack([a21, a22, -(a21 * cx + a22 * cy)], dim=1),
        ], dim=1)
        return theta.float()


def _check_patch(patch: torch.Tensor, images: torch.Tensor) -> None:
    if not isinstance(patch, torch.Tensor) or patch.dim() != 3:
        raise ValueError("patch must be a tensor of shape (C, h, w)")
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError("images must be a tensor of shape (N, C, H, W)")
    if patch.shape[0] != images.shape[1]:
        raise ValueError(f"patch has {patch.shape[0]} channels, images have {images.shape[1]}")
    if patch.shape[1] > images.shape[2] or patch.shape[2] > images.shape[3]:
        raise ValueError(f"patch {tuple(patch.shape[1:])} is larger than the images "
                         f"{tuple(images.shape[2:])}")


def paste(images: torch.Tensor, patch: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """A(δ, x, l, T) for given affine matrices ``theta`` (n × 2 × 3); differentiable in δ."""
    n, channels, height, width = images.shape
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, [n, channels, height, width], align_corners=False)
    stacked = torch.cat([patch, torch.ones_like(patch[:1])]).unsqueeze(0).expand(n, -1, -1, -1)
    warped = F.grid_sample(stacked, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    mask = warped[:, channels:]
    return images * (1 - mask) + warped[:, :channels]


def apply_patch(images: torch.Tensor, patch: torch.Tensor, transforms: EOT = EOT(), *,
                rng: torch.Generator | None = None) -> torch.Tensor:
    """Paste ``patch`` into each image under a fresh random placement drawn from
    ``transforms`` (for evaluation on held-out images)."""
    _check_patch(patch, images)
    rng = checks.generator(rng)
    theta = transforms.sample(len(images), tuple(patch.shape[1:]), tuple(images.shape[2:]),
                              rng)
    return paste(images, patch.to(images), theta)


def patch_fraction(patch_hw: tuple[int, int], image_hw: tuple[int, int],
                   scale: float = 1.0) -> float:
    """Fraction of the image the patch covers at side multiplier ``scale``."""
    for name, hw in (("patch_hw", patch_hw), ("image_hw", image_hw)):
        if len(checks.dims(hw, name)) != 2:
            raise ValueError(f"{name} must be a pair (height, width), got {hw!r}")
    scale = checks.positive_number(scale, "scale")
    return (scale * patch_hw[0]) * (scale * patch_hw[1]) / (image_hw[0] * image_hw[1])


class PatchedModel(nn.Module):
    """classifier(A(δ, x, l, T)) with fresh (l, T) per call: the model ``engine.fit`` trains
    when it optimizes a patch. Only the patch is a parameter; the classifier stays in eval
    mode whatever ``train()`` is called with."""

    def __init__(self, classifier: nn.Module, channels: int, size: tuple[int, int],
                 transforms: EOT, bounds: Bounds, rng: torch.Generator):
        super().__init__()
        self.classifier = classifier
        self.transforms = transforms
        self.bounds = bounds
        self.rng = rng
        init = torch.rand((channels, *size), generator=rng, device=rng.device).cpu()
        low, high = bounds
        # v = logit of the initial patch's position inside the box
        self.logits = nn.Parameter(torch.logit(init.clamp(0.05, 0.95)))
        self.low, self.high = low, high

    def patch(self) -> torch.Tensor:
        """δ = low + (high − low)·sigmoid(v)."""
        return self.low + (self.high - self.low) * torch.sigmoid(self.logits)

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        theta = self.transforms.sample(len(images), tuple(self.logits.shape[1:]),
                                       tuple(images.shape[2:]), self.rng)
        return self.classifier(paste(images, self.patch(), theta))


def train_patch(model: nn.Module, images: torch.Tensor, target: int, *, size, steps: int,
                transforms: EOT = EOT(), lr: float = 0.1, batch_size: int = 64,
                bounds: Bounds = (0.0, 1.0), rng: torch.Generator | None = None,
                device="auto", seed: int = 0, run=None, name: str = "patch") -> torch.Tensor:
    """Train a targeted patch: maximize E_{x,l,T} log P(A(δ, x, l, T) is class ``target``).

    ``images`` (N, C, H, W) in ``bounds`` are the training images x; ``size`` is the patch side
    (an int) or (h, w); each of the ``steps`` Adam steps (learning rate ``lr``, on v) uses a
    minibatch of ``batch_size`` images with fresh transformations. Training goes through
    ``engine.fit`` (``run``/``name`` log it); ``rng`` draws the initial patch and the
    transformations (default: seeded with ``seed``). Returns δ, shape (C, h, w), on the CPU.
    The model keeps its mode and ``requires_grad`` flags; like any model given to ``fit`` it
    is moved to ``device``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError("images must be a tensor of shape (N, C, H, W)")
    low, high = check_bounds(bounds)
    if float(images.min()) < low or float(images.max()) > high:
        raise ValueError(f"images must lie inside bounds={bounds}")
    target = checks.nonnegative_int(target, "target")
    try:
        hw = (checks.positive_int(size, "size"),) * 2 if not isinstance(
            size, (tuple, list)) else tuple(checks.positive_int(v, "size") for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be a positive int or (h, w), got {size!r}") from None
    if len(hw) != 2:
        raise ValueError(f"size must be a positive int or (h, w), got {size!r}")
    if hw[0] > images.shape[2] or hw[1] > images.shape[3]:
        raise ValueError(f"size {hw} is larger than the images {tuple(images.shape[2:])}")
    steps = checks.positive_int(steps, "steps")
    batch_size = checks.positive_int(batch_size, "batch_size")
    lr = checks.positive_number(lr, "lr")
    if not isinstance(transforms, EOT):
        raise TypeError(f"transforms must be an EOT, got {type(transforms).__name__}")
    rng = rng if rng is not None else make_generator(seed)
    with attack_mode(model):
        patched = PatchedModel(model, images.shape[1], hw, transforms, (low, high), rng)
        targets = torch.full((len(images),), target, dtype=torch.long)
        fit(patched, F.cross_entropy, torch.optim.Adam([patched.logits], lr=lr),
            (images, targets), steps=steps, batch_size=min(batch_size, len(images)),
            log_every=max(1, steps // 20), run=run, name=name, device=device, seed=seed)
        return patched.patch().detach().cpu()
