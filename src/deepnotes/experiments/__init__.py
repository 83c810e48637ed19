"""Experiments: one module per course claim, found by name.

``experiments.names()`` lists them; ``experiments.get("mle-least-squares")`` returns the
module (``CLAIM``, ``Config``, ``run``); ``experiments.execute(name, ...)`` runs one into a run
folder. The registry knows nothing about any particular experiment: a module in this package
that defines ``CLAIM``, ``Config`` and ``run`` is an experiment, named after its file with
``_`` turned into ``-``.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import pkgutil
import platform
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy
import torch

from .. import __version__
from ..engine.devices import cpu_threads, resolve_device
from ..engine.run import Run
from .base import Check, ExperimentConfig, Result, Verdict, override

__all__ = [
    "Check", "ExperimentConfig", "Result", "Verdict", "environment", "execute", "get", "names",
    "override", "preset",
]

_NOT_EXPERIMENTS = {"base"}


def names() -> list[str]:
    """All experiment names, sorted."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _NOT_EXPERIMENTS:
            continue
        found.append(info.name.replace("_", "-"))
    return sorted(found)


def get(name: str) -> ModuleType:
    """The experiment module called ``name`` (ValueError listing the known names if none)."""
    if name not in names():
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(names())}")
    module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
    for attribute in ("CLAIM", "Config", "run"):
        if not hasattr(module, attribute):
            raise TypeError(f"experiment module {module.__name__} lacks {attribute}")
    return module


def preset(name: str, which: str = "quick", **overrides: Any):
    """The ``quick`` or ``full`` Config of experiment ``name`` with fields replaced by
    ``overrides`` (converted by the field's type; unknown keys and bad values refused, see
    ``base.override``). A ``None`` override leaves the field alone."""
    module = get(name)
    if which not in ("quick", "full"):
        raise ValueError(f"preset must be 'quick' or 'full', got {which!r}")
    config = getattr(module.Config, which)()
    return override(config, {k: v for k, v in overrides.items() if v is not None},
                    experiment=name)


def environment(config) -> dict[str, Any]:
    """What a result was measured with: seed, device, and the library versions."""
    device = getattr(config, "device", "auto")
    try:
        resolved = str(resolve_device(device))
    except ValueError:
        resolved = str(device)
    return {
        "seed": getattr(config, "seed", None),
        "device": resolved,
        "versions": {"deepnotes": __version__, "torch": torch.__version__,
                     "numpy": numpy.__version__, "python": platform.python_version()},
    }


def execute(
    name: str, config, out: str | Path = "runs", *, run: Run | None = None,
    preset: str | None = None, threads: int | None = 1,
) -> dict:
    """Run experiment ``name`` with ``config`` in a new run folder (or ``run`` to resume).

    Writes ``config.json`` first and ``result.json`` last; returns the result as a dict
    (with ``run_dir`` added). ``result.json`` holds the claim, the preset, seed, device and
    library versions, the outcome (reproduced / not reproduced / undecided), one entry per
    check, the metrics, published rows, figures, the start time and the wall time in seconds.
    A run folder without ``result.json`` is an unfinished run:
    ``execute(name, config, run=Run.latest(out, name))`` resumes it.
    The experiment runs with ``threads`` torch CPU threads (default 1: the course's models are
    small and run fastest on one; None leaves torch's setting).
    """
    module = get(name)
    if run is None:
        run = Run.create(out, name)
        run.write_config({"experiment": name, "preset": preset, **dataclasses.asdict(config)})
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    with cpu_threads(threads):
        result = module.run(config, run)
    if not isinstance(result, Result):
        raise TypeError(f"{name}.run must return experiments.Result, got {type(result).__name__}")
    payload = {
        "experiment": name,
        "claim": module.CLAIM,
        "section": getattr(module, "SECTION", None),
        "preset": preset,
        **environment(config),
        **result.to_dict(),
        "started": started_at,
        "seconds": round(time.perf_counter() - started, 3),
    }
    run.write_result(payload)
    return {**payload, "run_dir": str(run.path)}


def config_from_dict(name: str, values: dict[str, Any]):
    """Rebuild an experiment's Config from a ``config.json`` (for ``--resume``); keys that are
    not fields (experiment, preset) are ignored, values are checked like overrides."""
    module = get(name)
    fields = {f.name for f in dataclasses.fields(module.Config)}
    return override(module.Config(), {k: v for k, v in values.items() if k in fields},
                    experiment=name)
