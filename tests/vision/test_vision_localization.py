"""Classification with localization: the loss is the negative log-likelihood (checked against
torch.distributions), empty images contribute nothing from their box and class, the target,
decoding and metrics on hand-built cases, and the localization CNN learns the box."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Normal

from deepnotes import data, losses, vision
from deepnotes.engine import fit
from deepnotes.nn import CNN2d, LocalizationCNN, build_seeded
from deepnotes.vision.localization import paired_iou

NAN = float("nan")


def _batch(n: int = 7, k: int = 3, seed: int = 0, dtype=torch.float64):
    """Random outputs and a valid target with empty images at rows 1 and 4."""
    g = torch.Generator().manual_seed(seed)
    outputs = torch.randn(n, 5 + k, generator=g, dtype=dtype)
    present = torch.ones(n, dtype=torch.bool)
    present[[1, 4]] = False
    labels = torch.randint(0, k, (n,), generator=g)
    boxes = torch.rand(n, 4, generator=g, dtype=dtype)
    target = torch.zeros(n, 5 + k, dtype=dtype)
    target[:, 0] = present.to(dtype)
    target[present, 1:5] = boxes[present]
    target[present.nonzero().squeeze(1), 5 + labels[present]] = 1.0
    return outputs, target, present, labels


def _nll(outputs, target, sigma):
    """−log p(y | x) per image from torch.distributions: Bernoulli(σ(z)) presence ×, when an
    object is present, Categorical(softmax(s)) class × Normal(b̂, σ) for each box number."""
    values = []
    for out, y in zip(outputs, target, strict=True):
        log_p = Bernoulli(logits=out[0]).log_prob(y[0])
        if y[0] == 1:
            log_p = log_p + Categorical(logits=out[5:]).log_prob(y[5:].argmax())
            log_p = log_p + Normal(out[1:5], sigma).log_prob(y[1:5]).sum()
        values.append(-log_p)
    return torch.stack(values)


# --------------------------------------------------------------------------------------------
# the loss


def test_loss_by_hand():
    """p̂_c = ½ everywhere; an object with uniform class logits over 3 classes and box errors
    (0.1, 0, 0, 0.2): log 2 + log 3 + 0.01 + 0.04; an empty image: log 2."""
    outputs = torch.tensor([[0.0, 0.6, 0.5, 0.3, 0.2, 0.0, 0.0, 0.0],
                            [0.0, 9.0, -9.0, 5.0, 5.0, 3.0, -1.0, 2.0]])
    target = torch.tensor([[1.0, 0.5, 0.5, 0.3, 0.4, 0.0, 1.0, 0.0],
                           [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    per_image = losses.localization_loss(outputs, target, reduction="none")
    expected = torch.tensor([math.log(2) + math.log(3) + 0.01 + 0.04, math.log(2)])
    torch.testing.assert_close(per_image, expected)
    torch.testing.assert_close(losses.localization_loss(outputs, target), expected.mean())
    torch.testing.assert_close(losses.localization_loss(outputs, target, reduction="sum"),
                               expected.sum())
    # the weights scale their own term only
    weighted = losses.localization_loss(outputs, target, {"presence": 2.0, "class": 0.5,
                                                          "box": 10.0}, reduction="none")
    torch.testing.assert_close(weighted, torch.tensor(
        [2 * math.log(2) + 0.5 * math.log(3) + 10 * 0.05, 2 * math.log(2)]))


@pytest.mark.parametrize("sigma", [1 / math.sqrt(2), 0.05, 1.0])
def test_loss_is_the_nll_up_to_its_constant(sigma):
    """With w_b = 1/(2σ²), ℓ = −log p(y|x) − p_c · 2 log(2πσ²), image by image; the default
    weights are the σ = 1/√2 case."""
    outputs, target, present, _ = _batch()
    weights = {"box": losses.box_weight(sigma)}
    ours = losses.localization_loss(outputs, target, weights, reduction="none")
    constant = target[:, 0] * 2 * math.log(2 * math.pi * sigma**2)
    torch.testing.assert_close(ours, _nll(outputs, target, sigma) - constant)
    if sigma == 1 / math.sqrt(2):
        torch.testing.assert_close(losses.localization_loss(outputs, target, reduction="none"),
                                   ours)


def test_gradient_is_the_nll_gradient_and_finite_differences():
    """The constant has no gradient: ∇ℓ = ∇(−log p) (autograd of the distributions' NLL); and
    gradcheck (central finite differences, float64)."""
    sigma = 0.3
    outputs, target, _, _ = _batch(seed=1)
    weights = {"box": losses.box_weight(sigma)}
    a = outputs.clone().requires_grad_(True)
    losses.localization_loss(a, target, weights).backward()
    b = outputs.clone().requires_grad_(True)
    _nll(b, target, sigma).mean().backward()
    torch.testing.assert_close(a.grad, b.grad)
    assert torch.autograd.gradcheck(
        lambda o: losses.localization_loss(o, target, weights, reduction="none"),
        (outputs.clone().requires_grad_(True),))


def test_empty_images_contribute_nothing_from_box_and_class():
    """NaN in an empty image's box/class entries — of the target and of the outputs — leaves
    the loss and its gradient finite and unchanged; those outputs get zero gradient."""
    outputs, target, present, _ = _batch(seed=2)
    clean = outputs.clone().requires_grad_(True)
    reference = losses.localization_loss(clean, target)
    reference.backward()

    dirty_target = target.clone()
    dirty_target[~present, 1:] = NAN
    dirty_outputs = outputs.clone()
    dirty_outputs[~present, 1:] = NAN
    dirty = dirty_outputs.requires_grad_(True)
    value = losses.localization_loss(dirty, dirty_target)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(dirty.grad).all()
    torch.testing.assert_close(value, reference)
    torch.testing.assert_close(dirty.grad, clean.grad)
    assert torch.equal(dirty.grad[~present, 1:], torch.zeros_like(dirty.grad[~present, 1:]))
    # an empty image's presence logit still gets the Bernoulli gradient σ(z)/N
    torch.testing.assert_close(dirty.grad[~present, 0],
                               torch.sigmoid(outputs[~present, 0]) / len(outputs))


def test_zero_box_weight_drops_the_box_term():
    """The ablation: box weight 0 → the box outputs get no gradient, even infinite ones."""
    outputs, target, present, _ = _batch(seed=3)
    outputs[:, 1:5] = math.inf
    x = outputs.clone().requires_grad_(True)
    value = losses.localization_loss(x, target, {"box": 0.0})
    value.backward()
    assert torch.isfinite(value)
    assert torch.equal(x.grad[:, 1:5], torch.zeros_like(x.grad[:, 1:5]))
    assert x.grad[present, 5:].abs().sum() > 0


@pytest.mark.parametrize("call, error, match", [
    (lambda o, t: losses.localization_loss(o, t[:, :-1]), ValueError, "target"),
    (lambda o, t: losses.localization_loss(o[:, :5], t[:, :5]), ValueError, "outputs"),
    (lambda o, t: losses.localization_loss(o[0], t), ValueError, "outputs"),
    (lambda o, t: losses.localization_loss(o, t[:3]), ValueError, "target"),
    (lambda o, t: losses.localization_loss(o[:0], t[:0]), ValueError, "outputs"),
    (lambda o, t: losses.localization_loss(o, t.long()), TypeError, "target"),
    (lambda o, t: losses.localization_loss(o, t, {"box": -1.0}), ValueError, r"weights\['box'\]"),
    (lambda o, t: losses.localization_loss(o, t, {"class": NAN}), ValueError,
     r"weights\['class'\]"),
    (lambda o, t: losses.localization_loss(o, t, {"boxes": 1.0}), ValueError, "weights"),
    (lambda o, t: losses.localization_loss(o, t, (1.0, 1.0, 0.0)), TypeError, "weights"),
    (lambda o, t: losses.localization_loss(o, t, reduction="avg"), ValueError, "reduction"),
    (lambda o, t: losses.localization_loss(o, torch.cat([t[:, :1] * 0.5, t[:, 1:]], 1)),
     ValueError, "p_c"),
    (lambda o, t: losses.localization_loss(o, torch.cat([t[:, :1], t[:, 1:] * NAN], 1)),
     ValueError, "target"),
    (lambda o, t: losses.localization_loss(o, torch.cat([t[:, :5], 2 * t[:, 5:]], 1)),
     ValueError, "one-hot"),
    (lambda o, t: losses.box_weight(0.0), ValueError, "sigma"),
    (lambda o, t: vision.localization_target(t), TypeError, "shapes"),
    (lambda o, t: vision.decode_localization(o, threshold=1.5), ValueError, "threshold"),
    (lambda o, t: vision.decode_localization(o[:, :4]), ValueError, "outputs"),
    (lambda o, t: vision.mean_iou(o, t[:, :-1]), ValueError, "target"),
])
def test_bad_input_names_the_argument(call, error, match):
    outputs, target, _, _ = _batch()
    with pytest.raises(error, match=match):
        call(outputs, target)


# --------------------------------------------------------------------------------------------
# target, decoding, metrics


def test_target_from_shapes():
    shapes = data.shapes(40, p_empty=0.3, seed=4)
    y = vision.localization_target(shapes)
    assert y.shape == (40, 5 + 3) and y.dtype == torch.float32
    assert 0 < int(shapes.present.sum()) < 40
    for i in range(40):
        if shapes.present[i]:
            assert y[i, 0] == 1
            torch.testing.assert_close(y[i, 1:5], shapes.boxes[i])
            assert y[i, 5:].tolist() == [float(c == int(shapes.labels[i])) for c in range(3)]
        else:
            assert y[i].abs().sum() == 0
    # it is a valid target: the loss accepts it
    assert torch.isfinite(losses.localization_loss(torch.zeros(40, 8), y))


def _outputs(presence_logits, boxes, class_logits):
    return torch.cat([torch.tensor(presence_logits).unsqueeze(1), torch.tensor(boxes),
                      torch.tensor(class_logits)], dim=1)


def test_decoding_and_metrics_by_hand():
    """Two objects and an empty image. Object 0: box shifted by 0.05 → IoU 0.03/0.05 = 0.6;
    object 1: predicted width negative → clipped to 0 → IoU 0. Presence: rows 0 and 2 right,
    row 1 (an object) missed → 2/3. Classes: row 0 right, row 1 wrong, row 2 (empty) ignored."""
    outputs = _outputs([3.0, -1.0, -2.0],
                       [[0.55, 0.5, 0.2, 0.2], [0.3, 0.3, -0.1, 0.2], [0.5, 0.5, 0.9, 0.9]],
                       [[2.0, 0.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    target = torch.tensor([[1.0, 0.5, 0.5, 0.2, 0.2, 1.0, 0.0, 0.0],
                           [1.0, 0.3, 0.3, 0.2, 0.2, 0.0, 1.0, 0.0],
                           [0.0, NAN, NAN, NAN, NAN, NAN, NAN, NAN]])
    decoded = vision.decode_localization(outputs)
    torch.testing.assert_close(decoded.presence, torch.sigmoid(outputs[:, 0]))
    assert decoded.present.tolist() == [True, False, False]
    assert decoded.boxes[1, 2] == 0 and decoded.labels.tolist() == [0, 2, 0]
    torch.testing.assert_close(decoded.class_probs.sum(1), torch.ones(3))
    torch.testing.assert_close(vision.localization_ious(outputs, target),
                               torch.tensor([0.6, 0.0]))
    torch.testing.assert_close(vision.mean_iou(outputs, target), torch.tensor(0.3))
    torch.testing.assert_close(vision.presence_accuracy(outputs, target), torch.tensor(2 / 3))
    # a lower threshold (σ(−1) = 0.27 > 0.2) finds the missed object
    torch.testing.assert_close(vision.presence_accuracy(outputs, target, threshold=0.2),
                               torch.tensor(1.0))
    torch.testing.assert_close(vision.class_accuracy(outputs, target), torch.tensor(0.5))
    # no object at all: mean IoU and class accuracy are undefined (NaN)
    assert math.isnan(float(vision.mean_iou(outputs[2:], target[2:])))
    assert math.isnan(float(vision.class_accuracy(outputs[2:], target[2:])))


def test_paired_iou_is_the_diagonal_of_box_iou():
    g = torch.Generator().manual_seed(5)
    a = torch.cat([torch.rand(2500, 2, generator=g), 0.5 * torch.rand(2500, 2, generator=g)], 1)
    b = torch.cat([torch.rand(2500, 2, generator=g), 0.5 * torch.rand(2500, 2, generator=g)], 1)
    ious = paired_iou(a, b)
    assert ious.shape == (2500,)
    for i in (0, 1023, 1024, 2499):  # across the blocks
        torch.testing.assert_close(ious[i], vision.boxes.box_iou(a[i:i + 1], b[i:i + 1],
                                                                 fmt="cxcywh")[0, 0])


# --------------------------------------------------------------------------------------------
# the model


def test_localization_cnn_shapes_and_bad_input():
    model = LocalizationCNN(32, num_classes=4, channels=(4, 8, 8), hidden=16)
    assert model(torch.randn(3, 1, 32, 32)).shape == (3, 9) and model.num_outputs == 9
    assert model.head[1].in_features == 8 * 8 * 8  # the last 8×8 map, flattened
    odd = LocalizationCNN((20, 13), in_channels=3, num_classes=2, channels=(4, 4, 4))
    assert odd(torch.randn(2, 3, 20, 13)).shape == (2, 7)
    assert odd.head[1].in_features == 4 * 5 * 4  # ceil-mode pooling: 20→10→5, 13→7→4
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.randn(3, 1, 28, 28))
    with pytest.raises(ValueError, match="image_size"):
        LocalizationCNN((32,))
    with pytest.raises(ValueError, match="num_classes"):
        LocalizationCNN(num_classes=0)
    with pytest.raises(TypeError, match="channels"):
        LocalizationCNN(channels=16)


def test_cnn2d_unchanged():
    """CNN2d keeps its layers, parameter names and global-pooling head."""
    model = CNN2d(channels=(8, 16), batch_norm=True)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["features.0.weight", "features.0.bias", "features.1.weight",
                     "features.1.bias", "features.4.weight", "features.4.bias",
                     "features.5.weight", "features.5.bias", "classifier.weight",
                     "classifier.bias"]
    assert isinstance(model.features[3], torch.nn.MaxPool2d)
    assert model(torch.randn(2, 1, 11, 7)).shape == (2, 10)


def _train_and_score(factory, steps: int = 250):
    train = data.shapes(1000, p_empty=0.2, seed=11)
    test = data.shapes(300, p_empty=0.2, seed=12)
    model = build_seeded(factory, 0)
    fit(model, functools.partial(losses.localization_loss, weights={"box": 5.0}),
        lambda p: torch.optim.Adam(p, lr=3e-3), (train.images, vision.localization_target(train)),
        steps=steps, batch_size=32, log_every=steps, device="cpu", progress=False)
    with torch.no_grad():
        outputs = model.eval()(test.images)
    target = vision.localization_target(test)
    centre_error = (outputs[:, 1:3] - target[:, 1:3])[test.present].abs().mean()
    return float(vision.mean_iou(outputs, target)), float(centre_error)


class _PooledLocalizer(torch.nn.Module):
    """The same trunk and head width, but global average pooling before the head (CNN2d's
    design): position is averaged away."""

    def __init__(self):
        super().__init__()
        self.cnn = CNN2d(1, 8, channels=(8, 16, 16))

    def forward(self, x):
        return self.cnn(x)


def test_localization_cnn_learns_the_box():
    """After 250 steps the flattened head's mean IoU on new images beats the 0.29 of always
    predicting the average box by a wide margin, and it places the centre better than the same
    trunk with global average pooling (which keeps position only through border effects)."""
    iou, centre_error = _train_and_score(
        lambda: LocalizationCNN(channels=(8, 16, 16), hidden=32))
    pooled_iou, pooled_centre_error = _train_and_score(_PooledLocalizer)
    assert iou > 0.45, iou
    assert iou > pooled_iou, (iou, pooled_iou)
    assert centre_error < 0.75 * pooled_centre_error, (centre_error, pooled_centre_error)
