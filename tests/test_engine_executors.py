"""engine.executors: serial and local (spawned process pool) give every call's value (or a
UnitError with its traceback) back by index; a raising call never stops the others; a
KeyboardInterrupt stops the batch; bad options are refused with the argument's name; a missing
Ray names the extra to install. (Ray itself, a killed worker and the sweep driver:
tests/test_sweep_units.py.)"""

from __future__ import annotations

import os
import sys

import pytest
import torch

from deepnotes.engine import executors
from deepnotes.engine.executors import UnitError


def square(x: int) -> dict:
    """A unit of work: raises for x = 3, and says which process and how many threads ran it."""
    if x == 3:
        raise ValueError("three is refused")
    return {"x": x, "square": x * x, "pid": os.getpid(), "threads": torch.get_num_threads()}


def interrupt_on(x: int, victim: int) -> int:
    if x == victim:
        raise KeyboardInterrupt
    return x


def _check_squares(results: dict, n: int) -> None:
    assert set(results) == set(range(n))
    for x, value in results.items():
        if x == 3:
            assert isinstance(value, UnitError) and value.kind == "ValueError"
            assert value.message == "three is refused"
            assert "in square" in value.traceback and "three is refused" in value.traceback
        else:
            assert value["square"] == x * x


def test_serial_runs_in_order_in_this_process():
    pairs = list(executors.make("serial").map_unordered(square, [(x,) for x in range(5)]))
    assert [index for index, _ in pairs] == list(range(5))
    _check_squares(dict(pairs), 5)
    assert all(v["pid"] == os.getpid() for k, v in pairs if k != 3)


def test_local_pool_gives_every_value_with_one_thread_and_reuses_its_workers():
    """One function and one worker for the whole pool (spawning costs ~2 s of CPU per worker;
    pytest-xdist could give separate tests separate pools; two workers at once:
    tests/test_sweep_units.py): values and errors by index, one torch thread, the worker
    reused across batches, and a KeyboardInterrupt in a worker stops the batch."""
    with executors.make("local", workers=1) as pool:
        first = dict(pool.map_unordered(square, [(x,) for x in range(6)]))
        _check_squares(first, 6)
        second = dict(pool.map_unordered(square, [(x,) for x in range(4)]))
        values = [v for v in [*first.values(), *second.values()] if not isinstance(v, UnitError)]
        assert all(v["threads"] == 1 for v in values)
        pids = {v["pid"] for v in values}
        assert os.getpid() not in pids and len(pids) == 1  # one worker, reused
        assert pool.describe() == {"name": "local", "workers": 1}
        with pytest.raises(KeyboardInterrupt):
            list(pool.map_unordered(interrupt_on, [(x, 1) for x in range(4)]))


def test_keyboard_interrupt_stops_a_serial_batch():
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for _, value in executors.make("serial").map_unordered(interrupt_on,
                                                              [(x, 1) for x in range(4)]):
            seen.append(value)
    assert seen == [0]


@pytest.mark.parametrize("call, message", [
    (lambda: executors.make("dask"), "executor must be one of 'serial', 'local', 'ray'"),
    (lambda: executors.make("local", workers=0), "workers"),
    (lambda: executors.make("local", workers=1.5), "workers"),
    (lambda: executors.make("serial", workers=-2), "workers"),
    (lambda: executors.make("local", address="auto"), "address is for the ray executor"),
    (lambda: executors.make("ray", address=7), "address must be None, 'auto'"),
    (lambda: list(executors.make("serial").map_unordered(square, [(1,)], num_cpus=0)),
     "num_cpus"),
    (lambda: list(executors.make("serial").map_unordered(square, [(1,)], num_gpus=-1)),
     "num_gpus"),
])
def test_bad_options_are_refused_by_name(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_ray_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'deepnotes\[ray\]'"):
        executors.make("ray")
