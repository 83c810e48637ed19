"""The bookkeeping every training loop shares: ``Bookkeeping``.

A loop body (``fit``'s minibatch step, ``train_gan``'s alternation) computes its update and
then calls ``book.end_step(values)``; everything else lives here, once:

- the step counter and the end (``book.step``, ``book.total``);
- the logging window: ``values`` (a dict of numbers) are summed over ``log_every`` steps and
  their means logged as one record ``{"fit": name, "step": s, <means>, <rate>}`` to the
  returned history and the run folder's ``metrics.jsonl``;
- the evaluation schedule: ``evaluate()`` every ``eval_every`` steps and at the end, logged
  as ``eval_<name>``;
- callbacks ``cb(step, loss, model)`` after every step (an EMA of the weights, ...);
- checkpoints every ``checkpoint_every`` steps and at the end: every named state (modules,
  optimizers, schedulers, random generators, stateful callbacks, the batch stream), torch's
  global RNG, the window and a fingerprint of the fit, written atomically by rank 0 only;
  ``resume`` restores all of it, refuses a checkpoint of another fit, and truncates the
  run's log to the checkpoint, so a resumed run logs and returns what an uninterrupted one
  does, bit for bit on CPU;
- the NaN/Inf guard: a non-finite guarded value, or a non-finite parameter at checkpoint time,
  stops training with ``NonFiniteLossError`` naming the step and the last good checkpoint;
- the progress bar.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from . import distributed
from .checkpoint import (
    FORMAT,
    RESERVED,
    CheckpointError,
    CheckpointWriteError,
    capture,
    check_training_checkpoint,
    load_checkpoint,
    restore,
    save_checkpoint,
    type_name,
)
from .run import Run

__all__ = ["Bookkeeping", "NonFiniteLossError", "Progress"]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Progress:
    """A rich progress bar on stderr (rank 0 only), refreshed at most every ``interval`` s."""

    def __init__(self, total: int, description: str, enabled: bool | None, interval=0.25,
                 unit: str = "samples", per_step: int = 1):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.enabled = bool(enabled) and distributed.world()[0] == 0
        self.interval = interval
        self.unit, self.per_step = unit, per_step
        self._last, self._last_completed = time.perf_counter(), None
        self._bar = None
        if self.enabled:
            # deferred: rich.progress costs ~0.1-0.3 s to import, and most fits run without a
            # terminal (tests, workers, CI)
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=True,
            )
            self._task = self._bar.add_task(description, total=total, info="")
            self._bar.start()

    def update(self, completed: int, info: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if force or now - self._last >= self.interval:
            if self._last_completed is not None and completed > self._last_completed:
                rate = (completed - self._last_completed) * self.per_step / (now - self._last)
                info = f"{info} · {rate:,.0f} {self.unit}/s"
            self._last, self._last_completed = now, completed
            self._bar.update(self._task, completed=completed, info=info)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class Bookkeeping:
    """State, logging window, history, evaluation schedule, checkpoints, NaN guard and
    progress of one training loop (module docstring).

    Arguments:
        name: tags the records (``fit=name``) and names the checkpoint
            ``checkpoints/<name>.pt``.
        total: the step at which training ends.
        states: name → object to checkpoint and restore (``nn.Module``, optimizer, scheduler,
            ``torch.Generator``, anything with ``state_dict``/``load_state_dict``); None
            values are skipped. Modules are also checked for NaN/Inf parameters.
        fingerprint: numbers/strings that identify the fit (data size, batch size, seed, k,
            parameter shapes); a checkpoint with another fingerprint is refused.
        guard: value key → description ("the loss") of the values checked for NaN/Inf
            (default ``{"loss": "the loss"}``).
        rate: ``(key, per_step)``: the record's throughput, ``per_step`` units per step per
            second (``("samples_per_s", batch_size)``).
        evaluate: ``() -> {name: number}`` run every ``eval_every`` steps and at the end.
        callbacks: ``cb(step, loss, model)`` after every step; a callback with
            ``state_dict``/``load_state_dict`` is checkpointed as ``callback_<i>``.
        seed: torch's global RNG is seeded with it when training starts afresh (a resume
            restores the saved RNG state instead).
    """

    def __init__(
        self,
        name: str,
        *,
        total: int,
        states: Mapping[str, Any],
        fingerprint: Mapping[str, Any],
        run: Run | None = None,
        resume: bool = False,
        log_every: int,
        eval_every: int | None = None,
        checkpoint_every: int,
        evaluate: Callable[[], Mapping[str, float]] | None = None,
        callbacks: Sequence[Callable] = (),
        guard: Mapping[str, str] | None = None,
        rate: tuple[str, int] = ("samples_per_s", 1),
        progress: bool | None = None,
        seed: int = 0,
    ):
        if resume and run is None:
            raise ValueError("resume=True needs run= (the run folder holding the checkpoint)")
        self.name, self.total, self.run = name, total, run
        self.log_every, self.eval_every, self.checkpoint_every = (log_every, eval_every,
                                                                  checkpoint_every)
        self.evaluate_fn, self.callbacks = evaluate, list(callbacks)
        self.guard = dict(guard) if guard is not None else {"loss": "the loss"}
        self.rate_key, self.rate_per_step = rate
        self.fingerprint = dict(fingerprint)
        self.states = {key: obj for key, obj in states.items() if obj is not None}
        for i, callback in enumerate(self.callbacks):
            if hasattr(callback, "state_dict") and hasattr(callback, "load_state_dict"):
                self.states[f"callback_{i}"] = callback
        if RESERVED & self.states.keys():
            raise ValueError(f"state names {sorted(RESERVED & self.states.keys())} are reserved")
        self.path = run.checkpoint_dir / f"{name}.pt" if run is not None else None
        self.history: list[dict[str, Any]] = []
        self.window: dict[str, float] = {}
        self.window_steps = 0
        self.last: dict[str, float] = {}  # the last logged window's means
        self.evaluated_at: int | None = None
        self.saved_at: int | None = None
        self.step = 0
        if resume and self.path.is_file():
            self._restore()
        else:
            torch.manual_seed(seed)
        if run is not None and resume:  # drop records past the checkpoint, keep the rest
            run.truncate_metrics(lambda r: r.get("fit") != name or r.get("step", 0) <= self.step)
            self.history = [r for r in run.read_metrics() if r.get("fit") == name]
            logged = [r for r in self.history if self.rate_key in r]
            if logged:
                self.last = self._means_of(logged[-1])
            self.evaluated_at = max((r["step"] for r in self.history
                                     if any(k.startswith("eval_") for k in r)), default=None)
        self.start = self.step
        self._window_start = time.perf_counter()
        self._bar = Progress(total, name, progress, unit=rate[0].split("_per_")[0],
                             per_step=rate[1])

    # -- the loop's side ------------------------------------------------------------------------
    def end_step(self, values: Mapping[str, float], *, loss: float | None = None,
                 model: nn.Module | None = None, latest: Mapping[str, float] | None = None,
                 info: str = "") -> None:
        """One step is done: guard, callbacks, window, log, evaluate, checkpoint, progress.

        ``values`` (numbers) enter the window's means; ``latest`` (e.g. BEGAN's k_t) is logged
        as is; ``loss`` and ``model`` are what the callbacks receive."""
        self.step = step = self.step + 1
        for key, description in self.guard.items():
            value = values[key]
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"{self.name}: {description} became {value} at step {step}; training "
                    f"stopped and {self._kept()}. Lower the learning rate or check the data "
                    "for NaN/Inf.")
        for callback in self.callbacks:
            callback(step, loss, model)
        window = self.window
        for key, value in values.items():
            window[key] = window.get(key, 0.0) + float(value)
        self.window_steps += 1
        if step % self.log_every == 0 or step == self.total:
            self._log(latest)
        if self.evaluate_fn is not None and self.eval_every and step % self.eval_every == 0:
            self._evaluate()
        if step % self.checkpoint_every == 0 or step == self.total:
            self.save()
        self._bar.update(step, info)

    @property
    def done(self) -> bool:
        return self.step >= self.total

    def finish(self) -> dict[str, float]:
        """The final metrics: the last window's means (and ``latest``) plus an evaluation at
        the final step (reused when the schedule already ran it)."""
        self.close()
        final = dict(self.last)
        if self.evaluate_fn is not None:
            if self.evaluated_at == self.step:
                final.update({k: v for r in self.history if r["step"] == self.step
                              for k, v in r.items() if k.startswith("eval_")})
            else:
                final.update(self._evaluate())
        return final

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Bookkeeping:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- records --------------------------------------------------------------------------------
    def record(self, entry: Mapping[str, Any]) -> None:
        entry = {"fit": self.name, **entry}
        self.history.append(entry)
        if self.run is not None:
            self.run.log(entry)

    def _log(self, latest: Mapping[str, float] | None) -> None:
        elapsed = time.perf_counter() - self._window_start
        means = {key: total / self.window_steps for key, total in self.window.items()}
        if latest:
            means.update({key: float(value) for key, value in latest.items()})
        self.last = means
        self.record({"step": self.step, **means,
                     self.rate_key: self.window_steps * self.rate_per_step / max(elapsed, 1e-9)})
        self.window, self.window_steps = {}, 0
        self._window_start = time.perf_counter()

    def _means_of(self, record: Mapping[str, Any]) -> dict[str, float]:
        return {k: v for k, v in record.items() if k not in ("fit", "step", self.rate_key)}

    def _evaluate(self) -> dict[str, float]:
        scores = {f"eval_{key}": float(value) for key, value in self.evaluate_fn().items()}
        self.record({"step": self.step, **scores})
        self.evaluated_at = self.step
        return scores

    # -- checkpoints ----------------------------------------------------------------------------
    def _kept(self) -> str:
        if self.path is not None and self.saved_at is not None:
            return f"the last good checkpoint (step {self.saved_at}) is kept at {self.path}"
        if self.path is not None and self.path.is_file():
            return f"the last good checkpoint is kept at {self.path}"
        return "no checkpoint was written before it"

    def check_parameters(self) -> None:
        """Refuse to checkpoint NaN/Inf parameters (a finite loss can hide an infinite
        gradient)."""
        for label, obj in self.states.items():
            if not isinstance(obj, nn.Module):
                continue
            for key, parameter in obj.named_parameters():
                if not bool(torch.isfinite(parameter).all()):
                    where = key if label in ("model", "players") else f"{label}.{key}"
                    raise NonFiniteLossError(
                        f"{self.name}: parameter {where} became NaN/Inf by step {self.step}; "
                        f"training stopped and {self._kept()}. Lower the learning rate or "
                        "check the loss's gradient.")

    def save(self) -> None:
        """Check the parameters, then write the checkpoint (rank 0, with a run folder)."""
        self.check_parameters()
        if self.run is None or not self.run.writes:
            return
        state: dict[str, Any] = {
            "format": FORMAT,
            "step": self.step,
            "fingerprint": self.fingerprint,
            "types": {key: type_name(obj) for key, obj in self.states.items()
                      if not isinstance(obj, (nn.Module, torch.Generator))},
            "bookkeeping": {"window": dict(self.window), "window_steps": self.window_steps},
            "torch_rng": torch.get_rng_state(),
            **{key: capture(obj) for key, obj in self.states.items()},
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        try:
            save_checkpoint(self.path, state)
        except CheckpointWriteError as err:
            kept = (f"the previous checkpoint (step {self.saved_at}) is intact"
                    if self.saved_at is not None else
                    "the previous checkpoint, if any, is intact")
            error = CheckpointWriteError(
                f"{self.name}: could not write the checkpoint {self.path} at step {self.step} "
                f"({getattr(err.__cause__, 'strerror', None) or err.__cause__ or err}); "
                f"training stopped and "
                f"{kept}. Free disk space and resume.")
            error.errno = err.errno
            raise error from err
        self.saved_at = self.step

    def _restore(self) -> None:
        state = load_checkpoint(self.path)
        check_training_checkpoint(state, self.path, self.fingerprint, self.states)
        for key, obj in self.states.items():
            restore(obj, state[key], key, self.path)
        try:
            torch.set_rng_state(state["torch_rng"])
            window = state["bookkeeping"]
            self.window = {k: float(v) for k, v in window["window"].items()}
            self.window_steps = int(window["window_steps"])
            self.step = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"checkpoint {self.path}: corrupt, its bookkeeping does not "
                                  f"read back ({type(err).__name__}: {err})") from err
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.saved_at = self.step
