"""Real data that ships offline: scikit-learn's digits and the MNIST-1D generator."""

from __future__ import annotations

import hashlib
import io
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..core.files import write_bytes

SPLITS = ("train", "test")

# digits: 1,797 images; a fixed, stratified 75/25 split (seed 0) — 1,347 train / 450 test.
DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


@lru_cache(maxsize=1)
def _digits_arrays():
    # deferred: sklearn.datasets and model_selection take ~0.3 s to import, paid only here
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    return train_test_split(
        images, bunch.target.astype(np.int64), test_size=DIGITS_TEST_FRACTION,
        random_state=DIGITS_SPLIT_SEED, stratify=bunch.target,
    )


def digits(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 handwritten digits: X (N×1×8×8 float32 in [0, 1]) and y (N,) int64.

    The split is fixed (stratified, seed 0): 1,347 train and 450 test images.
    """
    x_train, x_test, y_train, y_test = _digits_arrays()
    if _check_split(split) == "train":
        return torch.from_numpy(x_train.copy()), torch.from_numpy(y_train.copy())
    return torch.from_numpy(x_test.copy()), torch.from_numpy(y_test.copy())


# MNIST-1D ------------------------------------------------------------------------------------

def cache_dir() -> Path:
    """Where generated data is cached: ``$DEEPNOTES_CACHE``, else ``$XDG_CACHE_HOME/deepnotes``,
    else ``~/.cache/deepnotes``."""
    if os.environ.get("DEEPNOTES_CACHE"):
        return Path(os.environ["DEEPNOTES_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deepnotes"


def _mnist1d_args(**overrides) -> dict:
    # deferred: mnist1d imports requests and matplotlib; only MNIST-1D users pay for them
    from mnist1d.data import get_dataset_args

    args = get_dataset_args(as_dict=True)
    args.pop("url", None)  # never the download path
    unknown = set(overrides) - set(args)
    if unknown:
        raise ValueError(f"unknown MNIST-1D generator argument(s): {sorted(unknown)}")
    args.update(overrides)
    return args


def _generate_mnist1d(args: dict) -> dict[str, np.ndarray]:
    from mnist1d.data import ObjectView, make_dataset  # deferred, as in _mnist1d_args

    data = make_dataset(ObjectView(dict(args)))
    return {
        "x": data["x"].astype(np.float32), "y": data["y"].astype(np.int64),
        "x_test": data["x_test"].astype(np.float32), "y_test": data["y_test"].astype(np.int64),
    }


@lru_cache(maxsize=4)
def _mnist1d_arrays(key: str) -> dict[str, np.ndarray]:
    args = json.loads(key)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = cache_dir() / f"mnist1d-{digest}.npz"
    if path.exists():
        try:
            with np.load(path) as cached:
                return {k: cached[k] for k in ("x", "y", "x_test", "y_test")}
        except Exception:  # noqa: BLE001 — any unreadable cache (empty, bad zip, ...) is
            path.unlink(missing_ok=True)  # regenerated, not trusted
    arrays = _generate_mnist1d(args)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        write_bytes(path, buffer.getvalue())
    except OSError:
        pass  # an unwritable cache only costs regeneration next time
    return arrays


def mnist1d(split: str = "train", **generator_args) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-1D (Greydanus 2020): X (N×40 float32) and y (N,) int64; 4,000 train / 1,000 test.

    Generated offline by the ``mnist1d`` package's ``make_dataset`` with its default arguments
    (seed 42), overridable through ``generator_args`` (e.g. ``num_samples``, ``seed``), and
    cached under ``cache_dir()`` keyed by those arguments. Never downloads.
    """
    _check_split(split)
    key = json.dumps(_mnist1d_args(**generator_args), sort_keys=True)
    arrays = _mnist1d_arrays(key)
    x, y = (arrays["x"], arrays["y"]) if split == "train" else (arrays["x_test"], arrays["y_test"])
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
