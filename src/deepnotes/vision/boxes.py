"""Bounding boxes: format conversion, pairwise IoU and (batched) non-maximum suppression.

Two box formats, both as the last dimension (size 4) of a floating-point tensor:

- ``"xyxy"``: corners (x₁, y₁, x₂, y₂) with x₁ ≤ x₂ and y₁ ≤ y₂;
- ``"cxcywh"``: centre and size (b_x, b_y, b_w, b_h) with b_w, b_h ≥ 0 — the course's box
  (b_x, b_y, b_w, b_h) of the localization target and of ``data.shapes``.

x₁ = b_x − b_w/2, x₂ = b_x + b_w/2 (likewise for y); b_x = (x₁ + x₂)/2, b_w = x₂ − x₁.

Intersection over union of boxes A and B:

    IoU(A, B) = |A ∩ B| / |A ∪ B|,   |A ∩ B| = max(0, min(x₂ᴬ, x₂ᴮ) − max(x₁ᴬ, x₁ᴮ))
                                               · max(0, min(y₂ᴬ, y₂ᴮ) − max(y₁ᴬ, y₁ᴮ)),
                                     |A ∪ B| = |A| + |B| − |A ∩ B|

with the convention IoU = 0 when |A ∪ B| = 0 (two zero-area boxes), so a degenerate box never
produces NaN.

Greedy non-maximum suppression (NMS): sort the boxes by decreasing score (ties: lower index
first); walk down the list keeping a box unless a box kept before it overlaps it with
IoU > ``iou_threshold``; a suppressed box suppresses nothing. ``batched_nms`` does this
independently within each class (a box only suppresses boxes of its own class).
"""

from __future__ import annotations

import numpy as np
import torch

from ..core import checks

__all__ = ["BOX_FORMATS", "batched_nms", "box_area", "box_convert", "box_iou", "nms",
           "paired_box_iou"]

BOX_FORMATS = ("xyxy", "cxcywh")


def _boxes(value, name: str, fmt: str, *, ndim: int | None = None) -> torch.Tensor:
    """A floating tensor of boxes (last dimension 4, finite, with non-negative sizes)."""
    checks.tensor(value, name, floating=True, finite=True)
    if value.dim() == 0 or value.shape[-1] != 4:
        raise ValueError(f"{name} must have a last dimension of size 4 (one box per row), got "
                         f"shape {tuple(value.shape)}")
    if ndim is not None and value.dim() != ndim:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(value.shape)}")
    if value.numel():
        if fmt == "xyxy":
            sizes = value[..., 2:] - value[..., :2]
            what = "x2 >= x1 and y2 >= y1"
        else:
            sizes = value[..., 2:]
            what = "width and height >= 0"
        if bool((sizes < 0).any()):
            raise ValueError(f"{name} must hold {fmt} boxes with {what}")
    return value


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """``boxes`` (…, 4) from ``in_fmt`` to ``out_fmt`` (each ``"xyxy"`` or ``"cxcywh"``).

    cxcywh → xyxy: (b_x − b_w/2, b_y − b_h/2, b_x + b_w/2, b_y + b_h/2);
    xyxy → cxcywh: ((x₁ + x₂)/2, (y₁ + y₂)/2, x₂ − x₁, y₂ − y₁).
    The same format in and out returns a copy."""
    in_fmt = checks.choice(in_fmt, "in_fmt", BOX_FORMATS)
    out_fmt = checks.choice(out_fmt, "out_fmt", BOX_FORMATS)
    _boxes(boxes, "boxes", in_fmt)
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b = boxes[..., :2], boxes[..., 2:]
    if in_fmt == "cxcywh":
        return torch.cat([a - b / 2, a + b / 2], dim=-1)
    return torch.cat([(a + b) / 2, b - a], dim=-1)


def box_area(boxes: torch.Tensor, fmt: str = "xyxy") -> torch.Tensor:
    """Areas (…,) of ``boxes`` (…, 4): (x₂ − x₁)(y₂ − y₁), or b_w·b_h in ``"cxcywh"``."""
    fmt = checks.choice(fmt, "fmt", BOX_FORMATS)
    _boxes(boxes, "boxes", fmt)
    if fmt == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return boxes[..., 2] * boxes[..., 3]


def _iou_xyxy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of validated xyxy boxes a (…, 4) and b (…, 4) whose leading dimensions broadcast:
    a[:, None] against b[None] gives the (N, M) pairwise table, a against b the paired one."""
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    low = torch.maximum(a[..., :2], b[..., :2])   # (max x₁, max y₁)
    high = torch.minimum(a[..., 2:], b[..., 2:])  # (min x₂, min y₂)
    wh = (high - low).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a + area_b - inter
    positive = union > 0
    return torch.where(positive, inter / torch.where(positive, union, torch.ones_like(union)),
                       torch.zeros_like(union))


def _same_dtype_xyxy(a: torch.Tensor, b: torch.Tensor, fmt: str):
    if a.dtype != b.dtype:
        dtype = torch.promote_types(a.dtype, b.dtype)
        a, b = a.to(dtype), b.to(dtype)
    if fmt == "cxcywh":
        a, b = box_convert(a, "cxcywh", "xyxy"), box_convert(b, "cxcywh", "xyxy")
    return a, b


def box_iou(a: torch.Tensor, b: torch.Tensor, fmt: str = "xyxy") -> torch.Tensor:
    """Pairwise intersection over union: ``a`` (N, 4) and ``b`` (M, 4) in format ``fmt`` →
    (N, M) with entry [i, j] = IoU(a_i, b_j) = |a_i ∩ b_j| / |a_i ∪ b_j| (0 when the union has
    zero area, e.g. two zero-area boxes; never NaN). Values lie in [0, 1]."""
    fmt = checks.choice(fmt, "fmt", BOX_FORMATS)
    _boxes(a, "a", fmt, ndim=2)
    _boxes(b, "b", fmt, ndim=2)
    a, b = _same_dtype_xyxy(a, b, fmt)
    return _iou_xyxy(a[:, None, :], b[None, :, :])


def paired_box_iou(a: torch.Tensor, b: torch.Tensor, fmt: str = "xyxy") -> torch.Tensor:
    """Paired intersection over union: ``a`` and ``b`` (N, 4) in format ``fmt`` → (N,) with
    entry i = IoU(a_i, b_i), the diagonal of ``box_iou(a, b)`` without its N×N table."""
    fmt = checks.choice(fmt, "fmt", BOX_FORMATS)
    _boxes(a, "a", fmt, ndim=2)
    _boxes(b, "b", fmt, ndim=2)
    if len(a) != len(b):
        raise ValueError(f"a and b must hold the same number of boxes to pair them, got "
                         f"{len(a)} and {len(b)}")
    return _iou_xyxy(*_same_dtype_xyxy(a, b, fmt))


def _greedy(overlap: np.ndarray) -> list[int]:
    """Greedy suppression over boxes already sorted by score: ``overlap[i, j]`` says that box
    i, if kept, suppresses box j. Returns the kept positions in order."""
    suppressed = np.zeros(len(overlap), dtype=bool)
    kept = []
    for i in range(len(overlap)):
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed |= overlap[i]
    return kept


def _nms(boxes, scores, classes, iou_threshold, fmt) -> torch.Tensor:
    fmt = checks.choice(fmt, "fmt", BOX_FORMATS)
    _boxes(boxes, "boxes", fmt, ndim=2)
    checks.tensor(scores, "scores", ndim=1, floating=True)
    if bool(torch.isnan(scores).any()):
        raise ValueError("scores contains NaN")
    checks.same_length(boxes, "boxes", scores, "scores")
    threshold = checks.probability(iou_threshold, "iou_threshold")
    if classes is not None:
        checks.class_labels(classes, "classes", length=len(boxes))
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    sorted_boxes = boxes[order]
    if fmt == "cxcywh":
        sorted_boxes = box_convert(sorted_boxes, "cxcywh", "xyxy")
    overlap = _iou_xyxy(sorted_boxes[:, None, :], sorted_boxes[None, :, :]) > threshold
    if classes is not None:
        sorted_classes = classes[order]
        overlap &= sorted_classes[:, None] == sorted_classes[None, :]
    kept = _greedy(overlap.cpu().numpy())
    return order[torch.as_tensor(kept, dtype=torch.long, device=order.device)]


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, *,
        fmt: str = "xyxy") -> torch.Tensor:
    """Greedy non-maximum suppression.

    ``boxes`` (N, 4) in ``fmt``, ``scores`` (N,): visit boxes by decreasing score (stable:
    ties keep the lower index first); keep box i unless some kept box j has
    IoU(b_j, b_i) > ``iou_threshold`` (= the overlap bound, in [0, 1]). Returns the int64
    indices of the kept boxes, by decreasing score. Cost: one N×N IoU matrix, then a loop over
    the kept boxes."""
    return _nms(boxes, scores, None, iou_threshold, fmt)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor,
                iou_threshold: float, *, fmt: str = "xyxy") -> torch.Tensor:
    """Non-maximum suppression done separately for each class: ``classes`` (N,) int labels;
    box i suppresses box j only when both have the same label, IoU > ``iou_threshold`` and
    i comes first by score. Equivalent to running ``nms`` on each class and merging the kept
    indices by decreasing score (ties: lower index first), which is what is returned."""
    checks.tensor(classes, "classes", ndim=1, floating=False)
    return _nms(boxes, scores, classes, iou_threshold, fmt)
