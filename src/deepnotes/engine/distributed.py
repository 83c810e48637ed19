"""DistributedDataParallel support for ``engine.fit``, active when launched by ``torchrun``.

``torchrun --nproc_per_node=2 script.py`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` and a
rendezvous address; ``fit`` then joins the process group (gloo on CPU, nccl on CUDA), wraps the
model in DDP, gives each rank ``batch_size / world_size`` examples of every global batch via a
``DistributedSampler``, and lets only rank 0 write to the run folder. Gradients are averaged
across ranks, so with a mean loss the update equals a single-process step on the global batch.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def launched_distributed() -> bool:
    """True inside a ``torchrun`` launch with more than one process."""
    return dist.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1


def world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a distributed launch."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: torch.device) -> torch.device:
    """Join the process group if needed; return this rank's device."""
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def mean_over_ranks(value: torch.Tensor) -> float:
    """The mean of a scalar over all ranks (the global batch's loss, for logging and the
    NaN guard: every rank then stops at the same step)."""
    total = value.detach().clone().reshape(1)
    dist.all_reduce(total)
    return total.item() / dist.get_world_size()
