"""Devices and CPU threads: every entry point takes ``device`` (seeds: ``core.rng``)."""

from __future__ import annotations

import contextlib

import torch

from ..core.checks import nonnegative_int
from ..core.rng import check_seed, make_generator

__all__ = ["check_seed", "cpu_threads", "make_generator", "resolve_device"]


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
    threads = nonnegative_int(threads, "threads")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
