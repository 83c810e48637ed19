"""The engine: one training loop (``fit``), run folders, checkpoints, devices and seeds, DDP.

Used by topic packages and experiments; imports no topic package.
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .devices import check_seed, cpu_threads, make_generator, resolve_device
from .loop import (
    Checkpointer,
    FitResult,
    NonFiniteLossError,
    Progress,
    as_tensors,
    check_finite,
    check_parameters_finite,
    epoch_permutation,
    fit,
    iterate_batches,
)
from .run import Run

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "FitResult",
    "NonFiniteLossError",
    "Progress",
    "Run",
    "check_seed",
    "as_tensors",
    "check_finite",
    "check_parameters_finite",
    "cpu_threads",
    "epoch_permutation",
    "fit",
    "iterate_batches",
    "load_checkpoint",
    "make_generator",
    "resolve_device",
    "save_checkpoint",
]
