"""Devices, seeds and generators: every entry point takes ``device`` and ``seed``."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` into CUDA when present (else CPU); validate anything else.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"device={device!r} is not a device name ('auto', 'cpu', 'cuda', 'cuda:1')"
        ) from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available here")
    return resolved


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return int(seed)


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed``: randomness in deepnotes goes through these."""
    generator = torch.Generator(device=resolve_device(device))
    generator.manual_seed(check_seed(seed))
    return generator


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch's global generators (for code that uses them implicitly)."""
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def cpu_threads(threads: int | None):
    """Run a block with torch using ``threads`` CPU threads, then restore the previous count.

    The course's models are tiny: per-op overhead dominates, and on a busy 2-core machine
    OpenMP threads waiting for each other make small ops take milliseconds, so one thread is
    usually fastest. ``None`` or 0 leaves torch's setting alone.
    """
    if not threads:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be a positive int (or 0/None for torch's default), "
                         f"got {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
