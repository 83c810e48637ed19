"""The ``deepnotes`` command: list · run · report · bench.

Knows nothing about any particular experiment: it asks the registry for names, presets and
``run``; results land in run folders that ``report`` turns into ``index.html``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="deepnotes: every claim of the deep-learning course as an experiment you can run.",
)
console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)

OutOption = Annotated[Path, typer.Option("--out", help="Folder of run folders.")]


#: How the three outcomes of a run and of a check are shown on the terminal.
OUTCOME_MARKS = {"reproduced": "[green]✓ reproduced[/]",
                 "not reproduced": "[red]✗ not reproduced[/]",
                 "undecided": "[yellow]? undecided[/]"}
CHECK_MARKS = {"passed": "[green]✓[/]", "failed": "[red]✗[/]", "undecided": "[yellow]?[/]"}


def _measured(check: dict) -> str:
    """The measured part of a numeric check for the terminal, e.g. ``" — 0.589 ± 0.023 ≥ 0.5"``;
    empty for other checks."""
    value, threshold = check.get("value"), check.get("threshold")
    signs = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
    if not (isinstance(value, (int, float)) and isinstance(threshold, (int, float))
            and check.get("comparison") in signs):
        return ""
    se = f" ± {check['se']:.2g}" if check.get("se") else ""
    return f" — {value:.4g}{se} {signs[check['comparison']]} {threshold:.4g}"


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr (never soft-wrapped mid-sentence), then a non-zero exit."""
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _warn_unreadable(collection) -> None:
    """Name each file of the runs folder that could not be read (on stderr); exit 1 when there
    were such files and not one run could be read."""
    for problem in collection.problems:
        errors.print(f"[yellow]warning:[/] {escape(str(problem))}", soft_wrap=True)
    if collection.nothing_readable:
        fail(f"nothing under {collection.out} could be read "
             f"({len(collection.problems)} problem(s) above)", code=1)


@app.command("list")
def list_experiments(out: OutOption = Path("runs")) -> None:
    """List experiments by course section: the claim, and the outcome, preset and date of the
    last finished run under --out."""
    from . import experiments
    from .experiments.base import SECTIONS
    from .report import collect
    from .report.page import OTHER_SECTION, badge, experiment_info, run_date

    collection = collect(out)
    by_section: dict = {}
    for name in sorted(set(experiments.names()) | set(collection.runs)):
        info, problem = experiment_info(name)
        if problem is not None:
            collection.problems.append(problem)
        last = collection.latest(name)
        section = info.section
        if section is None and last is not None and last.result.get("section") in SECTIONS:
            section = last.result["section"]
        claim = info.claim or (last.result.get("claim", "") if last is not None else "")
        if last is None:
            verdict = "[dim]— not run[/]"
        else:
            mark = {"reproduced": "[green]✓ ", "not reproduced": "[red]✗ "}.get(
                last.outcome, "[yellow]? ")
            verdict = (f"{mark}{escape(badge(last)['text'])}[/] · "
                       f"{escape(last.preset or 'unknown preset')} · {run_date(last)}")
        by_section.setdefault(section, []).append((name, claim, verdict))
    for section in sorted(by_section, key=lambda s: (s is None, s or 0)):
        title = f"{section} · {SECTIONS[section]}" if section is not None else OTHER_SECTION
        console.print(f"\n[bold]{escape(title)}[/]")
        for name, claim, verdict in by_section[section]:
            console.print(f"  [bold]{escape(name)}[/]  {verdict}", soft_wrap=True)
            if claim:
                console.print(textwrap.fill(claim, width=max(40, console.width - 2),
                                            initial_indent="    ", subsequent_indent="    "),
                              style="dim", markup=False, soft_wrap=True)
    _warn_unreadable(collection)


def _split_sets(pairs: list[str], names: list[str]) -> dict[str, dict[str, str]]:
    """``--set KEY=VALUE`` / ``--set NAME.KEY=VALUE`` pairs → {experiment: {key: raw value}}.

    An unscoped key applies to every selected experiment that has the field; a key that no
    selected experiment has, or a scoped one its experiment lacks, is refused before anything
    runs, naming the experiments that lack it."""
    from . import experiments
    from .experiments.base import field_types

    fields = {name: set(field_types(experiments.get(name).Config)) for name in names}
    per_experiment: dict[str, dict[str, str]] = {name: {} for name in names}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            fail(f"--set expects KEY=VALUE or EXPERIMENT.KEY=VALUE, got {pair!r}")
        scope, dot, field = key.rpartition(".")
        if dot:
            if scope not in fields:
                fail(f"--set {key}: {scope!r} is not a selected experiment "
                     f"(selected: {', '.join(names)})")
            if field not in fields[scope]:
                fail(f"--set {key}: {scope} has no field {field!r} "
                     f"(fields: {', '.join(sorted(fields[scope]))})")
            per_experiment[scope][field] = raw
            continue
        having = [name for name in names if key in fields[name]]
        if not having:
            if len(names) == 1:
                fail(f"--set {key}: {names[0]} has no field {key!r} "
                     f"(fields: {', '.join(sorted(fields[names[0]]))})")
            fail(f"--set {key}: no selected experiment has a field {key!r}")
        for name in having:
            per_experiment[name][key] = raw
    return per_experiment


def _run_one(name: str, which: str, out: Path, seed, device, data, sets: dict[str, str],
             resume, many: bool, threads: int, executor=None) -> dict:
    """Run, resume or skip (finished already) one experiment; return its result."""
    from . import experiments
    from .core.files import to_jsonable
    from .engine.run import Run
    from .experiments.base import override

    config = experiments.preset(name, which)
    overrides = {k: v for k, v in (("seed", seed), ("device", device)) if v is not None}
    if data is not None:
        if "data" not in {f.name for f in dataclasses.fields(config)}:
            if many:
                console.print(f"[dim]{name}: takes no --data; runs on its own data[/]")
            else:
                fail(f"--data: experiment {name} takes no data option")
        else:
            overrides["data"] = data
    overrides.update(sets)
    config = override(config, overrides, experiment=name)
    overrides = {key: getattr(config, key) for key in overrides}

    if resume:
        latest = Run.latest(out, name)
        if latest is not None:
            saved = latest.read_config()
            same = saved.get("preset") == which and all(
                saved.get(key) == to_jsonable(value)
                for key, value in overrides.items() if key != "device"
            )
            if same and latest.read_result() is None:
                config = experiments.config_from_dict(name, saved)
                if device is not None:
                    config = dataclasses.replace(config, device=device)
                console.print(f"[bold]{name}[/] resuming {latest.path}")
                return experiments.execute(name, config, out, run=latest, preset=which,
                                           threads=threads, executor=executor)
            if same:
                console.print(f"[bold]{name}[/] finished already in {latest.path} (skipped)")
                return {**latest.read_result(), "run_dir": str(latest.path)}
            console.print(f"[bold]{name}[/] latest run has another preset or settings; "
                          "starting a new one")
    console.print(f"[bold]{name}[/] ({which})")
    return experiments.execute(name, config, out, preset=which, threads=threads,
                               executor=executor)


def _join_torchrun(device: str | None) -> bool:
    """Under ``torchrun -m deepnotes run ...``: join the process group (gloo on CPU, nccl on
    CUDA) so that every rank agrees on the run folder, silence the terminal on ranks other
    than 0, and return whether this process is rank 0 (True outside torchrun)."""
    from .engine import distributed
    from .engine.devices import resolve_device

    if not distributed.launched_distributed():
        return True
    distributed.setup(resolve_device(device or "auto"))
    rank, _ = distributed.world()
    if rank != 0:
        console.quiet = True
    return rank == 0


def _leave_torchrun() -> None:
    from .engine import distributed

    distributed.finish()


def _make_executor(name: str, workers: int | None, address: str | None):
    """The executor of ``--executor/--workers/--address`` (refused with one clear line when
    the options do not fit). Under torchrun every rank runs the units in turn (serial)."""
    from .engine import distributed
    from .engine.executors import EXECUTORS, make

    if name not in EXECUTORS:
        fail(f"--executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
    if workers is not None and workers < 1:
        fail(f"--workers must be >= 1, got {workers}")
    if address is not None and name != "ray":
        fail(f"--address is for --executor ray (got --executor {name})")
    if distributed.launched_distributed():
        name, workers, address = "serial", None, None
    try:
        return make(name, workers=workers, address=address)
    except ImportError as err:
        fail(f"--executor ray: {err}")
    except (ValueError, ConnectionError, RuntimeError) as err:
        fail(f"--executor {name}: {err}")


@app.command()
def run(
    name: Annotated[str, typer.Argument(help="An experiment name (see `deepnotes list`) or 'all'.")],
    quick: Annotated[bool, typer.Option("--quick", help="Small, fast preset (default).")] = False,
    full: Annotated[bool, typer.Option("--full", help="Reproduce the published numbers.")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the preset's).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = None,
    out: OutOption = Path("runs"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the latest unfinished run; skip finished ones.")] = False,
    data: Annotated[str | None, typer.Option(help="Data set for experiments that take one: digits, mnist1d, idx:FOLDER.")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help="Override a Config field: KEY=VALUE (repeatable).")] = None,
    threads: Annotated[int, typer.Option(help="torch CPU threads (0 = torch's default). Small models run faster on 1.")] = 1,
    executor: Annotated[str | None, typer.Option(help="Where sweep units run: serial (this process), local (a process pool), ray. Default: serial for --quick (a pool costs more to start than it saves on seconds-long units), local for --full or with --workers.")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes of the local pool (default: one per CPU); CPUs of a local Ray runtime.")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster: auto, or ray://HOST:PORT (default: start Ray here).")] = None,
    ctx: typer.Context = None,
) -> None:
    """Run one experiment (or all) and write runs/<name>/<timestamp>/."""

    from . import experiments
    from .engine.devices import resolve_device
    from .experiments.base import override

    if quick and full:
        fail("give --quick or --full, not both")
    which = "full" if full else "quick"
    if seed is not None and seed < 0:
        fail(f"--seed must be >= 0, got {seed}")
    if device is not None:
        try:
            resolve_device(device)
        except ValueError as err:
            fail(f"--device: {err}")
    if threads < 0:
        fail(f"--threads must be >= 0, got {threads}")
    if executor is None:
        executor = "local" if full or workers is not None else "serial"
    unit_executor = _make_executor(executor, workers, address)
    if ctx is not None:
        ctx.call_on_close(unit_executor.close)
    names = experiments.names() if name == "all" else [name]
    if name != "all" and name not in experiments.names():
        fail(f"unknown experiment {name!r}; known: {', '.join(experiments.names())}, all")
    rank_zero = _join_torchrun(device)
    try:
        if rank_zero:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / ".deepnotes-write-test"
            probe.touch()
            probe.unlink()
    except OSError as err:
        fail(f"--out {out}: not writable ({err.strerror})")

    try:
        per_experiment_sets = _split_sets(sets or [], names)
        for current in names:  # refuse unparsable values before anything runs
            override(experiments.get(current).Config(), per_experiment_sets[current],
                     experiment=current)
    except ValueError as err:
        fail(f"--set: {err}")

    started, failures, summary = time.perf_counter(), [], []
    for current in names:
        begun = time.perf_counter()
        try:
            result = _run_one(current, which, out, seed, device, data,
                              per_experiment_sets[current], resume, many=len(names) > 1,
                              threads=threads, executor=unit_executor)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            errors.print(f"interrupted; continue with: deepnotes run {name} --resume "
                         f"--out {out}{' --full' if full else ''}")
            raise typer.Exit(130) from None
        except Exception as err:  # one experiment's crash must not hide the others
            failures.append(current)
            trace = traceback.format_exc()
            crash = out / current / "last-error.txt"
            if rank_zero:
                crash.parent.mkdir(parents=True, exist_ok=True)
                crash.write_text(trace)
            errors.print(f"[red]✗ {current} failed:[/] {type(err).__name__}: {escape(str(err))} "
                         f"(traceback in {crash})", soft_wrap=True)
            summary.append((current, "error", time.perf_counter() - begun))
            continue
        outcome = result.get("outcome", "reproduced" if result.get("reproduced") else
                             "not reproduced")
        console.print(f"  {OUTCOME_MARKS.get(outcome, outcome)} in {result['seconds']:.1f} s — "
                      f"{result.get('summary', '')}")
        for check in result.get("checks", []):
            console.print(f"    {CHECK_MARKS.get(check['outcome'], '?')} "
                          f"{escape(check['description'])}{_measured(check)}"
                          + (f" [dim]({escape(check['note'])})[/]" if check.get("note") else ""),
                          soft_wrap=True)
        console.print(f"  → {result['run_dir']}", soft_wrap=True)
        summary.append((current, outcome, time.perf_counter() - begun))
    if len(names) > 1:
        table = Table("experiment", "verdict", "seconds")
        for current, verdict, seconds in summary:
            table.add_row(current, verdict, f"{seconds:.1f}")
        console.print(table)
        console.print(f"{len(names)} experiments in {time.perf_counter() - started:.1f} s")
    _leave_torchrun()
    if failures:
        fail(f"{len(failures)} experiment(s) failed: {', '.join(failures)}", code=1)


@app.command()
def report(
    out: OutOption = Path("runs"),
    single_file: Annotated[bool, typer.Option("--single-file", help="Embed the figures as data URIs: one file to mail.")] = False,
) -> None:
    """Write <out>/index.html: the course's claims in course order, each with its checks,
    published numbers, metrics and figures (latest quick and full runs side by side)."""
    from .report import collect, write_report

    if not out.is_dir():
        fail(f"--out {out}: no such folder (run `deepnotes run all --quick` first)")
    collection = collect(out)
    try:
        path = write_report(out, single_file=single_file, collection=collection)
    except OSError as err:
        fail(f"--out {out}: cannot write the report ({err.strerror or err})")
    counts = collection.counts()
    console.print(f"{len(collection.runs)} experiments: {counts['reproduced']} reproduced, "
                  f"{counts['not reproduced']} not reproduced, {counts['undecided']} undecided")
    console.print(f"report: {path.resolve()}", soft_wrap=True)
    _warn_unreadable(collection)


@app.command()
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Short smoke runs.")] = False,
    folder: Annotated[Path, typer.Option(help="Folder of benchmark scripts.")] = Path("benchmarks"),
) -> None:
    """Run every benchmarks/*.py (side-by-side speed comparisons; JSON lines on stdout)."""
    scripts = sorted(folder.glob("*.py")) if folder.is_dir() else []
    if not scripts:
        fail(f"no benchmark scripts in {folder} (run from a checkout of deepnotes)")
    failed = []
    for script in scripts:
        console.print(f"[bold]== {script}[/]")
        command = [sys.executable, str(script)] + (["--quick"] if quick else [])
        if subprocess.call(command) != 0:
            failed.append(script.name)
    if failed:
        fail(f"benchmark(s) failed: {', '.join(failed)}", code=1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
