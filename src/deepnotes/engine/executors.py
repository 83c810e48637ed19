"""Executors: run many independent calls ``fn(*args)`` and hand back each result as it finishes.

Three of them, one interface::

    with executors.make("local", workers=2) as pool:
        for index, value in pool.map_unordered(fn, [(a1,), (a2,), ...]):
            ...   # value is fn's return value, or a UnitError holding the traceback text

- ``serial``: in this process, in order (no pickling; the reference the others must match);
- ``local``: a pool of ``workers`` *spawned* processes (default ``os.cpu_count()``), each with
  one torch CPU thread, reused across calls and across ``map_unordered`` batches;
- ``ray``: each call a Ray task with ``num_cpus`` / ``num_gpus``; ``address`` None starts a
  local Ray runtime (``workers`` CPUs), ``"auto"`` joins the cluster this machine belongs to,
  ``"ray://host:10001"`` connects a Ray client. Results are gathered with ``ray.wait`` as they
  finish. Ray is optional: ``pip install deepnotes[ray]``.

A call that raises an ``Exception`` comes back as a ``UnitError`` (the formatted traceback, the
same text whatever the executor), so exceptions never have to cross a process boundary and a
failure never stops the others. ``KeyboardInterrupt``, and a pool worker that dies, stop the
whole batch: ``map_unordered`` raises (``WorkerLost`` for a dead worker) after yielding what had
finished, so a caller that records results as they arrive loses nothing finished. (Ray reruns a
task whose worker or node was lost, then reports it as a ``UnitError``.)

``fn`` and its arguments must be picklable (a module-level function, plain data): ``local``
and ``ray`` import ``fn``'s module in the workers. Scripts that use ``local`` need the usual
``if __name__ == "__main__":`` guard (spawned workers import the main module).

The engine knows nothing about experiments: the experiment registry turns units into calls.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import torch

from ..core import checks

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "SerialExecutor",
           "UnitError", "WorkerLost", "make"]

#: The executor names ``make`` (and the CLI's ``--executor``) accept.
EXECUTORS = ("serial", "local", "ray")

RAY_MISSING = ("the ray executor needs Ray, which is not installed: "
               "pip install 'deepnotes[ray]'  (or: pip install ray)")


@dataclass(frozen=True)
class UnitError:
    """A call that raised: ``kind`` is the exception's class name, ``traceback`` the formatted
    traceback (as Python prints it), ``message`` its one-line ``str``."""

    kind: str
    message: str
    traceback: str


class WorkerLost(RuntimeError):
    """A worker process died (killed, out of memory) while a batch was running; the calls that
    had finished were yielded before this is raised."""


def call_in_worker(fn: Callable, args: tuple, threads: int | None) -> Any:
    """``fn(*args)`` with ``threads`` torch CPU threads (None: leave torch's setting); an
    ``Exception`` is returned as a ``UnitError``. (``KeyboardInterrupt`` and other
    ``BaseException`` s propagate: they stop the batch.)"""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 - every failure of a unit becomes data
        return UnitError(type(err).__name__, str(err), traceback.format_exc())
    finally:
        if threads:
            torch.set_num_threads(previous)


class Executor:
    """The interface: ``map_unordered(fn, args, num_cpus=1, num_gpus=0)`` yields ``(index,
    value)`` for each ``args[index]`` as it finishes (``value``: ``fn``'s result or a
    ``UnitError``); ``close()`` (or leaving a ``with`` block) frees the workers."""

    name = "executor"

    def map_unordered(self, fn: Callable, args: Sequence[tuple], *, num_cpus: float = 1,
                      num_gpus: float = 0) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What ran the units, for result.json (``{"name": "local", "workers": 2}``)."""
        return {"name": self.name}

    def close(self) -> None:
        """Free the workers (a no-op where there are none)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class SerialExecutor(Executor):
    """Every call in this process, in order, with the caller's torch thread setting."""

    name = "serial"

    def map_unordered(self, fn, args, *, num_cpus=1, num_gpus=0):
        _check_resources(num_cpus, num_gpus)
        for index, arguments in enumerate(args):
            yield index, call_in_worker(fn, tuple(arguments), None)


def _init_local_worker() -> None:
    torch.set_num_threads(1)


class LocalExecutor(Executor):
    """A pool of ``workers`` spawned processes (one torch thread each), started at the first
    batch and reused until ``close()``. ``num_cpus`` / ``num_gpus`` are ignored: each call gets
    one worker."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else checks.positive_int(
            workers, "workers")
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def describe(self):
        return {"name": self.name, "workers": self.workers}

    def _ensure_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_local_worker)
        return self._pool

    def map_unordered(self, fn, args, *, num_cpus=1, num_gpus=0):
        _check_resources(num_cpus, num_gpus)
        pool = self._ensure_pool()
        futures = {pool.submit(call_in_worker, fn, tuple(arguments), 1): index
                   for index, arguments in enumerate(args)}
        finished = False
        try:
            for future in concurrent.futures.as_completed(futures):
                try:
                    value = future.result()
                except BrokenProcessPool as err:
                    raise WorkerLost(
                        f"a worker process of the local pool died (killed or out of memory) "
                        f"with {sum(not f.done() or f.exception() is not None for f in futures)}"
                        f" call(s) unfinished") from err
                yield futures[future], value
            finished = True
        finally:
            if not finished:  # interrupted, a dead worker, or the caller stopped early
                self._terminate()

    def _terminate(self) -> None:
        """Stop the pool now: cancel what has not started and end the worker processes."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor(Executor):
    """Each call a Ray task (``num_cpus``, ``num_gpus`` per call; torch gets
    ``max(1, int(num_cpus))`` threads in it). ``address``: None starts a local runtime with
    ``workers`` CPUs (default: all) unless Ray is already initialized in this process; "auto"
    or "ray://…" connects to a running cluster. ``init_options`` go to ``ray.init``. A runtime
    this executor started is shut down by ``close()``. Ray itself reruns a task whose worker or
    node was lost (``max_retries``, Ray's default 3); a task still lost after that comes back
    as a ``UnitError``, like a task that raised."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 **init_options: Any) -> None:
        try:
            import ray  # optional dependency: deferred so the engine imports without it
        except ImportError as err:
            raise ImportError(RAY_MISSING) from err
        if address is not None and not isinstance(address, str):
            raise TypeError(f"address must be None, 'auto' or 'ray://host:port', got {address!r}")
        if workers is not None:
            workers = checks.positive_int(workers, "workers")
        self._ray = ray
        self.address = address
        self.started = False
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": True, **init_options}
            if address is None and workers is not None:
                options.setdefault("num_cpus", workers)
            ray.init(address=address, **options)
            self.started = True

    def describe(self):
        resources = self._ray.cluster_resources()
        return {"name": self.name, "address": self.address,
                "cluster_cpus": resources.get("CPU"), "cluster_gpus": resources.get("GPU", 0)}

    def map_unordered(self, fn, args, *, num_cpus=1, num_gpus=0):
        _check_resources(num_cpus, num_gpus)
        ray = self._ray
        task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(call_in_worker)
        threads = max(1, int(num_cpus))
        pending = {task.remote(fn, tuple(arguments), threads): index
                   for index, arguments in enumerate(args)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    index = pending.pop(ref)
                    try:
                        value = ray.get(ref)
                    except ray.exceptions.RayTaskError as err:  # a BaseException in the task
                        value = UnitError(type(err.cause).__name__ if err.cause else "RayTaskError",
                                          str(err.cause or err), str(err))
                    except ray.exceptions.RayError as err:  # worker/node lost after Ray's retries
                        value = UnitError(type(err).__name__, str(err).splitlines()[0] if str(err)
                                          else type(err).__name__, str(err))
                    yield index, value
        finally:
            for ref in pending:  # interrupted or stopped early: do not leave work queued
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.started and self._ray.is_initialized():
            self._ray.shutdown()
        self.started = False


def _check_resources(num_cpus, num_gpus) -> None:
    checks.positive_number(num_cpus, "num_cpus")
    checks.nonnegative_number(num_gpus, "num_gpus")


def make(name: str = "local", *, workers: int | None = None, address: str | None = None,
         **options: Any) -> Executor:
    """The executor called ``name`` (``EXECUTORS``). ``workers``: processes for ``local``, CPUs
    of a local Ray runtime for ``ray``; ``address`` (ray only): None, "auto" or "ray://…";
    ``options`` go to ``ray.init``."""
    checks.choice(name, "executor", EXECUTORS)
    if address is not None and name != "ray":
        raise ValueError(f"address is for the ray executor only, got address={address!r} "
                         f"with executor={name!r}")
    if options and name != "ray":
        raise TypeError(f"unexpected options for the {name} executor: {sorted(options)}")
    if name == "serial":
        if workers is not None:
            checks.positive_int(workers, "workers")
        return SerialExecutor()
    if name == "local":
        return LocalExecutor(workers)
    return RayExecutor(address, workers, **options)
