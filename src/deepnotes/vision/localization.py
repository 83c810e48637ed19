"""Classification with localization: target, decoding and metrics.

One object (or none) per image. The target is the course's

    y = (p_c, b_x, b_y, b_w, b_h, c_1, ..., c_k)

(p_c = 1 when an object is present; its box centre (b_x, b_y) and size (b_w, b_h) as fractions
of the image side; c the one-hot class), and a model's outputs have the same layout with the
presence logit z in place of p_c and class logits s in place of c:
(z, b̂_x, b̂_y, b̂_w, b̂_h, s_1..s_k), p̂_c = σ(z), ĉ = softmax(s) (``nn.LocalizationCNN``,
trained with ``losses.localization_loss``).

Metrics, each on a batch of (outputs, target):

- presence accuracy: the fraction of images with [p̂_c > threshold] = p_c;
- class accuracy given an object: over images with p_c = 1, the fraction with
  argmax ĉ = the true class (whatever the predicted presence);
- IoU: over images with p_c = 1, IoU(b̂, b) of the predicted and true boxes (whatever the
  predicted presence: it measures the box, the presence has its own metric); mean IoU is
  their average.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..core import checks
from ..data.shapes import Shapes
from ..losses import check_localization
from .boxes import paired_box_iou

__all__ = [
    "LocalizationPrediction", "class_accuracy", "decode_localization", "localization_ious",
    "localization_target", "mean_iou", "paired_iou", "presence_accuracy",
]


def localization_target(shapes: Shapes) -> torch.Tensor:
    """The (N, 5 + k) float32 target y = (p_c, b_x, b_y, b_w, b_h, c_1..c_k) of a
    ``data.Shapes`` (``data.shapes(...)``): p_c = ``shapes.present``, the box =
    ``shapes.boxes`` (normalized centre and size), c = one-hot of ``shapes.labels`` over
    ``shapes.classes``; for an empty image everything after p_c is 0 (ignored by the loss)."""
    if not isinstance(shapes, Shapes):
        raise TypeError(f"shapes must be a data.Shapes (from data.shapes(...)), got "
                        f"{type(shapes).__name__}")
    return shapes.targets()


class LocalizationPrediction(NamedTuple):
    """Decoded outputs of N images: ``presence`` p̂_c = σ(z) (N,), ``present`` p̂_c >
    threshold (N,) bool, ``boxes`` (N, 4) (b̂_x, b̂_y, b̂_w, b̂_h) with sizes clipped to ≥ 0,
    ``labels`` argmax class (N,) int64, ``class_probs`` ĉ = softmax(s) (N, k)."""

    presence: torch.Tensor
    present: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor
    class_probs: torch.Tensor


def _outputs(outputs: torch.Tensor) -> torch.Tensor:
    checks.tensor(outputs, "outputs", ndim=2, floating=True)
    if outputs.shape[1] < 6:
        raise ValueError(f"outputs must have 5 + k columns (presence logit, 4 box numbers, k >= 1 "
                         f"class logits), got shape {tuple(outputs.shape)}")
    return outputs


def decode_localization(outputs: torch.Tensor, threshold: float = 0.5
                        ) -> LocalizationPrediction:
    """Decode (N, 5 + k) ``outputs`` (z, b̂, s): p̂_c = σ(z), present = p̂_c > ``threshold``,
    the box with b̂_w, b̂_h clipped to ≥ 0 (the model's box outputs are unconstrained), the
    class argmax_i s_i and ĉ = softmax(s)."""
    outputs = _outputs(outputs)
    threshold = checks.unit_interval(threshold, "threshold")
    presence = torch.sigmoid(outputs[:, 0])
    boxes = torch.cat([outputs[:, 1:3], outputs[:, 3:5].clamp(min=0)], dim=1)
    return LocalizationPrediction(presence, presence > threshold, boxes,
                                  outputs[:, 5:].argmax(1), torch.softmax(outputs[:, 5:], dim=1))


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU(a_i, b_i) of paired (N, 4) cxcywh boxes (``boxes.paired_box_iou``)."""
    return paired_box_iou(a, b, fmt="cxcywh")


def localization_ious(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of the predicted and true box of every image with an object (p_c = 1), in the
    order of those images: (M,) for M objects. The predicted box is used whatever the
    predicted presence; its sizes are clipped to ≥ 0 (as ``decode_localization``)."""
    target, present = check_localization(outputs, target)
    predicted = decode_localization(outputs.detach()[present]).boxes
    return paired_iou(predicted, target[present][:, 1:5])


def mean_iou(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean IoU over the images with an object (``localization_ious``); NaN when there is
    none."""
    return localization_ious(outputs, target).mean()


def presence_accuracy(outputs: torch.Tensor, target: torch.Tensor,
                      threshold: float = 0.5) -> torch.Tensor:
    """Fraction of images whose predicted presence [σ(z) > ``threshold``] equals p_c."""
    target, present = check_localization(outputs, target)
    predicted = decode_localization(outputs.detach(), threshold).present
    return (predicted == present).float().mean()


def class_accuracy(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class accuracy given an object: over the images with p_c = 1, the fraction whose
    argmax_i s_i equals argmax_i c_i; NaN when there is no object."""
    target, present = check_localization(outputs, target)
    scores = outputs.detach()[present][:, 5:]
    return (scores.argmax(1) == target[present][:, 5:].argmax(1)).float().mean()
