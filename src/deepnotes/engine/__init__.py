"""The engine: one training loop (``fit``), the bookkeeping every loop shares
(``Bookkeeping``: logging window, history, evaluation schedule, checkpoints, NaN guard,
callbacks, progress), entry checks (``preflight``), run folders, checkpoints, devices, DDP.

Used by topic packages and experiments; imports no topic package.
"""

from .bookkeeping import Bookkeeping, NonFiniteLossError, Progress
from .callbacks import EMA
from .checkpoint import CheckpointError, CheckpointWriteError, load_checkpoint, save_checkpoint
from .devices import check_seed, cpu_threads, make_generator, resolve_device
from .loop import BatchStream, FitResult, as_tensors, epoch_permutation, fit, iterate_batches
from .run import Run

__all__ = [
    "EMA",
    "BatchStream",
    "Bookkeeping",
    "CheckpointError",
    "CheckpointWriteError",
    "FitResult",
    "NonFiniteLossError",
    "Progress",
    "Run",
    "as_tensors",
    "check_seed",
    "cpu_threads",
    "epoch_permutation",
    "fit",
    "iterate_batches",
    "load_checkpoint",
    "make_generator",
    "resolve_device",
    "save_checkpoint",
]
