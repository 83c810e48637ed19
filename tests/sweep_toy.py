"""A tiny sweep-unit experiment for the executor and driver tests (not a registered experiment).

Each unit fits least squares (gradient descent) to data drawn from its own key's stream, and
leaves a file in ``count_dir`` each time it starts (so a test can count the runs of every unit).
Keys listed in ``fail`` always raise; in ``flaky`` raise on their first run only; in
``interrupt`` raise ``KeyboardInterrupt`` on their first run; in ``kill`` kill their own process
on the first run.
Workers import this module by name: the tests put this folder on their path.
"""

from __future__ import annotations

import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.experiments.base import Check, ExperimentConfig, Result, Verdict, unit_run

CLAIM = "A toy sweep: least squares recovers the weights of every unit."


@dataclass(frozen=True)
class Config(ExperimentConfig):
    units: int = 6
    samples: int = 200
    count_dir: str = ""
    fail: tuple[str, ...] = ()
    flaky: tuple[str, ...] = ()
    interrupt: tuple[str, ...] = ()
    kill: tuple[str, ...] = ()

    @classmethod
    def quick(cls) -> Config:
        return cls()


def runs_of(count_dir, key: str) -> int:
    """How many times unit ``key`` has started (files it left in ``count_dir``)."""
    return len(list(Path(count_dir).glob(f"{key}.*.run")))


def units(config: Config) -> list[dict]:
    return [{"key": f"u{i}", "dim": 2 + i % 3} for i in range(config.units)]


def run_unit(config: Config, unit: dict) -> dict:
    key = unit["key"]
    first = True
    if config.count_dir:
        first = runs_of(config.count_dir, key) == 0
        (Path(config.count_dir) / f"{key}.{uuid.uuid4().hex}.run").touch()
    if key in config.fail or (first and key in config.flaky):
        raise ValueError(f"unit {key} fails on purpose")
    if first and key in config.interrupt:
        raise KeyboardInterrupt
    if first and key in config.kill:
        os.kill(os.getpid(), signal.SIGKILL)
    rng = config.streams().generator(f"unit-{key}")
    X = torch.randn(config.samples, unit["dim"], generator=rng, dtype=torch.float64)
    w = torch.randn(unit["dim"], generator=rng, dtype=torch.float64)
    y = X @ w + 0.1 * torch.randn(config.samples, generator=rng, dtype=torch.float64)
    # gradient descent on the mean squared error with elementwise ops only: MKL's LAPACK
    # (lstsq) can differ in the last bit between processes (memory alignment), torch's own
    # reductions do not
    w_hat = torch.zeros(unit["dim"], dtype=torch.float64)
    for _ in range(100):
        w_hat = w_hat - 0.5 * (((X * w_hat).sum(1) - y)[:, None] * X).mean(0)
    return {"key": key, "error": float((w_hat - w).norm()), "w_hat": w_hat.tolist(),
            "threads": torch.get_num_threads(),
            "files": {f"toy/{key}.txt": f"unit {key}\n".encode()}}


def summarize(config: Config, unit_results: list[dict], run) -> Result:
    errors = {r["key"]: r["error"] for r in unit_results}
    worst = max(errors.values())
    files = sorted(name for r in unit_results for name in r.get("files", {}))
    return Result({"errors": errors, "w_hat": {r["key"]: r["w_hat"] for r in unit_results},
                   "files": files},
                  Verdict([Check.exact("every unit recovers w within 0.1", worst <= 0.1,
                                       worst, 0.1, "<=")]))


run = unit_run(units, run_unit, summarize)
