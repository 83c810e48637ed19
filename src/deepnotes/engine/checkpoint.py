"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)`` only.

A checkpoint is a dict of tensors, numbers, strings and containers of them (model and
optimizer ``state_dict``s, RNG states, the step). Anything that needs arbitrary unpickling
is refused: loading a checkpoint must never run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from ..core.files import torch_save


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or carries objects that are not plain data."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + rename)."""
    return torch_save(Path(path), state)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; refuse anything else with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"checkpoint {path}: refused, it holds objects other than tensors and plain data "
            f"(torch.load(weights_only=True) said: {str(err).splitlines()[0]})"
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"checkpoint {path}: unreadable or truncated ({err})") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict, found {type(state).__name__}")
    return state
