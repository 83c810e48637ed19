"""Image data built offline from the shipped sets: digits resized to larger canvases."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core import checks
from .datasets import digits


def digits_resized(split: str = "train", size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits upsampled to ``size``×``size`` (bilinear, values clamped to
    [0, 1]): X (N×1×size×size float32) and y (N,) int64, with the fixed split of ``digits``.

    A stand-in for MNIST-sized images (``size=28``) when no MNIST files are at hand, and the
    canvas for experiments that need room inside the image (adversarial patches).
    """
    size = checks.int_at_least(size, "size", 8)
    x, y = digits(split)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = x.clamp_(0.0, 1.0)
    return x, y
