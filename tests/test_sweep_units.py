"""The sweep-unit driver (experiments.run_units / execute): the same sweep gives the same
metrics through serial, local and Ray; finished units are recorded as they arrive and a resumed
run reruns only the missing ones (after an interrupt or a killed worker); a unit that raises is
retried once, then reported with its traceback while the others finish.

The toy experiment (tests/sweep_toy.py) leaves a file per run of each unit, so the tests count
runs; a shrunken gan-zoo quick preset is the real experiment."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sweep_toy
from deepnotes import experiments
from deepnotes.cli import app
from deepnotes.engine import Run, executors
from deepnotes.engine.executors import WorkerLost
from deepnotes.experiments import UnitsFailed, run_units

HERE = Path(__file__).parent
KEYS = [f"u{i}" for i in range(6)]


def _toy(tmp_path, **fields) -> sweep_toy.Config:
    counts = tmp_path / "counts"
    counts.mkdir(parents=True, exist_ok=True)
    return sweep_toy.Config(count_dir=str(counts), **fields)


def _runs(config) -> dict[str, int]:
    return {key: sweep_toy.runs_of(config.count_dir, key) for key in KEYS}


def _recorded(run: Run) -> set[str]:
    return {p.name[: -len(".json")] for p in (run.path / "units").glob("*.json")}


def _start_ray(monkeypatch):
    """A local Ray runtime for one test: 2 CPUs, no dashboard. Its processes inherit this
    folder on PYTHONPATH so that workers can import sweep_toy (a runtime_env would make Ray
    start other workers than the ones it prestarts). Started once per module, in the one test
    that uses it: pytest-xdist may send separate tests to separate processes."""
    pytest.importorskip("ray", reason="ray is not installed (pip install 'deepnotes[ray]')")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *sys.path]))
    return executors.make("ray", workers=2, logging_level="ERROR", log_to_driver=False)


def test_plain_run_is_the_reference(tmp_path):
    """unit_run (every unit in turn, nothing recorded) is what every executor must match."""
    config = _toy(tmp_path)
    result = sweep_toy.run(config, Run(tmp_path / "plain"))
    assert result.verdict.outcome == "reproduced"
    assert _runs(config) == dict.fromkeys(KEYS, 1)
    assert not (tmp_path / "plain" / "units").exists()


def _same_sweep(tmp_path, executor, name: str) -> None:
    """The toy sweep through ``executor``: the plain run's metrics, every unit recorded with
    its file; run again, nothing reruns."""
    config = _toy(tmp_path / name)
    reference = sweep_toy.run(config, Run(tmp_path / name / "plain")).metrics
    run = Run(tmp_path / name / "run")
    result = run_units(sweep_toy, config, run, executor=executor)
    assert result.metrics == reference
    assert _recorded(run) == set(KEYS) and _runs(config) == dict.fromkeys(KEYS, 2)
    record = json.loads((run.path / "units" / "u4.json").read_text())
    assert record["unit"] == {"key": "u4", "dim": 3} and record["files"] == ["toy/u4.txt"]
    assert record["result"]["threads"] == 1 or executor.name == "serial"
    assert (run.path / "toy" / "u4.txt").read_text() == "unit u4\n"
    # resumed with every unit recorded: nothing runs, the same result (files read back)
    again = run_units(sweep_toy, config, run, executor=executor)
    assert again.metrics == reference and _runs(config) == dict.fromkeys(KEYS, 2)


def _interrupted_then_resumed(tmp_path, executor, name: str) -> None:
    """A unit raises KeyboardInterrupt: the sweep stops with the finished units recorded; the
    resumed run (serial) reruns only the missing ones and ends with the plain run's metrics."""
    config = _toy(tmp_path / name, interrupt=("u3",))
    reference = sweep_toy.run(_toy(tmp_path / name / "ref"), Run(tmp_path / name / "plain"))
    run = Run(tmp_path / name / "run")
    with pytest.raises(KeyboardInterrupt):
        run_units(sweep_toy, config, run, executor=executor)
    before = _recorded(run)
    assert "u3" not in before
    if executor.name == "serial":
        assert before == {"u0", "u1", "u2"}
    runs_before = _runs(config)
    result = run_units(sweep_toy, config, Run(run.path, resume=True))
    assert result.metrics == reference.metrics
    after = _runs(config)
    assert all(after[key] == runs_before[key] for key in before)  # recorded: not rerun
    assert all(after[key] == runs_before[key] + 1 for key in set(KEYS) - before)
    assert after["u3"] == 2


def _raising_unit(tmp_path, executor, name: str) -> None:
    """u1 always raises, u4 only the first time: u4 passes on its retry, u1 runs twice and is
    reported with its traceback file while the rest finish; once fixed, resuming runs only u1."""
    config = _toy(tmp_path / name, fail=("u1",), flaky=("u4",))
    run = Run(tmp_path / name / "run")
    with pytest.raises(UnitsFailed, match=r"1 of 6 units failed twice: u1 \(ValueError: unit "
                                          r"u1 fails on purpose; traceback in .*u1\.error\.txt"
                       ) as raised:
        run_units(sweep_toy, config, run, executor=executor)
    assert set(raised.value.failed) == {"u1"}
    assert _runs(config) == {"u0": 1, "u1": 2, "u2": 1, "u3": 1, "u4": 2, "u5": 1}
    assert _recorded(run) == set(KEYS) - {"u1"}
    assert not (run.path / "result.json").exists()
    trace = (run.path / "units" / "u1.error.txt").read_text()
    assert "attempt 1 of 2" in trace and "attempt 2 of 2" in trace
    assert "Traceback (most recent call last)" in trace and "in run_unit" in trace
    assert trace.count("unit u1 fails on purpose") >= 4  # headline + traceback, per attempt
    fixed = dataclasses.replace(config, fail=())
    result = run_units(sweep_toy, fixed, Run(run.path, resume=True), executor=executor)
    assert result.verdict.outcome == "reproduced"
    assert _runs(config) == {"u0": 1, "u1": 3, "u2": 1, "u3": 1, "u4": 2, "u5": 1}
    assert not (run.path / "units" / "u1.error.txt").exists()


def test_serial_sweep_records_resumes_and_retries(tmp_path):
    serial = executors.make("serial")
    _same_sweep(tmp_path, serial, "same")
    _interrupted_then_resumed(tmp_path, serial, "interrupted")
    _raising_unit(tmp_path, serial, "raising")


@pytest.fixture(scope="module")
def gan_zoo_reference(tmp_path_factory):
    """The shrunken gan-zoo run serially (once per test process)."""
    config = experiments.preset("gan-zoo", "quick", device="cpu", **GAN_ZOO_SMALL)
    return config, experiments.execute("gan-zoo", config, tmp_path_factory.mktemp("serial"),
                                       preset="quick")


def test_local_pool_sweep(tmp_path, gan_zoo_reference):
    """The local pool (2 workers, started once for this test): the toy sweep and the shrunken
    gan-zoo give the serial metrics; an interrupt in a worker stops the sweep, and the resumed
    run reruns only the missing units."""
    with executors.make("local", workers=2) as pool:
        _same_sweep(tmp_path, pool, "same")
        _same_gan_zoo(tmp_path, pool, gan_zoo_reference)
        _interrupted_then_resumed(tmp_path, pool, "interrupted")  # last: it stops the pool


def test_ray_sweep(tmp_path, gan_zoo_reference, monkeypatch):
    """A local Ray runtime (2 CPUs): the toy sweep and the shrunken gan-zoo give the serial
    metrics; a raising unit is retried once and reported while the rest finish."""
    started = time.perf_counter()
    with _start_ray(monkeypatch) as ray_executor:
        print(f"ray runtime started in {time.perf_counter() - started:.1f} s")
        _same_sweep(tmp_path, ray_executor, "same")
        _raising_unit(tmp_path, ray_executor, "raising")
        _same_gan_zoo(tmp_path, ray_executor, gan_zoo_reference)


def test_a_killed_worker_stops_the_sweep_and_resume_reruns_the_missing_units(tmp_path):
    config = _toy(tmp_path, kill=("u2",))
    reference = sweep_toy.run(_toy(tmp_path / "ref"), Run(tmp_path / "plain")).metrics
    run = Run(tmp_path / "run")
    with executors.make("local", workers=1) as pool:  # one worker: units in order
        with pytest.raises(WorkerLost):
            run_units(sweep_toy, config, run, executor=pool)
    assert _recorded(run) == {"u0", "u1"}
    result = run_units(sweep_toy, config, Run(run.path, resume=True))  # resumed serially
    assert result.metrics == reference
    assert _runs(config) == {"u0": 1, "u1": 1, "u2": 2, "u3": 1, "u4": 1, "u5": 1}


def test_a_record_of_another_unit_description_is_not_reused(tmp_path):
    config = _toy(tmp_path, units=3)
    run = Run(tmp_path / "run")
    run_units(sweep_toy, config, run)
    record = run.path / "units" / "u1.json"
    saved = json.loads(record.read_text())
    saved["unit"]["dim"] = 99
    record.write_text(json.dumps(saved))
    (run.path / "units" / "u2.json").write_text('{"unit": ')  # cut short
    run_units(sweep_toy, config, run)
    assert {key: n for key, n in _runs(config).items() if n} == {"u0": 1, "u1": 2, "u2": 2}


@pytest.mark.parametrize("value, message", [
    (["not", "a dict"], "run_unit must return a dict"),
    ({"files": {"../escape.txt": b"x"}}, "must be a relative path inside the run folder"),
    ({"files": {"result.json": b"x"}}, "must be a relative path inside the run folder"),
    ({"files": {"a.txt": "text, not bytes"}}, "'files' must map relative file names to bytes"),
])
def test_bad_unit_values_are_refused_with_the_unit_named(value, message):
    from deepnotes.experiments.base import unit_result

    with pytest.raises((TypeError, ValueError), match=message) as raised:
        unit_result(value, "u7")
    assert "u7" in str(raised.value)


GAN_ZOO_SMALL = dict(steps=10, width=8, depth=1, train_samples=500, eval_samples=100)
TIMINGS = ("seconds", "max_seconds", "iterations_per_s", "train_seconds_total", "table_text")


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    return value


def _same_gan_zoo(tmp_path, executor, gan_zoo_reference) -> None:
    """The real experiment (gan-zoo's quick preset, shrunk to 4 units of 10 steps) through
    execute(): the same metrics and checks as its serial run."""
    config, reference = gan_zoo_reference
    result = experiments.execute("gan-zoo", config, tmp_path / executor.name, preset="quick",
                                 executor=executor)
    assert _without_timings(result["metrics"]) == _without_timings(reference["metrics"])
    assert result["checks"] == reference["checks"]
    assert reference["executor"] == {"name": "serial"}
    assert result["executor"]["name"] == executor.name
    folder = Path(result["run_dir"])
    assert sorted(p.name for p in (folder / "units").iterdir()) == [
        "lsgan-ring-s0.json", "lsgan-ring-s1.json", "wgan-ring-s0.json", "wgan-ring-s1.json"]
    assert sorted(p.name for p in (folder / "samples").iterdir()) == [
        "lsgan-ring-s0.pt", "wgan-ring-s0.pt"]
    assert (folder / "gan_zoo_samples.png").is_file() and (folder / "result.json").is_file()


@pytest.mark.parametrize("options, message", [
    (["--executor", "dask"], "--executor must be one of serial, local, ray"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--executor", "local", "--address", "auto"], "--address is for --executor ray"),
])
def test_cli_refuses_bad_executor_options(options, message, tmp_path):
    result = CliRunner().invoke(app, ["run", "gan-zoo", "--out", str(tmp_path), *options])
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", "") and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


def test_cli_resume_reruns_only_the_missing_unit(tmp_path, gan_zoo_reference):
    """A finished gan-zoo run with one unit record and result.json removed (as if the driver
    had been stopped before that unit finished): `deepnotes run gan-zoo --resume --executor
    serial` reruns that unit only and writes the same result."""
    _, result = gan_zoo_reference
    (tmp_path / "gan-zoo").mkdir()
    folder = tmp_path / "gan-zoo" / Path(result["run_dir"]).name
    shutil.copytree(result["run_dir"], folder)
    assert result["executor"] == {"name": "serial"}
    sets = [arg for key, value in GAN_ZOO_SMALL.items() for arg in ("--set", f"{key}={value}")]
    command = ["run", "gan-zoo", "--quick", "--device", "cpu", "--out", str(tmp_path),
               "--executor", "serial", *sets]
    units = folder / "units"
    stamps = {p.name: p.stat().st_mtime_ns for p in units.iterdir()}
    (units / "wgan-ring-s1.json").unlink()
    (folder / "result.json").unlink()
    again = CliRunner().invoke(app, [*command, "--resume"])
    assert again.exit_code == 0, again.output
    assert f"resuming {folder}" in again.output.replace("\n", "")
    after = {p.name: p.stat().st_mtime_ns for p in units.iterdir()}
    assert set(after) == set(stamps)
    assert [name for name in after if after[name] != stamps[name]] == ["wgan-ring-s1.json"]
    resumed = json.loads((folder / "result.json").read_text())
    assert _without_timings(resumed["metrics"]) == _without_timings(result["metrics"])
