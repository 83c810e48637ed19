"""DistributedDataParallel support for ``engine.fit``, active when launched by ``torchrun``.

From the command line: ``torchrun --nproc_per_node=N -m deepnotes run NAME ...`` runs the
experiment in N processes: every ``fit`` inside it trains one model data-parallel, rank 0 alone
writes the run folder (its path is broadcast so every rank agrees on it) and prints, and the
result's metrics are averaged over the ranks (``mean_metrics``).

``torchrun --nproc_per_node=2 script.py`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` and a
rendezvous address; ``fit`` then joins the process group (gloo on CPU, nccl on CUDA), wraps the
model in DDP, gives each rank ``batch_size / world_size`` examples of every global batch via a
``DistributedSampler``, and lets only rank 0 write to the run folder. Gradients are averaged
across ranks, so with a mean loss the update equals a single-process step on the global batch.
"""

from __future__ import annotations

import numbers
import os
from typing import Any

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


def active() -> bool:
    """True when a process group with more than one rank is initialized."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def from_rank_zero(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a picklable object; unchanged outside a group)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean_metrics(metrics: Any) -> Any:
    """``metrics`` (numbers nested in dicts and lists) with every real number replaced by its
    mean over the ranks — one all-reduce for all of them; booleans, integers' types, strings
    and None are left alone where every rank agrees. Unchanged outside a group. All ranks must
    pass the same structure (they run the same experiment)."""
    if not active():
        return metrics
    slots: list[float] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                collect(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                collect(value)
        elif isinstance(node, numbers.Real) and not isinstance(node, bool):
            slots.append(float(node))

    collect(metrics)
    if not slots:
        return metrics
    total = torch.tensor(slots, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        total = total.cuda()
    dist.all_reduce(total)
    means = iter((total / dist.get_world_size()).cpu().tolist())

    def rebuild(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: rebuild(value) for key, value in node.items()}
        if isinstance(node, (list, tuple)):
            return type(node)(rebuild(value) for value in node)
        if isinstance(node, numbers.Real) and not isinstance(node, bool):
            mean = next(means)
            return round(mean) if isinstance(node, numbers.Integral) else mean
        return node

    return rebuild(metrics)


def finish() -> None:
    """Leave the process group (at the end of a torchrun launch)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def mean_over_ranks(value: torch.Tensor) -> float:
    """The mean of a scalar over all ranks (the global batch's loss, for logging and the
    NaN guard: every rank then stops at the same step)."""
    total = value.detach().clone().reshape(1)
    dist.all_reduce(total)
    return total.item() / dist.get_world_size()
