"""Tests for vision/boxes.py: conversion, pairwise IoU, greedy and batched NMS, each against a
brute-force reference written here."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepnotes.vision.boxes import (
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    nms,
    paired_box_iou,
)

coordinate = st.floats(0.0, 10.0, allow_nan=False, width=64)
size = st.just(0.0) | st.floats(1e-3, 5.0)  # no subnormal sizes: they vanish in float32


@st.composite
def xyxy_lists(draw, max_size=12, min_size=0):
    """A list of xyxy boxes as Python floats; some degenerate (zero width or height), some
    repeated exactly."""
    n = draw(st.integers(min_size, max_size))
    boxes = []
    for _ in range(n):
        kind = draw(st.sampled_from(["box", "box", "box", "flat", "point", "repeat"]))
        if kind == "repeat" and boxes:
            boxes.append(draw(st.sampled_from(boxes)))
            continue
        x1, y1 = draw(coordinate), draw(coordinate)
        w, h = draw(size), draw(size)
        if kind == "flat":
            h = 0.0
        elif kind == "point":
            w = h = 0.0
        boxes.append((x1, y1, x1 + w, y1 + h))
    return boxes


def reference_iou(a, b):
    """IoU of two xyxy boxes from the definition, in Python floats, in the same operation
    order as the library (so float64 results agree to the bit)."""
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def reference_nms(boxes, scores, threshold, classes=None):
    """Greedy NMS from its definition: repeatedly take the best-scoring remaining box (lowest
    index among ties), drop the remaining boxes of its class overlapping it by > threshold."""
    remaining = list(range(len(boxes)))
    kept = []
    while remaining:
        best = max(remaining, key=lambda i: (scores[i], -i))
        kept.append(best)
        remaining = [j for j in remaining if j != best and not (
            (classes is None or classes[j] == classes[best])
            and reference_iou(boxes[best], boxes[j]) > threshold)]
    return kept


def as_tensor(boxes, dtype=torch.float64):
    return torch.tensor(boxes, dtype=dtype).reshape(-1, 4)


@settings(max_examples=40, deadline=None)
@given(xyxy_lists())
def test_paired_box_iou_matches_brute_force(a):
    b = [q for q in reversed(a)]
    paired = paired_box_iou(as_tensor(a), as_tensor(b))
    expected = torch.tensor([reference_iou(p, q) for p, q in zip(a, b, strict=True)],
                            dtype=torch.float64)
    assert torch.allclose(paired, expected, atol=1e-12)
    assert torch.allclose(paired, torch.diagonal(box_iou(as_tensor(a), as_tensor(b))))


@settings(max_examples=60, deadline=None)
@given(xyxy_lists(), xyxy_lists())
def test_box_iou_matches_brute_force(a, b):
    iou = box_iou(as_tensor(a), as_tensor(b))
    assert iou.shape == (len(a), len(b))
    expected = torch.tensor([[reference_iou(p, q) for q in b] for p in a],
                            dtype=torch.float64).reshape(len(a), len(b))
    assert torch.equal(iou, expected)
    assert not torch.isnan(iou).any()
    assert ((iou >= 0) & (iou <= 1 + 1e-12)).all()
    # the centre format gives the same numbers (up to the rounding of the conversion)
    a_c = box_convert(as_tensor(a), "xyxy", "cxcywh")
    b_c = box_convert(as_tensor(b), "xyxy", "cxcywh")
    assert torch.allclose(box_iou(a_c, b_c, fmt="cxcywh"), expected, atol=1e-9)
    # float32 input agrees to float32 precision
    iou32 = box_iou(as_tensor(a, torch.float32), as_tensor(b, torch.float32))
    assert iou32.dtype == torch.float32
    assert torch.allclose(iou32.double(), expected, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(0, 4),
                          st.integers(0, 4)), min_size=1, max_size=6))
def test_box_iou_equals_pixel_counting(corner_sizes):
    # integer boxes on an 11×11 grid: areas and intersections are counts of unit cells, an
    # independent route to the same number
    boxes = [(x, y, x + w, y + h) for x, y, w, h in corner_sizes]
    grid = torch.arange(11)
    masks = torch.stack([((grid[None, :] >= x1) & (grid[None, :] < x2)
                          & (grid[:, None] >= y1) & (grid[:, None] < y2))
                         for x1, y1, x2, y2 in boxes]).flatten(1)
    inter = (masks[:, None] & masks[None, :]).sum(-1).double()
    union = (masks[:, None] | masks[None, :]).sum(-1).double()
    expected = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union))
    assert torch.allclose(box_iou(as_tensor(boxes), as_tensor(boxes)), expected, atol=1e-12)


def test_box_iou_hand_cases_and_degenerate_boxes():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0],    # overlap 1, union 7
                      [0.0, 0.0, 2.0, 2.0],    # identical
                      [2.0, 0.0, 4.0, 2.0],    # touching edge
                      [1.0, 1.0, 1.0, 1.0],    # a point inside
                      [0.0, 0.0, 1.0, 2.0]])   # half of it
    assert box_iou(a, b)[0].tolist() == pytest.approx([1 / 7, 1.0, 0.0, 0.0, 0.5])
    points = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    assert torch.equal(box_iou(points, points), torch.zeros(2, 2))  # 0/0 → 0, not NaN
    assert box_iou(torch.zeros(0, 4), b).shape == (0, 5)
    assert box_iou(a, torch.zeros(0, 4)).shape == (1, 0)


@settings(max_examples=40, deadline=None)
@given(xyxy_lists(min_size=1))
def test_box_convert_round_trip_and_area(boxes):
    xyxy = as_tensor(boxes)
    centre = box_convert(xyxy, "xyxy", "cxcywh")
    assert torch.allclose(centre[:, 2:], xyxy[:, 2:] - xyxy[:, :2])
    assert torch.allclose(centre[:, :2], (xyxy[:, 2:] + xyxy[:, :2]) / 2)
    assert torch.allclose(box_convert(centre, "cxcywh", "xyxy"), xyxy, atol=1e-12)
    assert torch.allclose(box_area(xyxy), box_area(centre, "cxcywh"), atol=1e-12)
    same = box_convert(xyxy, "xyxy", "xyxy")
    assert torch.equal(same, xyxy) and same.data_ptr() != xyxy.data_ptr()
    batch = xyxy.expand(3, -1, -1)  # any leading dimensions
    assert torch.equal(box_convert(batch, "xyxy", "cxcywh")[1], centre)


scores_strategy = st.floats(0.0, 1.0, allow_nan=False, width=64)


@settings(max_examples=80, deadline=None)
@given(xyxy_lists(max_size=15), st.data(),
       st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]))
def test_nms_matches_greedy_reference(boxes, data, threshold):
    n = len(boxes)
    # few distinct score values, so ties occur
    scores = data.draw(st.lists(st.sampled_from([0.1, 0.5, 0.9]) | scores_strategy,
                                min_size=n, max_size=n))
    kept = nms(as_tensor(boxes), torch.tensor(scores, dtype=torch.float64).reshape(n),
               threshold)
    assert kept.dtype == torch.int64
    assert kept.tolist() == reference_nms(boxes, scores, threshold)


@settings(max_examples=80, deadline=None)
@given(xyxy_lists(max_size=15), st.data(), st.sampled_from([0.0, 0.2, 0.5, 0.8]))
def test_batched_nms_matches_per_class_reference(boxes, data, threshold):
    n = len(boxes)
    scores = data.draw(st.lists(st.sampled_from([0.2, 0.6]) | scores_strategy,
                                min_size=n, max_size=n))
    classes = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    kept = batched_nms(as_tensor(boxes), torch.tensor(scores, dtype=torch.float64).reshape(n),
                       torch.tensor(classes, dtype=torch.long).reshape(n), threshold)
    assert kept.tolist() == reference_nms(boxes, scores, threshold, classes)
    # the same as plain NMS within each class, merged by decreasing score
    per_class = []
    for c in set(classes):
        members = [i for i in range(n) if classes[i] == c]
        sub = nms(as_tensor([boxes[i] for i in members]),
                  torch.tensor([scores[i] for i in members], dtype=torch.float64), threshold)
        per_class += [members[i] for i in sub.tolist()]
    assert sorted(per_class, key=lambda i: (-scores[i], i)) == kept.tolist()


def test_nms_hand_case():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0],
                          [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 9.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # box 3 (best) overlaps box 0 by 0.9: box 0 goes; box 1 overlaps 3 by 72/128 ...
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert nms(boxes, scores, 0.95).tolist() == [3, 0, 1, 2]
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0, 0]), 0.5).tolist() == [3, 1, 2]
    centre = box_convert(boxes, "xyxy", "cxcywh")
    assert nms(centre, scores, 0.5, fmt="cxcywh").tolist() == [3, 2]
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []


@pytest.mark.parametrize("call, error, name", [
    (lambda: box_iou(torch.zeros(3, 5), torch.zeros(2, 4)), ValueError, "a"),
    (lambda: box_iou(torch.zeros(3, 4), torch.zeros(2, 4, 1)), ValueError, "b"),
    (lambda: box_iou(torch.zeros(3, 4), [[0, 0, 1, 1]]), TypeError, "b"),
    (lambda: box_iou(torch.zeros(3, 4, dtype=torch.long), torch.zeros(2, 4)), TypeError, "a"),
    (lambda: box_iou(torch.tensor([[1.0, 0, 0, 1]]), torch.zeros(2, 4)), ValueError, "a"),
    (lambda: box_iou(torch.tensor([[0.5, 0.5, -1, 1]]), torch.zeros(2, 4), fmt="cxcywh"),
     ValueError, "a"),
    (lambda: box_iou(torch.tensor([[0.0, 0, float("nan"), 1]]), torch.zeros(2, 4)),
     ValueError, "a"),
    (lambda: box_iou(torch.zeros(1, 4), torch.zeros(2, 4), fmt="xywh"), ValueError, "fmt"),
    (lambda: box_convert(torch.zeros(1, 4), "xywh", "xyxy"), ValueError, "in_fmt"),
    (lambda: box_convert(torch.zeros(1, 4), "xyxy", "corners"), ValueError, "out_fmt"),
    (lambda: box_convert(torch.zeros(1, 3), "xyxy", "cxcywh"), ValueError, "boxes"),
    (lambda: nms(torch.zeros(2, 4), torch.zeros(3), 0.5), ValueError, "scores"),
    (lambda: nms(torch.zeros(2, 4), torch.tensor([0.1, float("nan")]), 0.5), ValueError,
     "scores"),
    (lambda: nms(torch.zeros(2, 4), torch.zeros(2), 1.5), ValueError, "iou_threshold"),
    (lambda: nms(torch.zeros(2, 4), torch.zeros(2), "0.5"), TypeError, "iou_threshold"),
    (lambda: nms(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), 0.5), TypeError,
     "scores"),
    (lambda: batched_nms(torch.zeros(2, 4), torch.zeros(2), torch.zeros(2), 0.5), TypeError,
     "classes"),
    (lambda: batched_nms(torch.zeros(2, 4), torch.zeros(2), torch.zeros(3, dtype=torch.long),
                         0.5), ValueError, "classes"),
])
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=rf"\b{name}\b"):
        call()


def test_paired_box_iou_refuses_unpaired_boxes():
    with pytest.raises(ValueError, match="a and b"):
        paired_box_iou(torch.zeros(3, 4), torch.zeros(2, 4))
