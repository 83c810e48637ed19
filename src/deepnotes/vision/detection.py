"""Detection of several objects: a grid detector, its targets, decoding, and average precision.

**Grid detector** (the YOLO idea, Redmon et al. 2016, with one box per cell). The image is cut
into an S×S grid of cells; each cell (row i, column j) carries the localization head's
1 + 4 + k outputs

    (z, t̂_x, t̂_y, b̂_w, b̂_h, s_1..s_k)

with p̂ = σ(z) "an object's centre lies in this cell", the centre as an offset inside the cell
(t_x = S·b_x − j, t_y = S·b_y − i, in [0, 1]), the size (b_w, b_h) as a fraction of the image
side, and class logits s. The cell holding a box centre is *responsible* for that box: its
target row is (1, t_x, t_y, b_w, b_h, one-hot class); every other cell's row is (0, 0, …) and
only its presence term counts. The loss is ``losses.localization_loss`` applied to every cell
(a Bernoulli presence per cell; class and box only in responsible cells).

**Two centres in one cell.** A cell predicts one box, so it can be responsible for one box
only: ``grid_target`` keeps the larger box (by area; ties: the earlier one) and drops the
other, which the detector then cannot find (it counts as a miss in AP). With boxes of side at
least 1/S that do not overlap (``data.shapes(..., max_objects=K, max_iou=0, scale=(s, ·))``
with s ≥ 1/S) this never happens: two centres in one cell are less than 1/S apart in both x
and y, so the boxes would overlap. ``grid_target`` returns the number of dropped boxes.

**Decoding** (``decode_grid``): per cell, box (b_x, b_y) = ((j + t̂_x)/S, (i + t̂_y)/S),
(b_w, b_h) = (max(b̂_w, 0), max(b̂_h, 0)), class ĉ = argmax s, score p̂ · max softmax(s)
(probability of "an object of class ĉ here"); cells under ``score_threshold`` are dropped,
then per-class non-maximum suppression (``boxes.batched_nms``) removes duplicates when
``nms_iou`` is given. Neighbouring cells that both fire on one object give such duplicates.

**Average precision.** Detections are matched to ground truth by COCO's rule (Lin et al. 2014,
``pycocotools`` COCOeval): per image and class, detections in order of decreasing score
(stable) each take the not yet matched ground-truth box of the same class with the highest IoU
≥ t (ties: the later box), else count as false positives; at most ``max_detections`` per image
and class (COCO: 100). Over all images, per class, sorted by decreasing score: precision
P_n = TP_n / n and recall R_n = TP_n / G after the n best detections (G ground-truth boxes),
and the envelope P̃(r) = max_{R_n ≥ r} P_n.

- all-point AP (PASCAL VOC 2010+): AP = Σ_n (R_n − R_{n−1}) · P̃(R_n), the area under P̃;
- 101-point AP (COCO): AP = (1/101) Σ_{r ∈ {0, .01, …, 1}} P̃(r) (0 where recall r is never
  reached);
- COCO mAP@[.5:.95]: the 101-point AP averaged over t ∈ {0.50, 0.55, …, 0.95};

each averaged over the classes that have at least one ground-truth box (None when no class
has one). VOC's own devkit matches slightly differently (a detection whose best-overlapping box
is already taken is a false positive even if another box overlaps it by > 0.5, and it needs
IoU > 0.5 strictly); here both interpolations share COCO's matching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .. import losses
from ..core import checks
from ..nn.models import CNN2d
from .boxes import BOX_FORMATS, batched_nms, box_convert, box_iou

__all__ = [
    "COCO_IOU_THRESHOLDS", "COCO_RECALL_POINTS", "Detections", "GridDetector", "GridLoss",
    "Matches", "average_precision", "coco_map", "decode_grid", "grid_target",
    "match_detections", "matches_ap",
]

#: COCO's IoU thresholds 0.50:0.05:0.95 and recall points 0:0.01:1, computed as pycocotools
#: does (np.linspace), so the floating-point values agree exactly.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1,
                                  endpoint=True)
COCO_RECALL_POINTS = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1,
                                 endpoint=True)
INTERPOLATIONS = ("all-point", "101-point")


class Detections(NamedTuple):
    """The detections of one image: ``boxes`` (n, 4), ``scores`` (n,), ``classes`` (n,) int64."""

    boxes: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor


# ---------------------------------------------------------------------------------------------
# the model and its loss


class GridDetector(nn.Module):
    """A fully convolutional grid detector: images (N, C, H, W) → outputs (N, 5 + k, S, S),
    the localization head (z, t̂_x, t̂_y, b̂_w, b̂_h, s_1..s_k) on every cell of an S×S grid.

    Trunk: ``CNN2d``'s convolutional blocks (``channels``: one Conv 3×3 → [BatchNorm] → ReLU
    block per width, 2×2 max-pooling before every block but the first), so S = ⌈H / 2^(B−1)⌉
    for B blocks; ``grid_size`` says S for an image side. Head: the localization head's
    Linear → ReLU → Linear (``hidden`` units) applied to every cell's feature vector (1×1
    convolutions). With the defaults a cell's receptive field is 31 pixels, the whole of a
    32×32 image, so each cell sees its object whole.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 3,
                 channels: Sequence[int] = (16, 32, 32, 64), hidden: int = 64,
                 batch_norm: bool = False):
        super().__init__()
        self.num_classes = checks.positive_int(num_classes, "num_classes")
        hidden = checks.positive_int(hidden, "hidden")
        channels = checks.sequence(channels, "channels")
        self.features = CNN2d(in_channels, self.num_classes, channels,
                              batch_norm=batch_norm).features
        self.pools = sum(isinstance(m, nn.MaxPool2d) for m in self.features)
        width = [m for m in self.features if isinstance(m, nn.Conv2d)][-1].out_channels
        self.num_outputs = 5 + self.num_classes
        self.head = nn.Sequential(nn.Conv2d(width, hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, self.num_outputs, 1))

    def grid_size(self, image_size: int) -> int:
        """S for images of side ``image_size`` (⌈side / 2^pools⌉, max-pooling in ceil mode)."""
        side = checks.positive_int(image_size, "image_size")
        for _ in range(self.pools):
            side = -(-side // 2)
        return side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class GridLoss:
    """``losses.localization_loss`` on every cell, summed over cells and averaged over images:

        L = (1/N) Σ_images Σ_cells ℓ(outputs[n, :, i, j], target[n, i, j])

    ``outputs`` (N, 5 + k, S, S) from ``GridDetector``, ``target`` (N, S, S, 5 + k) from
    ``grid_target``; ``weights`` as in ``localization_loss`` (presence, class, box)."""

    def __init__(self, weights: dict[str, float] | None = None):
        self.weights = weights

    def __call__(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        checks.tensor(outputs, "outputs", ndim=4, floating=True)
        checks.tensor(target, "target", ndim=4, floating=True)
        n, c, s, s2 = outputs.shape
        if tuple(target.shape) != (n, s, s2, c):
            raise ValueError(f"target must have shape (N, S, S, 5 + k) = {(n, s, s2, c)} to "
                             f"match outputs {tuple(outputs.shape)}, got {tuple(target.shape)}")
        rows = outputs.permute(0, 2, 3, 1).reshape(-1, c)
        return losses.localization_loss(rows, target.reshape(-1, c), self.weights,
                                        reduction="sum") / n


# ---------------------------------------------------------------------------------------------
# targets and decoding


def _padded(boxes, labels, name_boxes: str = "boxes", name_labels: str = "labels"):
    checks.tensor(boxes, name_boxes, ndim=3, floating=True, finite=True)
    checks.tensor(labels, name_labels, ndim=2, floating=False)
    if boxes.shape[-1] != 4 or tuple(boxes.shape[:2]) != tuple(labels.shape):
        raise ValueError(f"{name_boxes} must have shape (N, K, 4) and {name_labels} (N, K), got "
                         f"{tuple(boxes.shape)} and {tuple(labels.shape)}")


def grid_target(boxes: torch.Tensor, labels: torch.Tensor, grid_size: int,
                num_classes: int) -> tuple[torch.Tensor, int]:
    """The grid target (N, S, S, 5 + k) of padded ground truth, and the number of boxes dropped
    because their cell already held a larger box.

    ``boxes`` (N, K, 4): (b_x, b_y, b_w, b_h) normalized to [0, 1] (``MultiShapes.boxes``);
    ``labels`` (N, K): class indices in [0, ``num_classes``), −1 for padding rows (ignored).
    The box with centre (b_x, b_y) belongs to cell (i, j) = (⌊S·b_y⌋, ⌊S·b_x⌋) (clipped to
    S − 1 at the far edge); that cell's row is (1, S·b_x − j, S·b_y − i, b_w, b_h, one-hot).
    Two centres in one cell: the larger box is kept (see the module docstring)."""
    _padded(boxes, labels)
    size = checks.positive_int(grid_size, "grid_size")
    k = checks.positive_int(num_classes, "num_classes")
    valid = labels >= 0
    if bool((labels[valid] >= k).any()) or bool((labels < -1).any()):
        raise ValueError(f"labels must hold class indices in [0, {k}) or -1 for padding")
    n = len(boxes)
    target = torch.zeros(n, size, size, 5 + k, dtype=boxes.dtype, device=boxes.device)
    image, slot = valid.nonzero(as_tuple=True)
    if len(image) == 0:
        return target, 0
    b = boxes[image, slot]
    if bool(((b[:, :2] < 0) | (b[:, :2] > 1)).any()) or bool((b[:, 2:] < 0).any()):
        raise ValueError("boxes must have centres in [0, 1] and sizes >= 0 (normalized "
                         "b_x, b_y, b_w, b_h)")
    col = (b[:, 0] * size).floor().long().clamp(0, size - 1)
    row = (b[:, 1] * size).floor().long().clamp(0, size - 1)
    cell = (image * size + row) * size + col
    # within each cell keep the largest box (ties: the earlier one): sort by area (descending,
    # stable), then by cell (stable), and take the first of each run of equal cells
    order = torch.sort(-(b[:, 2] * b[:, 3]), stable=True).indices
    order = order[torch.sort(cell[order], stable=True).indices]
    first = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    first[1:] = cell[order][1:] != cell[order][:-1]
    keep = order[first]
    i, j, n_idx = row[keep], col[keep], image[keep]
    kb = b[keep]
    rows = torch.zeros(len(keep), 5 + k, dtype=boxes.dtype, device=boxes.device)
    rows[:, 0] = 1.0
    rows[:, 1] = kb[:, 0] * size - j
    rows[:, 2] = kb[:, 1] * size - i
    rows[:, 3:5] = kb[:, 2:]
    rows[torch.arange(len(keep)), 5 + labels[image[keep], slot[keep]]] = 1.0
    target[n_idx, i, j] = rows
    return target, int(len(order) - len(keep))


def decode_grid(outputs: torch.Tensor, *, score_threshold: float = 0.0,
                nms_iou: float | None = None, fmt: str = "cxcywh") -> list[Detections]:
    """Detections of each image from grid outputs (N, 5 + k, S, S).

    Every cell gives one candidate: box ((j + t̂_x)/S, (i + t̂_y)/S, max(b̂_w, 0),
    max(b̂_h, 0)), class ĉ = argmax_c s_c, score σ(z) · max_c softmax(s)_c. Candidates with
    score ≤ ``score_threshold`` are dropped; with ``nms_iou`` (an IoU bound in [0, 1]) per-class
    NMS removes duplicates. Boxes are returned in ``fmt`` ("cxcywh" or "xyxy"), each image's
    detections by decreasing score when NMS ran, else in cell order (row-major)."""
    checks.tensor(outputs, "outputs", ndim=4, floating=True, finite=True)
    n, c, size, size2 = outputs.shape
    if c < 6 or size != size2:
        raise ValueError(f"outputs must have shape (N, 5 + k, S, S) with k >= 1, got "
                         f"{tuple(outputs.shape)}")
    score_threshold = checks.real(score_threshold, "score_threshold")
    if nms_iou is not None:
        nms_iou = checks.probability(nms_iou, "nms_iou")
    fmt = checks.choice(fmt, "fmt", BOX_FORMATS)
    with torch.no_grad():
        cells = outputs.detach().permute(0, 2, 3, 1).reshape(n, size * size, c)
        index = torch.arange(size, device=outputs.device, dtype=outputs.dtype)
        col = index.repeat(size)           # j of cell (i, j) at position i·S + j
        row = index.repeat_interleave(size)
        centre_x = (col + cells[..., 1]) / size
        centre_y = (row + cells[..., 2]) / size
        boxes = torch.stack([centre_x, centre_y, cells[..., 3].clamp(min=0),
                             cells[..., 4].clamp(min=0)], dim=-1)
        if fmt == "xyxy":
            boxes = box_convert(boxes, "cxcywh", "xyxy")
        probabilities, classes = torch.softmax(cells[..., 5:], dim=-1).max(dim=-1)
        scores = torch.sigmoid(cells[..., 0]) * probabilities
    result = []
    for b, s, k in zip(boxes, scores, classes, strict=True):
        keep = s > score_threshold
        b, s, k = b[keep], s[keep], k[keep]
        if nms_iou is not None:
            kept = batched_nms(b, s, k, nms_iou, fmt=fmt)
            b, s, k = b[kept], s[kept], k[kept]
        result.append(Detections(b, s, k))
    return result


# ---------------------------------------------------------------------------------------------
# matching and average precision


@dataclass(frozen=True)
class Matches:
    """Detections matched to ground truth at several IoU thresholds, per class.

    ``iou_thresholds`` (T,); for each class c in ``classes``: ``scores[c]`` (n_c,) the
    detections' scores, ``images[c]`` (n_c,) their image index, ``matched[c]`` (T, n_c) bool
    (true positive at threshold t), in COCO's order (by image, then by decreasing score within
    the image); ``ground_truth[c]`` (num_images,) the number of ground-truth boxes of class c
    in each image."""

    iou_thresholds: np.ndarray
    num_images: int
    classes: tuple[int, ...]
    scores: dict[int, np.ndarray]
    images: dict[int, np.ndarray]
    matched: dict[int, np.ndarray]
    ground_truth: dict[int, np.ndarray]


def _image_items(detections, ground_truth, fmt):
    """Validated per-image (det boxes xyxy, scores, classes, gt boxes xyxy, gt classes) as
    float64 / int64 tensors on the CPU."""
    detections = checks.sequence(detections, "detections")
    ground_truth = checks.sequence(ground_truth, "ground_truth")
    if len(detections) != len(ground_truth):
        raise ValueError(f"detections and ground_truth must have one entry per image, got "
                         f"{len(detections)} and {len(ground_truth)}")
    items = []
    for index, (det, gt) in enumerate(zip(detections, ground_truth, strict=True)):
        where = f"detections[{index}]"
        if not isinstance(det, (tuple, list)) or len(det) != 3:
            raise TypeError(f"{where} must be (boxes, scores, classes), got "
                            f"{type(det).__name__}")
        d_boxes, d_scores, d_classes = det
        checks.tensor(d_boxes, f"{where} boxes", ndim=2, floating=True, finite=True)
        checks.tensor(d_scores, f"{where} scores", ndim=1, floating=True, finite=True)
        checks.tensor(d_classes, f"{where} classes", ndim=1, floating=False)
        if not len(d_boxes) == len(d_scores) == len(d_classes):
            raise ValueError(f"{where}: boxes, scores and classes must have the same length, "
                             f"got {len(d_boxes)}, {len(d_scores)}, {len(d_classes)}")
        where_gt = f"ground_truth[{index}]"
        if not isinstance(gt, (tuple, list)) or len(gt) != 2:
            raise TypeError(f"{where_gt} must be (boxes, classes), got {type(gt).__name__}")
        g_boxes, g_classes = gt
        checks.tensor(g_boxes, f"{where_gt} boxes", ndim=2, floating=True, finite=True)
        checks.tensor(g_classes, f"{where_gt} classes", ndim=1, floating=False)
        if len(g_boxes) != len(g_classes):
            raise ValueError(f"{where_gt}: boxes and classes must have the same length, got "
                             f"{len(g_boxes)} and {len(g_classes)}")
        d_boxes = d_boxes.detach().cpu().double().reshape(-1, 4)
        g_boxes = g_boxes.detach().cpu().double().reshape(-1, 4)
        if fmt == "cxcywh":
            d_boxes = box_convert(d_boxes, "cxcywh", "xyxy")
            g_boxes = box_convert(g_boxes, "cxcywh", "xyxy")
        items.append((d_boxes, d_scores.detach().cpu().double(), d_classes.detach().cpu().long(),
                      g_boxes, g_classes.detach().cpu().long()))
    return items


def match_detections(detections: Sequence, ground_truth: Sequence, *,
                     iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
                     fmt: str = "xyxy", max_detections: int = 100) -> Matches:
    """Match detections to ground truth by COCO's rule at every IoU threshold (module
    docstring).

    ``detections``: per image a (boxes (n, 4), scores (n,), classes (n,)) triple (e.g.
    ``Detections`` from ``decode_grid``); ``ground_truth``: per image (boxes (m, 4), classes
    (m,)); boxes in ``fmt``. At most ``max_detections`` detections per image and class (the
    best-scoring) are kept."""
    fmt = checks.choice(fmt, "fmt", BOX_FORMATS)
    max_detections = checks.positive_int(max_detections, "max_detections")
    thresholds = np.asarray([checks.probability(t, "iou_thresholds")
                             for t in checks.sequence(iou_thresholds, "iou_thresholds")],
                            dtype=np.float64)
    if len(thresholds) == 0:
        raise ValueError("iou_thresholds must hold at least one threshold")
    items = _image_items(detections, ground_truth, fmt)
    bounds = np.minimum(thresholds, 1 - 1e-10)  # as COCOeval: IoU 1 still matches at t = 1
    classes = sorted({int(c) for item in items for c in torch.cat([item[2], item[4]]).tolist()})
    scores = {c: [] for c in classes}
    images = {c: [] for c in classes}
    matched = {c: [] for c in classes}
    counts = {c: np.zeros(len(items), dtype=np.int64) for c in classes}
    for index, (d_boxes, d_scores, d_classes, g_boxes, g_classes) in enumerate(items):
        iou_all = box_iou(d_boxes, g_boxes).numpy()  # (n, m), sliced per class below
        d_scores, d_classes, g_classes = d_scores.numpy(), d_classes.numpy(), g_classes.numpy()
        for c in set(d_classes.tolist()) | set(g_classes.tolist()):
            d_rows = np.flatnonzero(d_classes == c)
            g_rows = np.flatnonzero(g_classes == c)
            counts[c][index] = len(g_rows)
            if len(d_rows) == 0:
                continue
            order = np.argsort(-d_scores[d_rows], kind="stable")[:max_detections]
            d_rows = d_rows[order]
            iou = iou_all[np.ix_(d_rows, g_rows)]
            taken = np.zeros((len(thresholds), len(g_rows)), dtype=bool)
            hit = np.zeros((len(thresholds), len(d_rows)), dtype=bool)
            for d in range(len(d_rows) if len(g_rows) else 0):
                ok = ~taken & (iou[d][None, :] >= bounds[:, None])       # (T, m)
                best = np.where(ok, iou[d][None, :], -1.0)
                # the last ground-truth box with the highest IoU, as COCOeval's loop picks
                last = len(g_rows) - 1 - np.argmax(best[:, ::-1], axis=1)
                found = ok.any(axis=1)
                taken[found, last[found]] = True
                hit[:, d] = found
            scores[c].append(d_scores[d_rows])
            images[c].append(np.full(len(d_rows), index, dtype=np.int64))
            matched[c].append(hit)
    T = len(thresholds)
    return Matches(
        thresholds, len(items), tuple(classes),
        {c: np.concatenate(scores[c]) if scores[c] else np.zeros(0) for c in classes},
        {c: np.concatenate(images[c]) if images[c] else np.zeros(0, np.int64)
         for c in classes},
        {c: np.concatenate(matched[c], axis=1) if matched[c] else np.zeros((T, 0), bool)
         for c in classes},
        counts)


def _class_ap(scores: np.ndarray, matched: np.ndarray, total: int,
              interpolation: str) -> np.ndarray:
    """AP (T,) of one class from its detections' scores (n,), true-positive flags (T, n) and
    the number of ground-truth boxes ``total`` > 0."""
    order = np.argsort(-scores, kind="mergesort")  # stable, as COCOeval
    tp = np.cumsum(matched[:, order], axis=1, dtype=np.float64)
    fp = np.cumsum(~matched[:, order], axis=1, dtype=np.float64)
    recall = tp / total
    precision = tp / (tp + fp + np.spacing(1))  # COCOeval's guard against 0/0, kept as is
    # envelope: P̃ at position n is the best precision at any later position
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    result = np.zeros(len(matched))
    for t in range(len(matched)):
        if interpolation == "101-point":
            positions = np.searchsorted(recall[t], COCO_RECALL_POINTS, side="left")
            reached = positions < len(recall[t])
            result[t] = envelope[t][positions[reached]].sum() / len(COCO_RECALL_POINTS)
        else:
            previous = np.concatenate([[0.0], recall[t][:-1]])
            result[t] = float(((recall[t] - previous) * envelope[t]).sum())
    return result


def matches_ap(matches: Matches, *, interpolation: str = "101-point",
               images: np.ndarray | None = None) -> np.ndarray | None:
    """AP at each of ``matches.iou_thresholds`` (T,), averaged over the classes with at least
    one ground-truth box; None when there is none. ``interpolation``: "101-point" (COCO) or
    "all-point" (VOC 2010+). ``images``: optional image indices (with repeats) to evaluate on
    instead of all images once — a bootstrap resample; an image drawn r times counts r times."""
    if not isinstance(matches, Matches):
        raise TypeError(f"matches must be a Matches (from match_detections), got "
                        f"{type(matches).__name__}")
    interpolation = checks.choice(interpolation, "interpolation", INTERPOLATIONS)
    if images is None:
        weight = np.ones(matches.num_images, dtype=np.int64)
    else:
        images = np.asarray(images)
        if images.ndim != 1 or images.dtype.kind not in "iu" or (
                len(images) and (images.min() < 0 or images.max() >= matches.num_images)):
            raise ValueError(f"images must be a 1-D array of image indices in "
                             f"[0, {matches.num_images})")
        weight = np.bincount(images, minlength=matches.num_images)
    per_class = []
    for c in matches.classes:
        total = int((matches.ground_truth[c] * weight).sum())
        if total == 0:
            continue
        repeat = weight[matches.images[c]]
        scores = np.repeat(matches.scores[c], repeat)
        hit = np.repeat(matches.matched[c], repeat, axis=1)
        per_class.append(_class_ap(scores, hit, total, interpolation))
    if not per_class:
        return None
    return np.mean(per_class, axis=0)


def average_precision(detections: Sequence, ground_truth: Sequence, *,
                      iou_threshold: float = 0.5, interpolation: str = "all-point",
                      fmt: str = "xyxy", max_detections: int = 100) -> float | None:
    """Mean over classes of the average precision at one IoU threshold (default 0.5):
    ``interpolation`` "all-point" (PASCAL VOC 2010+, the area under the precision envelope) or
    "101-point" (COCO; at 0.5 this is COCOeval's AP@0.5). Arguments as in
    ``match_detections``; None when no image has a ground-truth box."""
    interpolation = checks.choice(interpolation, "interpolation", INTERPOLATIONS)
    threshold = checks.probability(iou_threshold, "iou_threshold")
    matches = match_detections(detections, ground_truth, iou_thresholds=[threshold], fmt=fmt,
                               max_detections=max_detections)
    ap = matches_ap(matches, interpolation=interpolation)
    return None if ap is None else float(ap[0])


def coco_map(detections: Sequence, ground_truth: Sequence, *, fmt: str = "xyxy",
             max_detections: int = 100) -> float | None:
    """COCO's mAP@[.5:.95]: the 101-point AP averaged over the IoU thresholds 0.50, 0.55, …,
    0.95 and the classes with a ground-truth box (COCOeval's first summary number, all areas,
    ``max_detections`` = 100). None when no image has a ground-truth box."""
    matches = match_detections(detections, ground_truth, fmt=fmt,
                               max_detections=max_detections)
    ap = matches_ap(matches, interpolation="101-point")
    return None if ap is None else float(ap.mean())
