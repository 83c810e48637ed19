"""Tests for the generated ``shapes`` data set (data/shapes.py)."""

import pytest
import torch

from deepnotes import data
from deepnotes.data.shapes import SHAPE_CLASSES, shapes, shapes_split


def object_masks(generated, threshold: float = 0.45) -> torch.Tensor:
    """Pixels brighter than any background can be (background ≤ 0.15 + noise, object ≥ 0.6
    − noise, noise = 0 in these tests)."""
    return generated.images[:, 0] > threshold


def test_shapes_dtypes_and_ranges():
    generated = shapes(50, size=24, classes=SHAPE_CLASSES, seed=3)
    assert generated.images.shape == (50, 1, 24, 24)
    assert generated.images.dtype == torch.float32
    assert generated.labels.shape == (50,) and generated.labels.dtype == torch.int64
    assert generated.boxes.shape == (50, 4) and generated.boxes.dtype == torch.float32
    assert generated.present.shape == (50,) and generated.present.dtype == torch.bool
    assert 0.0 <= float(generated.images.min()) and float(generated.images.max()) <= 1.0
    assert bool(generated.present.all())  # p_empty defaults to 0
    assert set(generated.labels.tolist()) <= set(range(len(SHAPE_CLASSES)))
    assert ((generated.boxes >= 0) & (generated.boxes <= 1)).all()
    left = generated.boxes[:, 0] - generated.boxes[:, 2] / 2
    right = generated.boxes[:, 0] + generated.boxes[:, 2] / 2
    assert (left >= -1e-6).all() and (right <= 1 + 1e-6).all()


@pytest.mark.parametrize("classes", [("circle",), ("square",), ("triangle",), ("diamond",),
                                     ("cross",)])
def test_boxes_contain_the_object_pixels(classes):
    size = 32
    generated = shapes(200, size=size, classes=classes, noise=0.0, seed=1)
    masks = object_masks(generated)
    assert masks.flatten(1).any(1).all()  # every object has pixels
    index = torch.arange(size, dtype=torch.float32)
    cols, rows = masks.any(1), masks.any(2)
    # the object pixels' bounding box in pixel units, from pixel edges
    x0 = torch.where(cols, index, float(size)).min(1).values
    x1 = torch.where(cols, index, -1.0).max(1).values + 1
    y0 = torch.where(rows, index, float(size)).min(1).values
    y1 = torch.where(rows, index, -1.0).max(1).values + 1
    bx, by, bw, bh = (generated.boxes * size).T
    inset = torch.stack([x0 - (bx - bw / 2), (bx + bw / 2) - x1,
                         y0 - (by - bh / 2), (by + bh / 2) - y1], dim=1)
    # a pixel belongs to the object when its centre does: its edge sticks out ≤ half a pixel
    assert (inset >= -0.5 - 1e-4).all()
    # and the object reaches to within a pixel of each side (the triangle's apex, a point,
    # may fall between pixel centres: within 1.5 pixels at the top)
    limit = torch.tensor([1.0, 1.0, 1.5 if classes == ("triangle",) else 1.0, 1.0])
    assert (inset <= limit + 1e-4).all()


def test_shape_areas_match_their_formulas():
    # area fraction of the box covered: circle π/4, square 1, triangle 1/2, diamond 1/2,
    # cross 5/9 (two 2r × 2r/3 arms minus the shared (2r/3)² centre, over (2r)²)
    expected = {"circle": torch.pi / 4, "square": 1.0, "triangle": 0.5, "diamond": 0.5,
                "cross": 5 / 9}
    size = 64
    for name, fraction in expected.items():
        generated = shapes(100, size=size, classes=(name,), noise=0.0, scale=(0.4, 0.6),
                           seed=2)
        pixels = object_masks(generated).flatten(1).sum(1).float()
        box_pixels = generated.boxes[:, 2] * generated.boxes[:, 3] * size * size
        assert float((pixels / box_pixels).mean()) == pytest.approx(fraction, abs=0.03), name


def test_labels_are_balanced_and_empty_images_have_no_object():
    generated = shapes(301, classes=("circle", "square", "triangle"), seed=4)
    counts = torch.bincount(generated.labels, minlength=3)
    assert int(counts.max() - counts.min()) <= 1
    with_empty = shapes(400, p_empty=0.3, noise=0.0, seed=5)
    empty = ~with_empty.present
    assert 60 < int(empty.sum()) < 180
    assert (with_empty.labels[empty] == -1).all()
    assert (with_empty.boxes[empty] == 0).all()
    assert not object_masks(with_empty)[empty].any()
    counts = torch.bincount(with_empty.labels[with_empty.present], minlength=3)
    assert int(counts.max() - counts.min()) <= 1
    targets = with_empty.targets()
    assert targets.shape == (400, 8)
    assert torch.equal(targets[:, 0], with_empty.present.float())
    assert torch.equal(targets[:, 1:5], with_empty.boxes)
    present = with_empty.present
    assert torch.equal(targets[present, 5:].argmax(1), with_empty.labels[present])
    assert (targets[empty, 1:] == 0).all()


def test_reproducible_by_seed_and_generator():
    a, b = shapes(20, seed=7), shapes(20, seed=7)
    c = shapes(20, seed=8)
    d = shapes(20, rng=torch.Generator().manual_seed(7))
    for field in ("images", "labels", "boxes", "present"):
        assert torch.equal(getattr(a, field), getattr(b, field))
        assert torch.equal(getattr(a, field), getattr(d, field))
    assert not torch.equal(a.images, c.images)


def test_load_shapes_fixed_split():
    x_train, y_train = data.load("shapes", "train")
    x_test, y_test = data.load("shapes", "test")
    assert x_train.shape == (3000, 1, 32, 32) and y_train.shape == (3000,)
    assert x_test.shape == (1000, 1, 32, 32) and y_test.shape == (1000,)
    assert torch.equal(x_test, shapes_split("test").images)
    assert not torch.equal(x_train[:1000], x_test)
    assert torch.bincount(y_train).tolist() == [1000, 1000, 1000]
    x_digits, _ = data.load("digits", "test")  # the other names still resolve
    assert x_digits.shape[1:] == (1, 8, 8)


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=-1), "n"), (dict(n=4, size=4), "size"),
    (dict(n=4, classes=("circle", "hexagon")), "classes"), (dict(n=4, classes=()), "classes"),
    (dict(n=4, classes="circle"), "classes"), (dict(n=4, p_empty=1.5), "p_empty"),
    (dict(n=4, p_empty=float("nan")), "p_empty"), (dict(n=4, noise=float("inf")), "noise"),
    (dict(n=4, scale=(0.6, 0.3)), "scale"), (dict(n=4, scale=(0.01, 0.3)), "scale"),
    (dict(n=4, scale=(float("nan"), 0.3)), "scale"),
    (dict(n=4, intensity=(0.5, 1.5)), "intensity"), (dict(n=4, noise=-0.1), "noise"),
    (dict(n=4, background=(0.2,)), "background"),
])
def test_bad_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        shapes(**kwargs)
    with pytest.raises(ValueError, match="split"):
        shapes_split("validation")


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=2.5), "n"), (dict(n=4, size=32.0), "size"), (dict(n=4, seed="x"), "seed"),
    (dict(n=4, rng=3), "rng"),
])
def test_wrong_types_raise_type_error(kwargs, name):
    with pytest.raises(TypeError, match=name):
        shapes(**kwargs)


def test_numpy_integers_are_accepted():
    import numpy as np

    a = shapes(np.int64(6), size=np.int64(16), seed=np.int64(3))
    b = shapes(6, size=16, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
