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
import json
import pkgutil
import platform
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy
import torch

from .. import __version__
from ..core.files import write_bytes, write_json, write_text
from ..engine import distributed
from ..engine.bookkeeping import Progress
from ..engine.devices import cpu_threads, resolve_device
from ..engine.executors import Executor, SerialExecutor, UnitError
from ..engine.run import Run
from .base import (
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    check_unit_file,
    check_units,
    override,
    unit_result,
)

__all__ = [
    "Check", "ExperimentConfig", "Result", "UnitsFailed", "Verdict", "environment", "execute",
    "get", "has_units", "names", "override", "preset", "run_units",
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
        "processes": distributed.world()[1],  # > 1 under torchrun (data-parallel fits)
        "versions": {"deepnotes": __version__, "torch": torch.__version__,
                     "numpy": numpy.__version__, "python": platform.python_version()},
    }


def execute(
    name: str, config, out: str | Path = "runs", *, run: Run | None = None,
    preset: str | None = None, threads: int | None = 1, executor: Executor | None = None,
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

    An experiment with sweep units (``units``, ``run_unit``, ``summarize``) runs them on
    ``executor`` (``engine.executors``; default: serial, in this process) through
    ``run_units``: finished units are recorded under ``units/`` as they arrive and skipped
    when the run is resumed.
    """
    module = get(name)
    if run is None:
        run = Run.create(out, name)
        run.write_config({"experiment": name, "preset": preset, **dataclasses.asdict(config)})
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    with cpu_threads(threads):
        if has_units(module):
            result = run_units(module, config, run, executor=executor, label=name)
        else:
            result = module.run(config, run)
    if not isinstance(result, Result):
        raise TypeError(f"{name}.run must return experiments.Result, got {type(result).__name__}")
    # under torchrun: every rank ran the experiment (fit data-parallel inside); report the mean
    result.metrics = distributed.mean_metrics(result.metrics)
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
    if has_units(module):
        payload["executor"] = (executor or SerialExecutor()).describe()
    run.write_result(payload)
    return {**payload, "run_dir": str(run.path)}


def config_from_dict(name: str, values: dict[str, Any]):
    """Rebuild an experiment's Config from a ``config.json`` (for ``--resume``); keys that are
    not fields (experiment, preset) are ignored, values are checked like overrides."""
    module = get(name)
    fields = {f.name for f in dataclasses.fields(module.Config)}
    return override(module.Config(), {k: v for k, v in values.items() if k in fields},
                    experiment=name)


# --------------------------------------------------------------------------------------------
# the sweep-unit driver: units → executor → units/<key>.json as they arrive → summarize

UNITS = "units"
#: How often a unit that raised is run in all (the first run and one retry).
UNIT_ATTEMPTS = 2


class UnitsFailed(RuntimeError):
    """Some units raised on every attempt; the others are recorded, no result.json is written,
    and resuming the run reruns only the failed and missing units."""

    def __init__(self, message: str, failed: dict[str, Path]) -> None:
        super().__init__(message)
        self.failed = failed


def has_units(module: ModuleType) -> bool:
    """Whether an experiment module declares sweep units (``units``, ``run_unit`` and
    ``summarize``, all callable)."""
    return all(callable(getattr(module, attribute, None))
               for attribute in ("units", "run_unit", "summarize"))


def call_unit(module_name: str, config, unit: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """One unit, in whatever process runs it: ``run_unit`` of the module called
    ``module_name`` (imported there), its value normalized by ``base.unit_result``, and the
    seconds it took."""
    module = importlib.import_module(module_name)
    started = time.perf_counter()
    value = unit_result(module.run_unit(config, unit), unit["key"])
    return value, time.perf_counter() - started


def unit_paths(run: Run, key: str) -> tuple[Path, Path]:
    """The record of a finished unit and the traceback file of a failed one."""
    return run.file(f"{UNITS}/{key}.json"), run.file(f"{UNITS}/{key}.error.txt")


def read_unit(run: Run, unit: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded result of ``unit`` in ``run`` (its files read back as bytes), or None when
    it has no complete record (never run, failed, cut short, or recorded for another unit
    description under the same key)."""
    record_path, _ = unit_paths(run, unit["key"])
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("unit") != json.loads(json.dumps(unit)):
            return None
        result = record["result"]
        files = {name: run.file(check_unit_file(name, unit["key"])).read_bytes()
                 for name in record.get("files", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return {**result, "files": files} if files else result


def record_unit(run: Run, unit: dict[str, Any], value: dict[str, Any], seconds: float) -> None:
    """Write a finished unit: its files first, then ``units/<key>.json`` (atomically: a unit
    is finished exactly when its record exists); drop an old traceback file."""
    if not run.writes:
        return
    files = value.get("files", {})
    for name, data in files.items():
        write_bytes(run.file(name), data)
    record_path, error_path = unit_paths(run, unit["key"])
    write_json(record_path, {"unit": unit, "seconds": round(seconds, 3), "files": sorted(files),
                             "result": {k: v for k, v in value.items() if k != "files"}})
    error_path.unlink(missing_ok=True)


def run_units(module: ModuleType, config, run: Run, *, executor: Executor | None = None,
              label: str | None = None) -> Result:
    """Run a unit experiment's missing units on ``executor`` (default serial) and summarize.

    Units already recorded in ``run`` (``units/<key>.json``) are not run again. The others go
    to the executor; each is recorded as it arrives. A unit that raises is run once more; if it
    raises again its tracebacks go to ``units/<key>.error.txt`` and, once every other unit has
    finished, ``UnitsFailed`` names the failed units and their files (no result is written;
    resuming reruns just those). ``KeyboardInterrupt`` or a lost worker stop the sweep with
    what had finished recorded. Progress (finished/total units) is shown on a terminal.
    """
    executor = executor or SerialExecutor()
    label = label or module.__name__.rpartition(".")[2]
    units = check_units(module.units(config))
    results: dict[str, dict[str, Any]] = {}
    for unit in units:
        recorded = read_unit(run, unit)
        if recorded is not None:
            results[unit["key"]] = recorded
    resources = dict(getattr(module, "UNIT_RESOURCES", None) or {})
    unknown = set(resources) - {"num_cpus", "num_gpus"}
    if unknown:
        raise ValueError(f"{module.__name__}.UNIT_RESOURCES: unknown keys {sorted(unknown)} "
                         "(num_cpus, num_gpus)")
    pending = [unit for unit in units if unit["key"] not in results]
    errors: dict[str, list[UnitError]] = {}
    # the engine's progress bar (stderr, on a terminal, rank 0): finished/total units
    progress = Progress(len(units), f"{label} units", enabled=None, interval=0, unit="units")
    progress.update(len(results))
    try:
        for _attempt in range(UNIT_ATTEMPTS):
            if not pending:
                break
            calls = [(module.__name__, config, unit) for unit in pending]
            for index, returned in executor.map_unordered(call_unit, calls, **resources):
                unit = pending[index]
                if isinstance(returned, UnitError):
                    errors.setdefault(unit["key"], []).append(returned)
                    continue
                value, seconds = returned
                record_unit(run, unit, value, seconds)
                results[unit["key"]] = value
                errors.pop(unit["key"], None)
                progress.update(len(results))
            pending = [unit for unit in pending if unit["key"] not in results]
    finally:
        progress.close()
    if errors:
        failed = {}
        for key, attempts in errors.items():
            _, error_path = unit_paths(run, key)
            if run.writes:
                write_text(error_path, "".join(
                    f"--- attempt {i} of {len(attempts)}: {e.kind}: {e.message}\n{e.traceback}\n"
                    for i, e in enumerate(attempts, 1)))
            failed[key] = error_path
        listing = "; ".join(f"{key} ({errors[key][-1].kind}: {errors[key][-1].message}; "
                            f"traceback in {path})" for key, path in failed.items())
        raise UnitsFailed(f"{label}: {len(failed)} of {len(units)} units failed twice: "
                          f"{listing}. The other units are recorded in {run.path / UNITS}; "
                          f"resume the run (--resume) to rerun only the failed and missing "
                          f"units.", failed)
    return module.summarize(config, [results[unit["key"]] for unit in units], run)
