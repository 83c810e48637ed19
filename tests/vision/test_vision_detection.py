"""Tests for detection: multi-object shapes, the grid target and decoding, and average
precision against pycocotools' COCOeval."""

import contextlib
import io

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from deepnotes import losses
from deepnotes.data.shapes import MultiShapes, shapes
from deepnotes.vision.boxes import box_convert, box_iou
from deepnotes.vision.detection import (
    Detections,
    GridDetector,
    GridLoss,
    average_precision,
    coco_map,
    decode_grid,
    grid_target,
    match_detections,
    matches_ap,
)

# ---------------------------------------------------------------------------------------------
# average precision against pycocotools


def coco_stats(detections, ground_truth, num_classes):
    """COCOeval's summary (stats[0] = mAP@[.5:.95], [1] = AP@.5, [2] = AP@.75) on xyxy boxes."""
    annotations = []
    for index, (boxes, classes) in enumerate(ground_truth):
        for (x1, y1, x2, y2), c in zip(boxes.tolist(), classes.tolist(), strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                "category_id": c + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    results = []
    for index, (boxes, scores, classes) in enumerate(detections):
        for (x1, y1, x2, y2), s, c in zip(boxes.tolist(), scores.tolist(), classes.tolist(),
                                          strict=True):
            results.append({"image_id": index + 1, "category_id": c + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s})
    truth = COCO()
    truth.dataset = {"images": [{"id": i + 1} for i in range(len(ground_truth))],
                     "annotations": annotations,
                     "categories": [{"id": c + 1} for c in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


def random_scene(seed, *, images=25, classes=3, jitter=2.0, quality=0.85):
    """Ground truth and detections in pixel units (xyxy): images with 0–5 objects (some empty),
    detections as jittered copies (0–3 per object: misses and duplicates), sometimes with the
    wrong class, plus false alarms (also on empty images), and tied scores."""
    rng = np.random.default_rng(seed)
    ground_truth, detections = [], []
    for _ in range(images):
        m = int(rng.integers(0, 6))
        corner = rng.uniform(0, 80, (m, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(4, 30, (m, 2))], axis=1)
        labels = rng.integers(0, classes, m)
        ground_truth.append((torch.tensor(boxes).reshape(-1, 4),
                             torch.tensor(labels, dtype=torch.long)))
        found, found_labels = [], []
        for box, label in zip(boxes, labels, strict=True):
            for _ in range(int(rng.integers(0, 4))):
                found.append(box + rng.normal(0, jitter, 4))
                found_labels.append(label if rng.random() < quality else rng.integers(classes))
        for _ in range(int(rng.integers(0, 3))):
            corner = rng.uniform(0, 80, 2)
            found.append(np.concatenate([corner, corner + rng.uniform(4, 30, 2)]))
            found_labels.append(rng.integers(classes))
        found = np.asarray(found).reshape(-1, 4)
        found[:, 2:] = np.maximum(found[:, 2:], found[:, :2] + 0.5)
        scores = np.round(rng.uniform(0, 1, len(found)), 1)  # one decimal: many ties
        detections.append(Detections(torch.tensor(found), torch.tensor(scores),
                                     torch.tensor(np.asarray(found_labels, dtype=np.int64))))
    return detections, ground_truth


@pytest.mark.parametrize("seed, jitter, quality", [(0, 2.0, 0.85), (1, 0.7, 1.0),
                                                    (2, 4.0, 0.6), (3, 1.0, 0.9)])
def test_ap_and_map_equal_cocoeval(seed, jitter, quality):
    detections, ground_truth = random_scene(seed, jitter=jitter, quality=quality)
    stats = coco_stats(detections, ground_truth, 3)
    assert coco_map(detections, ground_truth) == pytest.approx(stats[0], abs=1e-6)
    assert average_precision(detections, ground_truth, interpolation="101-point") == \
        pytest.approx(stats[1], abs=1e-6)
    assert average_precision(detections, ground_truth, iou_threshold=0.75,
                             interpolation="101-point") == pytest.approx(stats[2], abs=1e-6)
    # the same numbers from centre-format boxes
    centre_det = [Detections(box_convert(b, "xyxy", "cxcywh"), s, c) for b, s, c in detections]
    centre_gt = [(box_convert(b, "xyxy", "cxcywh"), c) for b, c in ground_truth]
    assert coco_map(centre_det, centre_gt, fmt="cxcywh") == pytest.approx(stats[0], abs=1e-6)


def test_cocoeval_tie_rule_and_class_without_ground_truth():
    # det 0 overlaps both ground-truth boxes by exactly 95/105; COCOeval gives it the later
    # one (B), so det 1 (= A) matches A at IoU 1; taking A first would leave det 1 only B at
    # IoU 90/110 < 0.85, a different mAP. Class 1 has a detection but no ground truth (and is
    # left out of the mean); image 2 is empty with a false alarm.
    gt = [(torch.tensor([[0.0, 0, 10, 10], [1.0, 0, 11, 10]]), torch.tensor([0, 0])),
          (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)),
          (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]
    det = [Detections(torch.tensor([[0.5, 0, 10.5, 10], [0.0, 0, 10, 10], [30.0, 30, 40, 40]]),
                      torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 0, 1])),
           Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long)),
           Detections(torch.tensor([[5.0, 5, 9, 9]]), torch.tensor([0.95]), torch.tensor([0]))]
    stats = coco_stats(det, gt, 2)
    assert coco_map(det, gt) == pytest.approx(stats[0], abs=1e-6)
    assert average_precision(det, gt, interpolation="101-point") == \
        pytest.approx(stats[1], abs=1e-6)
    assert average_precision(det, gt, iou_threshold=0.9, interpolation="101-point") == \
        pytest.approx(_coco_at(det, gt, 0.9), abs=1e-6)


def _coco_at(det, gt, threshold):
    """COCOeval's AP at one IoU threshold (classes 0 and 1), from its precision array."""
    annotations = []
    for index, (boxes, classes) in enumerate(gt):
        for (x1, y1, x2, y2), c in zip(boxes.tolist(), classes.tolist(), strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                "category_id": c + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    results = [{"image_id": i + 1, "category_id": c + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                "score": s}
               for i, (boxes, scores, classes) in enumerate(det)
               for (x1, y1, x2, y2), s, c in zip(boxes.tolist(), scores.tolist(),
                                                 classes.tolist(), strict=True)]
    truth = COCO()
    truth.dataset = {"images": [{"id": i + 1} for i in range(len(gt))],
                     "annotations": annotations, "categories": [{"id": 1}, {"id": 2}]}
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.params.iouThrs = np.array([threshold])
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, :, 0, -1]  # (recall, class), all areas
    return float(precision[precision > -1].mean())


def test_all_point_and_101_point_by_hand():
    # one class, 3 ground-truth boxes; by score: TP, FP, TP → precision 1, 1/2, 2/3 at recall
    # 1/3, 1/3, 2/3; envelope 1, 2/3, 2/3
    boxes = torch.tensor([[0.0, 0, 1, 1], [2.0, 0, 3, 1], [4.0, 0, 5, 1]])
    gt = [(boxes, torch.zeros(3, dtype=torch.long))]
    det = [Detections(torch.tensor([[0.0, 0, 1, 1], [6.0, 0, 7, 1], [2.0, 0, 3, 1]]),
                      torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.long))]
    assert average_precision(det, gt) == pytest.approx(1 / 3 + 1 / 3 * 2 / 3)
    # 101 recall points: r = 0 … 0.33 at precision 1, r = 0.34 … 0.66 at 2/3, r ≥ 0.67 unreached
    assert average_precision(det, gt, interpolation="101-point") == \
        pytest.approx((34 + 33 * 2 / 3) / 101)
    # a false positive below every true positive does not change the all-point AP
    low = [Detections(torch.cat([det[0].boxes, torch.tensor([[8.0, 0, 9, 1]])]),
                      torch.tensor([0.9, 0.8, 0.7, 0.1]), torch.zeros(4, dtype=torch.long))]
    assert average_precision(low, gt) == pytest.approx(average_precision(det, gt))
    # perfect detections: AP 1 at every threshold; no ground truth at all: None
    perfect = [Detections(boxes, torch.tensor([0.5, 0.4, 0.3]), torch.zeros(3, dtype=torch.long))]
    assert average_precision(perfect, gt) == 1.0 and coco_map(perfect, gt) == pytest.approx(1.0)
    empty = [(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]
    assert average_precision(det, empty) is None and coco_map(det, empty) is None


def test_matches_bootstrap_weights_equal_repeated_images():
    detections, ground_truth = random_scene(5, images=6, jitter=1.0)
    matches = match_detections(detections, ground_truth)
    images = np.array([0, 0, 3, 5, 5, 5])
    repeated = match_detections([detections[i] for i in images],
                                [ground_truth[i] for i in images])
    assert np.allclose(matches_ap(matches, images=images), matches_ap(repeated))
    assert np.allclose(matches_ap(matches, images=np.arange(6)), matches_ap(matches))


# ---------------------------------------------------------------------------------------------
# multi-object shapes


def test_multi_shapes_layout_and_non_overlap():
    generated = shapes(300, 32, ("circle", "square", "triangle"), max_objects=4,
                       scale=(0.2, 0.35), p_empty=0.1, noise=0.0, seed=3)
    assert isinstance(generated, MultiShapes) and len(generated) == 300
    assert generated.images.shape == (300, 1, 32, 32)
    assert generated.boxes.shape == (300, 4, 4) and generated.labels.shape == (300, 4)
    counts = generated.counts
    assert counts.min() >= 0 and counts.max() <= 4
    assert set(counts.tolist()) == {0, 1, 2, 3, 4}
    assert 10 <= int((counts == 0).sum()) <= 60  # p_empty = 0.1
    assert torch.equal(generated.valid.sum(1), counts)
    assert (generated.labels[~generated.valid] == -1).all()
    assert (generated.boxes[~generated.valid] == 0).all()
    present = generated.labels[generated.valid]
    assert int(torch.bincount(present).max() - torch.bincount(present).min()) <= 1
    corners = box_convert(generated.boxes[generated.valid], "cxcywh", "xyxy")
    assert (corners >= -1e-6).all() and (corners <= 1 + 1e-6).all()
    for boxes in generated.box_lists():
        iou = box_iou(boxes, boxes, fmt="cxcywh").fill_diagonal_(0)
        assert not (iou > 0).any()
    # every object's pixels are bright, and nothing is bright outside the boxes
    bright = generated.images[:, 0] > 0.45
    grid = (torch.arange(32) + 0.5) / 32
    inside = torch.zeros_like(bright)
    for i, boxes in enumerate(box_convert(generated.boxes, "cxcywh", "xyxy")):
        for x1, y1, x2, y2 in boxes[: int(counts[i])].tolist():
            block = ((grid[None, :] >= x1 - 1 / 64) & (grid[None, :] <= x2 + 1 / 64)
                     & (grid[:, None] >= y1 - 1 / 64) & (grid[:, None] <= y2 + 1 / 64))
            assert (bright[i] & block).sum() >= 4
            inside[i] |= block
    assert not (bright & ~inside).any()
    assert not bright[counts == 0].any()


def test_multi_shapes_overlap_bound_reproducibility_and_errors():
    loose = shapes(200, 24, max_objects=3, max_iou=0.3, scale=(0.3, 0.5), seed=1)
    worst = max(float(box_iou(b, b, fmt="cxcywh").fill_diagonal_(0).max()) if len(b) > 1
                else 0.0 for b in loose.box_lists())
    assert 0 < worst <= 0.3
    a = shapes(20, 24, max_objects=3, seed=7)
    b = shapes(20, 24, max_objects=3, rng=torch.Generator().manual_seed(7))
    for name in ("images", "boxes", "labels", "counts"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.images, shapes(20, 24, max_objects=3, seed=8).images)
    # the one-object generator is untouched by the new keywords' defaults
    assert torch.equal(shapes(10, seed=2).images, shapes(10, seed=2, max_iou=0.5).images)
    with pytest.raises(ValueError, match="max_objects"):  # 9 boxes of side ≥ 0.4 cannot fit
        shapes(4, 32, max_objects=9, scale=(0.4, 0.5), seed=0)
    with pytest.raises(ValueError, match="could not place"):  # fits by area, not in practice
        shapes(20, 32, max_objects=6, scale=(0.38, 0.4), seed=0)


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(max_objects=0), ValueError, "max_objects"),
    (dict(max_objects=2.5), TypeError, "max_objects"),
    (dict(max_objects=2, max_iou=1.0), ValueError, "max_iou"),
    (dict(max_objects=2, max_iou=-0.1), ValueError, "max_iou"),
    (dict(max_objects=2, max_iou="0.1"), TypeError, "max_iou"),
])
def test_multi_shapes_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        shapes(4, **kwargs)


# ---------------------------------------------------------------------------------------------
# grid target, decoding, model and loss


def as_logits(target: torch.Tensor) -> torch.Tensor:
    """Grid outputs (N, 5 + k, S, S) that say exactly what ``target`` says."""
    outputs = target.clone()
    outputs[..., 0] = torch.where(target[..., 0] == 1, 30.0, -30.0)
    outputs[..., 5:] = 30.0 * target[..., 5:]
    return outputs.permute(0, 3, 1, 2)


def test_grid_target_decode_round_trip():
    generated = shapes(60, 32, max_objects=4, scale=(0.25, 0.4), p_empty=0.2, seed=4)
    target, dropped = grid_target(generated.boxes, generated.labels, 4, 3)
    assert dropped == 0  # side ≥ 1/S and no overlap: never two centres in a cell
    assert target.shape == (60, 4, 4, 8)
    assert torch.equal(target[..., 0].sum((1, 2)).long(), generated.counts)
    assert ((target[..., 1:3] >= 0) & (target[..., 1:3] <= 1)).all()
    decoded = decode_grid(as_logits(target), score_threshold=0.5)
    for found, boxes, labels in zip(decoded, generated.box_lists(), generated.label_lists(),
                                    strict=True):
        assert len(found.boxes) == len(boxes)
        order = torch.argsort(boxes[:, 0] * 10 + boxes[:, 1])
        found_order = torch.argsort(found.boxes[:, 0] * 10 + found.boxes[:, 1])
        assert torch.allclose(found.boxes[found_order], boxes[order], atol=1e-6)
        assert torch.equal(found.classes[found_order], labels[order])
        assert (found.scores > 0.99).all()
    xyxy = decode_grid(as_logits(target), score_threshold=0.5, fmt="xyxy")
    assert torch.allclose(xyxy[0].boxes, box_convert(decoded[0].boxes, "cxcywh", "xyxy"))
    gt = list(zip(generated.box_lists(), generated.label_lists(), strict=True))
    assert coco_map(decoded, gt, fmt="cxcywh") == pytest.approx(1.0)


def test_grid_target_collision_keeps_the_larger_box():
    boxes = torch.tensor([[[0.30, 0.30, 0.1, 0.1], [0.40, 0.45, 0.2, 0.2],
                           [0.9, 0.9, 0.1, 0.1], [0.0, 0.0, 0.0, 0.0]]])
    labels = torch.tensor([[0, 1, 2, -1]])
    target, dropped = grid_target(boxes, labels, 2, 3)
    assert dropped == 1
    assert target[0, 0, 0].tolist() == pytest.approx([1, 0.8, 0.9, 0.2, 0.2, 0, 1, 0])
    assert target[0, 1, 1].tolist() == pytest.approx([1, 0.8, 0.8, 0.1, 0.1, 0, 0, 1])
    assert target[0, 0, 1, 0] == 0 and target[0, 1, 0, 0] == 0
    # the far edge b_x = 1 belongs to the last cell
    edge, _ = grid_target(torch.tensor([[[1.0, 1.0, 0.2, 0.2]]]), torch.tensor([[0]]), 4, 1)
    assert edge[0, 3, 3, :3].tolist() == [1.0, 1.0, 1.0]


def test_decode_nms_removes_neighbouring_duplicates():
    target, _ = grid_target(torch.tensor([[[0.5, 0.5, 0.4, 0.4]]]), torch.tensor([[1]]), 4, 2)
    outputs = as_logits(target)  # cell (2, 2) responsible, t = (0, 0)
    outputs[0, :, 1, 1] = outputs[0, :, 2, 2]  # cell (1, 1): the same box, lower score
    outputs[0, 1:3, 1, 1] = 1.0
    outputs[0, 0, 1, 1] = 1.0
    raw = decode_grid(outputs, score_threshold=0.05)[0]
    assert len(raw.boxes) == 2
    kept = decode_grid(outputs, score_threshold=0.05, nms_iou=0.5)[0]
    assert len(kept.boxes) == 1 and kept.scores[0] > 0.99
    assert torch.allclose(kept.boxes[0], torch.tensor([0.5, 0.5, 0.4, 0.4]))
    # different classes are not suppressed by each other
    outputs[0, 5:, 1, 1] = torch.tensor([30.0, 0.0])
    assert len(decode_grid(outputs, score_threshold=0.05, nms_iou=0.5)[0].boxes) == 2


def test_grid_detector_and_loss():
    model = GridDetector(1, 3, channels=(4, 8, 8, 8), hidden=8)
    assert model.grid_size(32) == 4 and model.grid_size(30) == 4 and model.grid_size(33) == 5
    x = torch.rand(5, 1, 32, 32)
    outputs = model(x)
    assert outputs.shape == (5, 8, 4, 4)
    generated = shapes(5, 32, max_objects=3, scale=(0.25, 0.3), seed=0)
    target, _ = grid_target(generated.boxes, generated.labels, 4, 3)
    weights = {"presence": 1.0, "class": 2.0, "box": 5.0}
    value = GridLoss(weights)(outputs, target)
    cells = [losses.localization_loss(outputs[n, :, i, j][None], target[n, i, j][None], weights,
                                      reduction="sum")
             for n in range(5) for i in range(4) for j in range(4)]
    assert value.item() == pytest.approx(float(sum(cells).detach()) / 5, rel=1e-5)
    value.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("call, error, name", [
    (lambda: grid_target(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), 4, 3),
     ValueError, "boxes"),
    (lambda: grid_target(torch.zeros(2, 3, 4), torch.zeros(2, 2, dtype=torch.long), 4, 3),
     ValueError, "labels"),
    (lambda: grid_target(torch.zeros(1, 1, 4), torch.tensor([[3]]), 4, 3), ValueError,
     "labels"),
    (lambda: grid_target(torch.zeros(1, 1, 4), torch.tensor([[0]]), 0, 3), ValueError,
     "grid_size"),
    (lambda: grid_target(torch.full((1, 1, 4), 2.0), torch.tensor([[0]]), 4, 3), ValueError,
     "boxes"),
    (lambda: decode_grid(torch.zeros(2, 8, 4)), ValueError, "outputs"),
    (lambda: decode_grid(torch.zeros(2, 8, 4, 3)), ValueError, "outputs"),
    (lambda: decode_grid(torch.zeros(2, 8, 4, 4), nms_iou=2.0), ValueError, "nms_iou"),
    (lambda: decode_grid(torch.zeros(2, 8, 4, 4), fmt="xywh"), ValueError, "fmt"),
    (lambda: average_precision([], [(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]),
     ValueError, "ground_truth"),
    (lambda: average_precision([(torch.zeros(1, 4), torch.zeros(1))],
                               [(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]),
     TypeError, "detections"),
    (lambda: average_precision([Detections(torch.zeros(1, 4), torch.zeros(2),
                                           torch.zeros(1, dtype=torch.long))],
                               [(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]),
     ValueError, "detections"),
    (lambda: average_precision([Detections(torch.zeros(0, 4), torch.zeros(0),
                                           torch.zeros(0, dtype=torch.long))],
                               [(torch.zeros(1, 4), torch.zeros(1))]), TypeError,
     "ground_truth"),
    (lambda: average_precision([], [], iou_threshold=1.5), ValueError, "iou_threshold"),
    (lambda: average_precision([], [], interpolation="11-point"), ValueError, "interpolation"),
    (lambda: coco_map([], [], max_detections=0), ValueError, "max_detections"),
    (lambda: matches_ap("matches"), TypeError, "matches"),
    (lambda: GridLoss()(torch.zeros(2, 8, 4, 4), torch.zeros(2, 8, 4, 4)), ValueError,
     "target"),
])
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=rf"\b{name}"):
        call()
