"""Shared test settings: a headless matplotlib, and one torch thread per test process.

The suite's models are tiny, so per-op overhead dominates and one thread is fastest; `make
test` runs two pytest workers (pytest-xdist) to use both cores instead.
"""

import os

import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)
