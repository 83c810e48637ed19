"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)`` only.

A checkpoint is a dict of tensors, numbers, strings and containers of them (model and
optimizer ``state_dict``s, RNG states, the step). Anything that needs arbitrary unpickling
is refused: loading a checkpoint must never run code.

A file that does not load is diagnosed, each case with its own message (``CheckpointError``):

- *unreadable*: missing, empty, truncated or corrupt (garbage bytes, a cut-off archive);
- *unsafe*: it holds pickled Python objects (a class, a function); it is refused and never
  unpickled;
- *foreign*: it loads, but is not what was expected (a model's plain ``state_dict`` where a
  training checkpoint is expected, a bare tensor);
- *incompatible*: a training checkpoint of another model, optimizer type or configuration.

A failed write (disk full) raises ``CheckpointWriteError`` (an ``OSError``) and leaves the
previous file untouched.

Training checkpoints (the ones ``fit`` and ``train_gan`` write through ``engine.Bookkeeping``)
carry ``format = FORMAT``, the ``step``, a ``fingerprint`` of the fit, the type of each
optimizer/scheduler/callback, and one entry per named state (``model``, ``optimizer``, ...).
"""

from __future__ import annotations

import pickletools
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.files import torch_save

#: marks a training checkpoint written by ``engine.Bookkeeping`` (bump on a format change)
FORMAT = "deepnotes-training-checkpoint/1"

#: keys of a training checkpoint that are not named states
RESERVED = frozenset({"format", "step", "fingerprint", "types", "bookkeeping", "torch_rng",
                      "cuda_rng"})

# torch.save's legacy (non-zip) format starts with a pickled magic number
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, unsafe, foreign or incompatible."""


class CheckpointWriteError(OSError):
    """Writing a checkpoint failed (disk full, permissions); the previous file is kept."""


# ---------------------------------------------------------------------------------------------
# writing


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + rename): after an error (disk full)
    the file at ``path`` is the previous one, unchanged."""
    path = Path(path)
    try:
        return torch_save(path, state)
    except OSError as err:
        error = CheckpointWriteError(
            f"checkpoint {path}: could not be written ({err.strerror or err}); "
            "the previous file there, if any, is unchanged")
        error.errno = err.errno
        raise error from err


# ---------------------------------------------------------------------------------------------
# reading and diagnosis


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a file that does not load is diagnosed
    (unreadable / unsafe / foreign) in a ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path}: unreadable, the file is empty (truncated)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many kinds; the diagnosis reads the file itself
        raise CheckpointError(f"checkpoint {path}: {_diagnose(path)}") from err
    damaged = _failed_crc(path)  # torch does not check the CRCs of tensor data
    if damaged is not None:
        raise CheckpointError(f"checkpoint {path}: unreadable, the archive is corrupt "
                              f"({damaged} fails its CRC-32 check)")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: foreign, it holds a "
                              f"{type(state).__name__}, not a dict of states")
    return state


def _failed_crc(path: Path) -> str | None:
    """The first member of a zip archive whose CRC-32 does not match (None: all match, or
    not a zip archive)."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        return str(err)


def _diagnose(path: Path) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, read from the bytes (never
    unpickled: ``pickletools`` only decodes opcodes)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == b"PK\x03\x04":  # a zip archive: torch.save's format
        try:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if not names:
                    return ("foreign, a zip archive that torch.save did not write "
                            "(no data.pkl inside)")
                payload = archive.read(names[0])
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            return f"unreadable, the archive is truncated or corrupt ({err})"
        scan = _scan_pickle(payload)
        if scan is None:
            return "unreadable, the archive is corrupt (its data.pkl does not decode)"
        unsafe = [g for g in scan[1] if not _allowed(g)]
        if unsafe:
            return _unsafe(unsafe)
        return "unreadable, the archive is corrupt (its data does not read back)"
    data = path.read_bytes()
    scan = _scan_pickle(data)
    if scan is None:
        return (f"unreadable, it is neither a torch.save archive nor a pickle: corrupt or not a "
                f"checkpoint (it starts with {data[:16]!r})")
    end, found, first_value = scan
    if first_value == _LEGACY_MAGIC:  # torch.save(..., _use_new_zipfile_serialization=False)
        return ("refused: a legacy-format torch file that does not load with weights_only=True "
                "(it holds pickled objects, or it is corrupt); re-save it with torch.save")
    if end < len(data):
        return (f"unreadable, corrupt or not a checkpoint (it starts with {data[:16]!r})")
    unsafe = [g for g in found if not _allowed(g)]
    if unsafe:
        return _unsafe(unsafe)
    return "foreign, a plain Python pickle, not a torch.save file"


def _unsafe(names: list[str]) -> str:
    shown = ", ".join(sorted(set(names))[:5])
    return (f"refused: unsafe, it holds pickled Python objects ({shown}) that loading would "
            "have to construct or call, and a checkpoint must hold only tensors and plain data")


def _allowed(name: str) -> bool:
    """Globals torch's weights-only unpickler accepts (tensor rebuilds, OrderedDict, dtypes)."""
    return name.startswith("torch.") or name in ("collections.OrderedDict",
                                                 "builtins.set", "builtins.frozenset")


def _scan_pickle(data: bytes) -> tuple[int, list[str], Any] | None:
    """Decode one pickle's opcodes: (end offset, globals it names, the first pushed int), or
    None when the bytes are not a pickle."""
    found: list[str] = []
    strings: list[str] = []
    first_value = None
    try:
        for opcode, arg, position in pickletools.genops(data):
            if opcode.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            if isinstance(arg, str):
                strings.append(arg)
            if first_value is None and isinstance(arg, int) and opcode.name.startswith("LONG"):
                first_value = arg
            if opcode.name == "STOP":
                return position + 1, found, first_value
    except (ValueError, EOFError, IndexError, TypeError, UnicodeDecodeError):
        return None
    return None


def describe_foreign(state: Mapping[str, Any]) -> str:
    """A short description of a dict that is not a training checkpoint."""
    keys = list(state)
    shown = ", ".join(map(str, keys[:4])) + (", ..." if len(keys) > 4 else "")
    if keys and all(isinstance(v, torch.Tensor) for v in state.values()):
        return (f"it holds a plain state_dict of {len(keys)} tensors ({shown}), e.g. a model's "
                "weights, without the step, optimizer and random states a resume needs")
    if "step" in state and "model" in state:
        return "it was written by an earlier version of deepnotes (no format marker)"
    return f"it holds a dict with keys {shown or 'none'}"


# ---------------------------------------------------------------------------------------------
# named states: modules, optimizers, schedulers, generators, anything with a state_dict


def parameter_shapes(module: nn.Module) -> list[list]:
    """[[name, shape], ...] of ``module``'s parameters (shape None while a lazy module's
    parameter is not yet materialized): the part of a fit's fingerprint that names its model."""
    return [[key, None if isinstance(p, nn.parameter.UninitializedParameter) else list(p.shape)]
            for key, p in module.named_parameters()]


def type_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def capture(obj: Any) -> Any:
    """The checkpointable state of ``obj``: ``state_dict()``, or a ``torch.Generator``'s
    state."""
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    return obj.state_dict()


def restore(obj: Any, state: Any, name: str, path: Path) -> None:
    """Load ``state`` into ``obj`` (the state called ``name`` in checkpoint ``path``); a
    state that does not fit raises ``CheckpointError`` saying what differs."""
    prefix = f"checkpoint {path}: incompatible, its {name}"
    if isinstance(obj, torch.Generator):
        if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8:
            raise CheckpointError(f"{prefix} is not a random generator's state")
        obj.set_state(state.cpu())
        return
    if isinstance(obj, nn.Module):
        _check_module_state(obj, state, prefix)
    elif isinstance(obj, torch.optim.Optimizer):
        _check_optimizer_state(obj, state, prefix)
    try:
        obj.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as err:
        raise CheckpointError(f"{prefix} does not load into this run's {type(obj).__name__} "
                              f"({type(err).__name__}: {err})") from err


def _check_module_state(module: nn.Module, state: Any, prefix: str) -> None:
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{prefix} is not a state_dict")
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                if k in state and isinstance(state[k], torch.Tensor)
                and isinstance(v, torch.Tensor)
                and not isinstance(v, nn.parameter.UninitializedTensorMixin)
                and state[k].shape != v.shape]
    if missing or unexpected or reshaped:
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(missing[:4])}")
        if unexpected:
            parts.append(f"has extra {', '.join(unexpected[:4])}")
        if reshaped:
            parts.append(f"differs in shape: {', '.join(reshaped[:4])} (saved vs this run)")
        raise CheckpointError(f"{prefix} belongs to another model: it {'; '.join(parts)}")


def _check_optimizer_state(optimizer: torch.optim.Optimizer, state: Any, prefix: str) -> None:
    if not isinstance(state, Mapping) or "param_groups" not in state or "state" not in state:
        raise CheckpointError(f"{prefix} is not an optimizer's state_dict")
    groups, saved_groups = optimizer.param_groups, state["param_groups"]
    if len(groups) != len(saved_groups) or any(
            len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups,
                                                                   strict=False)):
        raise CheckpointError(
            f"{prefix} holds {[len(s['params']) for s in saved_groups]} parameters per group, "
            f"this run's optimizer {[len(g['params']) for g in groups]}")
    for group, saved in zip(groups, saved_groups, strict=True):
        lacking = sorted(set(group) - set(saved) - {"params"})
        if lacking:
            raise CheckpointError(
                f"{prefix} lacks the hyperparameters {', '.join(lacking)} that this run's "
                f"{type(optimizer).__name__} needs: it was saved by another kind of optimizer")


def check_training_checkpoint(state: dict[str, Any], path: Path, fingerprint: Mapping,
                              objects: Mapping[str, Any]) -> None:
    """Refuse a loaded dict that is not a training checkpoint of this fit: foreign (no
    format marker), another fit (``fingerprint`` differs), or other states / types than
    ``objects`` (name → object this run restores into)."""
    if state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: foreign, not a training checkpoint: "
                              f"{describe_foreign(state)}; start a new run or give this fit "
                              "another name=")
    saved = state.get("fingerprint", {})
    if saved != dict(fingerprint):
        differs = sorted(k for k in fingerprint.keys() | saved.keys()
                         if fingerprint.get(k) != saved.get(k))
        shown = "; ".join(f"{k}: {saved.get(k)!r} saved, {fingerprint.get(k)!r} now"
                          for k in differs if k not in ("parameters", "generator",
                                                        "discriminator"))
        raise CheckpointError(
            f"checkpoint {path} belongs to a different fit (differs in {', '.join(differs)}"
            f"{'; ' + shown if shown else ''}); resume with the same settings, or give this fit "
            "another name= or start a new run")
    names = {k for k in state if k not in RESERVED}
    if names != set(objects):
        only_saved, only_now = sorted(names - set(objects)), sorted(set(objects) - names)
        raise CheckpointError(
            f"checkpoint {path}: incompatible, it holds states for "
            f"{', '.join(only_saved) or 'nothing more'} and lacks {', '.join(only_now) or '-'}"
            " compared with this run (a scheduler, a callback or EMA added or removed?)")
    types = state.get("types", {})
    for name, obj in objects.items():
        if name in types and types[name] != type_name(obj):
            raise CheckpointError(
                f"checkpoint {path}: incompatible, its {name} is a {types[name]}, this run's "
                f"is a {type_name(obj)}")
