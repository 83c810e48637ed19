"""Data that ships with the install or is generated offline; readers for files users have.

| name | function |
|---|---|
| ``regression`` | ``regression(n, d, noise, f)`` — y = f(x) + ε with known f and σ |
| ``mixture-ring`` / ``mixture-grid`` | ``mixture_ring(n)`` / ``mixture_grid(n)`` |
| ``digits`` | ``digits(split)`` — scikit-learn's 8×8 digits |
| ``mnist1d`` | ``mnist1d(split)`` — MNIST-1D from the offline generator |
| ``shapes`` | ``shapes(n)`` — one shape per image with class and box; ``shapes_split`` |
| ``idx:PATH`` | ``idx(path)`` one file, ``idx_dataset(folder, split)`` an MNIST folder |

``load(name, split)`` resolves the classification data sets by name (as the CLI's ``--data``).
Nothing here downloads.
"""

from __future__ import annotations

import torch

from .datasets import cache_dir, digits, mnist1d
from .idx import idx, idx_dataset, parse_idx
from .images import digits_resized
from .shapes import SHAPE_CLASSES, Shapes, shapes, shapes_split
from .synthetic import (
    Mixture,
    RegressionData,
    grid_centers,
    mixture_grid,
    mixture_ring,
    regression,
    ring_centers,
)

__all__ = [
    "SHAPE_CLASSES", "Mixture", "RegressionData", "Shapes", "cache_dir", "digits",
    "digits_resized", "grid_centers", "idx", "idx_dataset", "load", "mixture_grid",
    "mixture_ring", "mnist1d", "parse_idx", "regression", "ring_centers", "shapes",
    "shapes_split",
]


def load(name: str, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """A classification data set by name: ``digits``, ``mnist1d``, ``shapes`` (generated
    32×32 shapes, one per image; a fixed split of 3000 train / 1000 test images, see
    ``shapes_split``) or ``idx:FOLDER`` (MNIST-style IDX files)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a data set name (str), got {type(name).__name__}")
    if name == "digits":
        return digits(split)
    if name == "mnist1d":
        return mnist1d(split)
    if name == "shapes":
        generated = shapes_split(split)
        return generated.images, generated.labels
    if name.startswith("idx:"):
        return idx_dataset(name[4:], split)
    raise ValueError(f"unknown data set {name!r}; known: digits, mnist1d, shapes, idx:FOLDER")
