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

Several objects per image (``max_objects=K``, for detection): each image holds 0..K objects
(none with probability ``p_empty``, else a count uniform on 1..K); the objects' boxes are
placed by rejection sampling so that every pair in one image has box IoU ≤ ``max_iou``
(0: boxes may touch but not overlap). The result is a ``MultiShapes``: boxes padded to
(N, K, 4), labels padded with −1, and the per-image ``counts``. Without ``max_objects`` the
generator is the one-object one above, unchanged (same random draws, same images).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..core import checks
from ..core.rng import make_generator

__all__ = ["SHAPE_CLASSES", "MultiShapes", "Shapes", "shapes", "shapes_split"]

SHAPE_CLASSES = ("circle", "square", "triangle", "diamond", "cross")

# Multi-object placement: candidate positions drawn per pending image and round, and the
# number of rounds before placement is declared impossible (an engineering bound, not a claim).
PLACEMENT_TRIES = 64
PLACEMENT_ROUNDS = 50

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


@dataclass(frozen=True)
class MultiShapes:
    """Images with up to K objects each: ``images`` (N×1×size×size float32 in [0, 1]),
    ``boxes`` (N×K×4 float32: b_x, b_y, b_w, b_h normalized, object j of image i in row
    [i, j]; zeros in padding rows), ``labels`` (N×K int64 class indices, −1 in padding rows),
    ``counts`` (N,) int64 number of objects per image (objects fill rows 0..counts−1, in
    painting order) and the ``classes`` names."""

    images: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor
    counts: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def max_objects(self) -> int:
        """K, the padded number of rows per image."""
        return self.labels.shape[1]

    @property
    def valid(self) -> torch.Tensor:
        """(N, K) bool: which rows hold an object."""
        return self.labels >= 0

    def box_lists(self) -> list[torch.Tensor]:
        """Per image, its (counts[i], 4) boxes (b_x, b_y, b_w, b_h)."""
        return [self.boxes[i, :c] for i, c in enumerate(self.counts.tolist())]

    def label_lists(self) -> list[torch.Tensor]:
        """Per image, its (counts[i],) class labels."""
        return [self.labels[i, :c] for i, c in enumerate(self.counts.tolist())]


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
           seed: int = 0, rng: torch.Generator | None = None,
           max_objects: int | None = None, max_iou: float = 0.0) -> Shapes | MultiShapes:
    """``n`` images of ``size``×``size`` with one filled shape each (none with probability
    ``p_empty``); with ``max_objects=K``, up to K shapes each (a ``MultiShapes``).

    ``classes`` picks shapes from ``SHAPE_CLASSES`` (label = index in ``classes``); labels of
    the present objects are balanced (counts differ by at most one) and shuffled. ``scale``:
    the object's side 2r as a fraction of the image side, uniform in the range; its centre
    is uniform over the positions that keep it inside. ``intensity``: the object's grey level,
    uniform; ``background``: the background level, uniform; ``noise``: standard deviation of
    the Gaussian pixel noise. Values are clamped to [0, 1]. Randomness comes from
    ``rng`` (a CPU ``torch.Generator``), else from a rng seeded with ``seed``.

    ``max_objects`` (K ≥ 1, default None: the one-object generator): each image gets no object
    with probability ``p_empty``, else a number of objects uniform on {1, …, K}; every object
    has its own class, scale, position and intensity as above; labels over all objects are
    balanced and shuffled. Boxes within an image satisfy IoU(b_i, b_j) ≤ ``max_iou`` (in
    [0, 1)); positions are found by rejection sampling (``PLACEMENT_TRIES`` candidates per
    image and round, at most ``PLACEMENT_ROUNDS`` rounds, vectorized over images), and a
    ``ValueError`` says so when they cannot be found. Where objects overlap (``max_iou`` > 0)
    the later one is painted over the earlier. ``max_iou`` is ignored without ``max_objects``.
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
    if max_objects is not None:
        max_objects = checks.positive_int(max_objects, "max_objects")
        max_iou = checks.unit_interval(max_iou, "max_iou")
        return _multi_shapes(n, size, classes, max_objects, max_iou, p_empty,
                             (low_scale, high_scale), (low_int, high_int), (low_bg, high_bg),
                             noise, rng)

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


def _pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of centre-format squares a (…, 3: c_x, c_y, side) against b (…, k, 3), broadcast
    over the leading dimensions: (…, k). (Placement only; ``vision.boxes`` holds the general
    box IoU, and ``data`` does not import it.)"""
    ha, hb = a[..., None, 2] / 2, b[..., 2] / 2
    w = (torch.minimum(a[..., None, 0] + ha, b[..., 0] + hb)
         - torch.maximum(a[..., None, 0] - ha, b[..., 0] - hb)).clamp(min=0)
    h = (torch.minimum(a[..., None, 1] + ha, b[..., 1] + hb)
         - torch.maximum(a[..., None, 1] - ha, b[..., 1] - hb)).clamp(min=0)
    inter = w * h
    union = (a[..., None, 2] ** 2 + b[..., 2] ** 2 - inter).clamp(min=1e-12)
    return inter / union


def _place(counts: torch.Tensor, max_objects: int, scale: tuple[float, float],
           max_iou: float, rng: torch.Generator) -> torch.Tensor:
    """Squares (N, K, 3: c_x, c_y, side) with rows ≥ counts[i] zero, each inside the unit
    square and of IoU ≤ ``max_iou`` with the earlier ones of its image. Slot by slot: every
    image still needing an object in this slot draws ``PLACEMENT_TRIES`` candidates per round
    and takes the first acceptable one."""
    n = len(counts)
    placed = torch.zeros(n, max_objects, 3)
    low, high = scale
    for slot in range(max_objects):
        pending = (counts > slot).nonzero().squeeze(1)
        for _ in range(PLACEMENT_ROUNDS):
            if len(pending) == 0:
                break
            shape = (len(pending), PLACEMENT_TRIES)
            side = low + (high - low) * torch.rand(shape, generator=rng)
            cx = side / 2 + (1 - side) * torch.rand(shape, generator=rng)
            cy = side / 2 + (1 - side) * torch.rand(shape, generator=rng)
            candidates = torch.stack([cx, cy, side], dim=-1)  # (P, T, 3)
            if slot:
                earlier = placed[pending, None, :slot].expand(-1, PLACEMENT_TRIES, -1, -1)
                ok = (_pairwise_iou(candidates, earlier) <= max_iou).all(-1)
            else:
                ok = torch.ones(shape, dtype=torch.bool)
            found = ok.any(1)
            first = ok.float().argmax(1)  # the first acceptable try
            rows = found.nonzero().squeeze(1)
            placed[pending[rows], slot] = candidates[rows, first[rows]]
            pending = pending[~found]
        if len(pending):
            raise ValueError(
                f"could not place {slot + 1} objects with box IoU <= max_iou={max_iou} in "
                f"{len(pending)} image(s) after {PLACEMENT_ROUNDS * PLACEMENT_TRIES} tries: "
                f"lower max_objects or scale, or raise max_iou")
    return placed


def _multi_shapes(n: int, size: int, classes: tuple[str, ...], max_objects: int,
                  max_iou: float, p_empty: float, scale: tuple[float, float],
                  intensity: tuple[float, float], background: tuple[float, float],
                  noise: float, rng: torch.Generator) -> MultiShapes:
    """The ``max_objects`` path of ``shapes`` (arguments already validated)."""
    if max_iou == 0.0 and max_objects * scale[0] ** 2 > 1.0:
        raise ValueError(f"max_objects={max_objects} non-overlapping boxes of side at least "
                         f"scale[0]={scale[0]} cannot fit in one image (K * side^2 > 1): "
                         f"lower max_objects or scale, or raise max_iou")
    empty = torch.rand(n, generator=rng) < p_empty
    counts = torch.randint(1, max_objects + 1, (n,), generator=rng)
    counts = torch.where(empty, torch.zeros_like(counts), counts)
    valid = torch.arange(max_objects)[None, :] < counts[:, None]  # (N, K)
    total = int(valid.sum())
    labels = torch.full((n, max_objects), -1, dtype=torch.long)
    labels[valid] = (torch.arange(total) % len(classes))[torch.randperm(total, generator=rng)]
    placed = _place(counts, max_objects, scale, max_iou, rng)
    level = intensity[0] + (intensity[1] - intensity[0]) * torch.rand(n, max_objects,
                                                                      generator=rng)
    base = background[0] + (background[1] - background[0]) * torch.rand(n, generator=rng)
    pixel_noise = noise * torch.randn(n, 1, size, size, generator=rng)

    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    images = base.view(n, 1, 1) + pixel_noise[:, 0]
    for slot in range(max_objects):
        for index, name in enumerate(classes):  # rasterize only the rows of this class
            rows = (labels[:, slot] == index).nonzero().squeeze(1)
            if len(rows) == 0:
                continue
            m = len(rows)
            dx = u - placed[rows, slot, 0].view(m, 1, 1)
            dy = v - placed[rows, slot, 1].view(m, 1, 1)
            mask = _masks(name, dx, dy, (placed[rows, slot, 2] / 2).view(m, 1, 1))
            images[rows] = torch.where(mask, level[rows, slot].view(m, 1, 1)
                                       + pixel_noise[rows, 0], images[rows])
    images = images.clamp_(0.0, 1.0).float().unsqueeze(1)
    boxes = torch.cat([placed[..., :2], placed[..., 2:], placed[..., 2:]], dim=-1).float()
    boxes = torch.where(valid.unsqueeze(-1), boxes, torch.zeros_like(boxes))
    return MultiShapes(images, boxes, labels, counts.long(), classes)


def shapes_split(split: str = "train", size: int = 32,
                 classes: Sequence[str] = ("circle", "square", "triangle"),
                 **kwargs) -> Shapes:
    """The fixed split behind ``data.load("shapes", split)``: ``train`` has 3000 images
    (seed 1000), ``test`` 1000 (seed 2000), every image with an object unless ``p_empty`` is
    given; other keywords go to ``shapes``."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be one of {tuple(SPLIT_SIZES)}, got {split!r}")
    return shapes(SPLIT_SIZES[split], size, classes, seed=SPLIT_SEEDS[split], **kwargs)
