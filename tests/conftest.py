"""Shared test settings: a headless matplotlib, and one torch thread per test process.

The suite's models are tiny, so per-op overhead dominates and one thread is fastest; `make
test` runs two pytest workers (pytest-xdist) to use both cores instead.
"""

import os

import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)

#: The device the ``cuda``-marked tests run on: "cuda" (default; they skip without a GPU), or
#: "cpu" to exercise the same tests' logic on a machine without one.
TEST_DEVICE = os.environ.get("DEEPNOTES_TEST_DEVICE", "cuda")


def pytest_collection_modifyitems(config, items):
    """Skip ``cuda``-marked tests, with the reason, when no GPU is visible."""
    import pytest

    if TEST_DEVICE != "cuda" or torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a visible CUDA GPU (torch.cuda.is_available() is "
                                   "False); `make test-cuda` on a machine with one")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
