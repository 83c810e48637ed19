"""Data that ships with the install or is generated offline; readers for files users have.

| name | function |
|---|---|
| ``regression`` | ``regression(n, d, noise, f)`` — y = f(x) + ε with known f and σ |
| ``mixture-ring`` / ``mixture-grid`` | ``mixture_ring(n)`` / ``mixture_grid(n)`` |
| ``digits`` | ``digits(split)`` — scikit-learn's 8×8 digits |
| ``mnist1d`` | ``mnist1d(split)`` — MNIST-1D from the offline generator |
| ``idx:PATH`` | ``idx(path)`` one file, ``idx_dataset(folder, split)`` an MNIST folder |

``load(name, split)`` resolves the classification data sets by name (as the CLI's ``--data``).
Nothing here downloads.
"""

from __future__ import annotations

import torch

from .datasets import cache_dir, digits, mnist1d
from .idx import idx, idx_dataset, parse_idx
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
    "Mixture", "RegressionData", "cache_dir", "digits", "grid_centers", "idx", "idx_dataset",
    "load", "mixture_grid", "mixture_ring", "mnist1d", "parse_idx", "regression", "ring_centers",
]


def load(name: str, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """A classification data set by name: ``digits``, ``mnist1d`` or ``idx:FOLDER``."""
    if name == "digits":
        return digits(split)
    if name == "mnist1d":
        return mnist1d(split)
    if name.startswith("idx:"):
        return idx_dataset(name[4:], split)
    raise ValueError(f"unknown data set {name!r}; known: digits, mnist1d, idx:FOLDER")

from .images import digits_resized  # noqa: E402

__all__ += ["digits_resized"]
