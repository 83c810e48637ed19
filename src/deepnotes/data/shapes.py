"""Generated images with one object (or none), its class and its bounding box.

Each image is ``size``×``size``, one channel, values in [0, 1]: a dark background (a uniform
level in ``background`` plus Gaussian pixel noise of standard deviation ``noise``) and, with
probability 1 − ``p_empty``, one filled shape of a random class, scale, position and
intensity. The object lies entirely inside the image.

The course's target for classification with localization is

    y = (p_c, b_x, b_y, b_w, b_h, c_1, ..., c_k)

with p_c = 1 when an object is present, (b_x, b_y) its box centre and (b_w, b_h) its box
width and height, all normalized by the image side (so in [0, 1]; x to the right, y down),
and c_1..c_k the one-hot class. ``Shapes.boxes`` holds (b_x, b_y, b_w, b_h), ``Shapes.present``
holds p_c, ``Shapes.labels`` the class index (−1 for an empty image), and
``Shapes.targets()`` assembles y.

Shapes (centre (c_x, c_y), half-side r, in normalized units; a pixel belongs to the object
when its centre satisfies the inequality):

- ``circle``: (u − c_x)² + (v − c_y)² ≤ r²
- ``square``: |u − c_x| ≤ r and |v − c_y| ≤ r
- ``triangle`` (pointing up): v ≤ c_y + r and |u − c_x| ≤ (v − (c_y − r)) / 2
- ``diamond``: |u − c_x| + |v − c_y| ≤ r
- ``cross`` (a plus sign, arms of half-width r/3): (|u − c_x| ≤ r and |v − c_y| ≤ r/3)
  or (|u − c_x| ≤ r/3 and |v − c_y| ≤ r)

Every shape's box is the square (c_x, c_y, 2r, 2r). Rasterization is vectorized over images
and pixels (one boolean mask per class on a meshgrid); nothing downloads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..core import checks
from ..core.rng import make_generator

__all__ = ["SHAPE_CLASSES", "Shapes", "shapes", "shapes_split"]

SHAPE_CLASSES = ("circle", "square", "triangle", "diamond", "cross")

# Fixed split for ``data.load("shapes", split)``: sizes and rng seeds.
SPLIT_SIZES = {"train": 3000, "test": 1000}
SPLIT_SEEDS = {"train": 1_000, "test": 2_000}


@dataclass(frozen=True)
class Shapes:
    """``images`` (N×1×size×size float32 in [0, 1]), ``labels`` (N,) int64 (−1: no object),
    ``boxes`` (N×4 float32: b_x, b_y, b_w, b_h normalized; zeros when no object),
    ``present`` (N,) bool (p_c) and the ``classes`` names (index = label)."""

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    present: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def targets(self) -> torch.Tensor:
        """y = (p_c, b_x, b_y, b_w, b_h, c_1..c_k), shape N × (5 + k); for an empty image
        everything after p_c is 0."""
        one_hot = torch.zeros(len(self), len(self.classes))
        rows = self.present.nonzero().squeeze(1)
        one_hot[rows, self.labels[rows]] = 1.0
        return torch.cat([self.present.float().unsqueeze(1), self.boxes, one_hot], dim=1)


def _check_range(value, name: str, low: float, high: float) -> tuple[float, float]:
    try:
        a, b = (checks.real(v, name) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of finite numbers, got "
                         f"{value!r}") from None
    if not (low <= a <= b <= high):
        raise ValueError(f"{name} must satisfy {low} <= low <= high <= {high}, got {value!r}")
    return a, b


def _masks(name: str, dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """The boolean mask of shape ``name`` from pixel offsets to the centre and half-side r."""
    adx, ady = dx.abs(), dy.abs()
    if name == "circle":
        return dx * dx + dy * dy <= r * r
    if name == "square":
        return (adx <= r) & (ady <= r)
    if name == "triangle":
        return (dy <= r) & (adx <= (dy + r) / 2)
    if name == "diamond":
        return adx + ady <= r
    if name == "cross":
        arm = r / 3
        return ((adx <= r) & (ady <= arm)) | ((adx <= arm) & (ady <= r))
    raise AssertionError(name)  # classes are validated before


def shapes(n: int, size: int = 32, classes: Sequence[str] = ("circle", "square", "triangle"),
           *, p_empty: float = 0.0, scale: tuple[float, float] = (0.25, 0.6),
           intensity: tuple[float, float] = (0.6, 1.0),
           background: tuple[float, float] = (0.0, 0.15), noise: float = 0.03,
           seed: int = 0, rng: torch.Generator | None = None) -> Shapes:
    """``n`` images of ``size``×``size`` with one filled shape each (none with probability
    ``p_empty``).

    ``classes`` picks shapes from ``SHAPE_CLASSES`` (label = index in ``classes``); labels of
    the present objects are balanced (counts differ by at most one) and shuffled. ``scale``:
    the object's side 2r as a fraction of the image side, uniform in the range; its centre
    is uniform over the positions that keep it inside. ``intensity``: the object's grey level,
    uniform; ``background``: the background level, uniform; ``noise``: standard deviation of
    the Gaussian pixel noise. Values are clamped to [0, 1]. Randomness comes from
    ``rng`` (a CPU ``torch.Generator``), else from a rng seeded with ``seed``.
    """
    n = checks.nonnegative_int(n, "n")
    size = checks.int_at_least(size, "size", 8)
    if isinstance(classes, str):
        raise ValueError(f"classes must be a sequence of shape names, got the string {classes!r}")
    classes = tuple(classes)
    unknown = [c for c in classes if c not in SHAPE_CLASSES]
    if not classes or unknown or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct names from {SHAPE_CLASSES}, got {classes!r}")
    p_empty = checks.probability(p_empty, "p_empty")
    low_scale, high_scale = _check_range(scale, "scale", 0.0, 1.0)
    if low_scale * size < 3:
        raise ValueError(f"scale[0] * size must be >= 3 pixels, got scale={scale!r}, size={size}")
    low_int, high_int = _check_range(intensity, "intensity", 0.0, 1.0)
    low_bg, high_bg = _check_range(background, "background", 0.0, 1.0)
    noise = checks.nonnegative_number(noise, "noise")
    if rng is None:
        rng = make_generator(seed)
    elif not isinstance(rng, torch.Generator):
        raise TypeError(f"rng must be a torch.Generator or None, got {type(rng).__name__}")

    def uniform(low: float, high: float, count: int = n) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, generator=rng)

    present = torch.rand(n, generator=rng) >= p_empty
    count = int(present.sum())
    labels = torch.full((n,), -1, dtype=torch.long)
    labels[present] = (torch.arange(count) % len(classes))[torch.randperm(count,
                                                                          generator=rng)]
    half = uniform(low_scale, high_scale) / 2
    cx = half + (1 - 2 * half) * torch.rand(n, generator=rng)
    cy = half + (1 - 2 * half) * torch.rand(n, generator=rng)
    level = uniform(low_int, high_int)
    base = uniform(low_bg, high_bg)
    pixel_noise = noise * torch.randn(n, 1, size, size, generator=rng)

    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    v, u = torch.meshgrid(centres, centres, indexing="ij")  # v: rows (y), u: columns (x)
    dx = u - cx.view(n, 1, 1)
    dy = v - cy.view(n, 1, 1)
    r = half.view(n, 1, 1)
    mask = torch.zeros(n, size, size, dtype=torch.bool)
    for index, name in enumerate(classes):
        mask = torch.where((labels == index).view(n, 1, 1), _masks(name, dx, dy, r), mask)

    images = base.view(n, 1, 1, 1) + pixel_noise
    images = torch.where(mask.unsqueeze(1), level.view(n, 1, 1, 1) + pixel_noise, images)
    images = images.clamp_(0.0, 1.0).float()
    boxes = torch.stack([cx, cy, 2 * half, 2 * half], dim=1).float()
    boxes = torch.where(present.unsqueeze(1), boxes, torch.zeros_like(boxes))
    return Shapes(images, labels.long(), boxes, present, classes)


def shapes_split(split: str = "train", size: int = 32,
                 classes: Sequence[str] = ("circle", "square", "triangle"),
                 **kwargs) -> Shapes:
    """The fixed split behind ``data.load("shapes", split)``: ``train`` has 3000 images
    (seed 1000), ``test`` 1000 (seed 2000), every image with an object unless ``p_empty`` is
    given; other keywords go to ``shapes``."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be one of {tuple(SPLIT_SIZES)}, got {split!r}")
    return shapes(SPLIT_SIZES[split], size, classes, seed=SPLIT_SEEDS[split], **kwargs)
