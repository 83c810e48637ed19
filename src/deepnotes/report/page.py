"""The report page: runs (``runs.collect``) → a view of plain dicts → ``templates/report.html.j2``.

Everything shown is computed here as text, numbers and nested "nodes" (scalars, key/value
pairs, tables, lists — long ones summarized); the Jinja2 template only lays them out, with
autoescaping on, so a claim or a metric name can hold any text.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from .. import experiments
from ..experiments.base import NOT_REPRODUCED, REPRODUCED, SECTIONS, UNDECIDED
from .runs import Collection, Problem, RunRecord

#: Lists of up to this many scalars are shown inline; longer ones as a count, the first and
#: last few values and the range.
MAX_INLINE = 10
#: Tables of more rows than this show the first and last ``HEAD_ROWS`` rows and how many were
#: left out.
MAX_ROWS, HEAD_ROWS = 12, 5
#: Wider rows than this are not laid out as table columns.
MAX_COLUMNS = 12
#: Dicts with more keys than this show the first ``MAX_KEYS`` and a count.
MAX_KEYS = 40
#: Nesting deeper than this is shown as (shortened) JSON text.
MAX_DEPTH = 4
MAX_TEXT = 400

OTHER_SECTION = "Other"
COMPARISONS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}
IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
               ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}

PACKAGE_DIR = Path(experiments.__file__).resolve().parent.parent  # …/src/deepnotes
REPOSITORY = (PACKAGE_DIR.parent.parent
              if PACKAGE_DIR.parent.name == "src"
              and (PACKAGE_DIR.parent.parent / "pyproject.toml").is_file() else None)

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("deepnotes.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.globals.update(MAX_ROWS=MAX_ROWS, HEAD_ROWS=HEAD_ROWS)


# ---------------------------------------------------------------------------------------------
# values → nodes


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fmt(value: Any) -> str:
    """A scalar as short text: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _text(text: str, num: bool = False) -> dict[str, Any]:
    return {"kind": "text", "text": text, "num": num}


def _scalar_list(values: list) -> dict[str, Any]:
    if len(values) <= MAX_INLINE:
        return _text(", ".join(fmt(v) for v in values), num=all(map(_is_number, values)))
    numbers = [v for v in values if _is_number(v) and not math.isnan(v)]
    text = (f"{len(values)} values: {', '.join(fmt(v) for v in values[:3])}, …, "
            f"{', '.join(fmt(v) for v in values[-3:])}")
    if numbers:
        text += f" (min {fmt(min(numbers))}, max {fmt(max(numbers))})"
    return _text(text)


def _rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Rows to show: all of them, or the first and last HEAD_ROWS with a gap row between."""
    if len(rows) <= MAX_ROWS:
        return rows, len(rows)
    gap = {"gap": len(rows) - 2 * HEAD_ROWS}
    return rows[:HEAD_ROWS] + [gap] + rows[-HEAD_ROWS:], len(rows)


def _table(columns: list[str], labelled: list[tuple[str | None, list]], corner: str | None,
           depth: int) -> dict[str, Any]:
    rows = [{"label": label, "cells": [node(cell, depth + 1) for cell in cells]}
            for label, cells in labelled]
    shown, count = _rows(rows)
    return {"kind": "table", "corner": corner, "columns": columns, "rows": shown,
            "count": count, "labelled": any(label is not None for label, _ in labelled)}


def _union_keys(dicts: list[dict]) -> list[str]:
    keys: dict[str, None] = {}
    for item in dicts:
        keys.update(dict.fromkeys(map(str, item)))
    return list(keys)


def node(value: Any, depth: int = 0) -> dict[str, Any]:
    """A JSON value as a node for the template's ``show`` macro: ``text`` (a scalar, or a
    summary of a long list of scalars), ``table`` (a list of rows, a dict of rows, a matrix;
    long ones keep their first and last rows), ``pairs`` (any other dict) or ``list``."""
    if _is_scalar(value):
        return _text(fmt(value), num=_is_number(value))
    if depth >= MAX_DEPTH:
        return _text(fmt(json.dumps(value, default=str)))
    if isinstance(value, dict):
        if not value:
            return _text("{}")
        items = list(value.items())
        inner = [v for _, v in items]
        if len(items) >= 2 and all(isinstance(v, dict) and v for v in inner):
            columns = _union_keys(inner)
            if len(columns) <= MAX_COLUMNS:  # a dict of rows: one row per key
                return _table(columns, [(str(k), [v.get(c) for c in columns])
                                        for k, v in items], "", depth)
        shown = [(str(k), node(v, depth + 1)) for k, v in items[:MAX_KEYS]]
        return {"kind": "pairs", "entries": shown, "more": max(0, len(items) - MAX_KEYS)}
    if isinstance(value, (list, tuple)):
        value = list(value)
        if not value:
            return _text("[]")
        if all(map(_is_scalar, value)):
            return _scalar_list(value)
        if all(isinstance(v, dict) for v in value):
            columns = _union_keys(value)
            if len(columns) <= MAX_COLUMNS:  # a list of rows
                return _table(columns, [(None, [{str(k): x for k, x in v.items()}.get(c)
                                                for c in columns]) for v in value], None, depth)
        if all(isinstance(v, (list, tuple)) and all(map(_is_scalar, v)) for v in value):
            width = max(len(v) for v in value)
            if width <= MAX_COLUMNS:  # a matrix
                return _table([str(j) for j in range(width)],
                              [(str(i), list(v) + [""] * (width - len(v)))
                               for i, v in enumerate(value)], "", depth)
        items = [{"label": None, "cells": [node(v, depth + 1)]} for v in value]
        shown, count = _rows(items)
        return {"kind": "list", "entries": shown, "count": count}
    return _text(fmt(str(value)))


# ---------------------------------------------------------------------------------------------
# experiments, runs, checks


@dataclass(frozen=True)
class ExperimentInfo:
    """What the experiment's module says about itself (all optional: a module still being
    converted, or a run folder of an experiment that no longer exists, has less)."""

    claim: str | None = None
    section: int | None = None
    formula: str | None = None
    implements: tuple[str, ...] = ()
    module: str | None = None


def experiment_info(name: str) -> tuple[ExperimentInfo, Problem | None]:
    """The module attributes of experiment ``name``; a module that fails to import gives an
    empty info and a problem naming it."""
    if name not in experiments.names():
        return ExperimentInfo(), None
    try:
        module = experiments.get(name)
    except Exception as err:  # a broken experiment module must not stop the report
        path = PACKAGE_DIR / "experiments" / f"{name.replace('-', '_')}.py"
        return ExperimentInfo(), Problem(path, f"cannot be loaded ({type(err).__name__}: {err}); "
                                               "its runs are shown without formula and links",
                                         kind="module")
    implements = getattr(module, "IMPLEMENTS", ())
    if isinstance(implements, str):
        implements = (implements,)
    if not isinstance(implements, (tuple, list)):
        implements = ()
    section = getattr(module, "SECTION", None)
    formula = getattr(module, "FORMULA", None)
    claim = getattr(module, "CLAIM", None)
    return ExperimentInfo(
        claim=claim if isinstance(claim, str) else None,
        section=section if isinstance(section, int) and section in SECTIONS else None,
        formula=formula.strip() if isinstance(formula, str) and formula.strip() else None,
        implements=tuple(m for m in implements
                         if isinstance(m, str) and m.split(".")[0] == "deepnotes"),
        module=module.__name__,
    ), None


def source_path(module: str) -> str:
    """Repository path of a module: ``deepnotes.adversarial.cw`` → ``src/deepnotes/adversarial/
    cw.py`` (a package → its folder)."""
    parts = module.split(".")
    folder = PACKAGE_DIR.joinpath(*parts[1:])
    if folder.is_dir():
        return "src/" + "/".join(parts) + "/"
    return "src/" + "/".join(parts) + ".py"


#: Course pages in the repository's docs/ that a section of the report links under its title.
SECTION_DOCS = {6: ("docs/interpretability.md",)}


def tests_of(module: str) -> list[str]:
    """Repository paths of a module's tests: ``tests/<package>/`` for a module of a
    subpackage (``deepnotes.adversarial.cw`` → ``tests/adversarial/``), else the files
    ``tests/test_<name>*.py``; the conventional folder when no checkout is at hand."""
    parts = module.split(".")
    if len(parts) < 2:
        return []
    top = parts[1]
    if parts[1:2] == ["experiments"]:
        return ["tests/test_experiments.py"]
    if REPOSITORY is None:
        return [f"tests/{top}/"]
    tests = REPOSITORY / "tests"
    if (tests / top).is_dir():
        return [f"tests/{top}/"]
    return sorted(f"tests/{p.name}" for p in tests.glob(f"test_{top}*.py"))


def _link(path: str, out: Path) -> dict[str, Any]:
    """A repository path and, when this is a checkout holding it, a link relative to ``out``."""
    href = None
    if REPOSITORY is not None and (REPOSITORY / path).exists():
        href = quote(Path(os.path.relpath(REPOSITORY / path, out.resolve())).as_posix())
        if path.endswith("/"):
            href += "/"
    return {"path": path, "href": href}


def links(info: ExperimentInfo, out: Path) -> list[dict[str, Any]]:
    """Implementing modules and their tests, then the experiment's own file and test."""
    rows = []
    for module in info.implements:
        rows.append({"role": module, "source": _link(source_path(module), out),
                     "tests": [_link(p, out) for p in tests_of(module)]})
    if info.module is not None:
        rows.append({"role": "the experiment", "source": _link(source_path(info.module), out),
                     "tests": [_link(p, out) for p in tests_of(info.module)]})
    return rows


def badge(record: RunRecord) -> dict[str, str]:
    """CSS class and text of a run's verdict: reproduced, not reproduced, or — never
    "reproduced" — "quick check: consistent so far (k of n checks decided)"."""
    if record.outcome == REPRODUCED:
        return {"cls": "reproduced", "text": "reproduced"}
    if record.outcome == NOT_REPRODUCED:
        return {"cls": "not-reproduced", "text": "not reproduced"}
    total = len(record.checks)
    text = (f"consistent so far ({record.decided} of {total} checks decided)" if total
            else "undecided")
    prefix = "quick check: " if record.preset == "quick" else "undecided: " if total else ""
    return {"cls": "undecided", "text": prefix + text}


def run_date(record: RunRecord) -> str:
    """When the run started, to the minute (UTC when recorded so)."""
    started = record.started
    if started is None:
        return "—"
    if started.tzinfo is not None and started.utcoffset() == _dt.timedelta(0):
        return f"{started:%Y-%m-%d %H:%M} UTC"
    return f"{started:%Y-%m-%d %H:%M}"


def wall_time(seconds: Any) -> str:
    if not _is_number(seconds) or not math.isfinite(seconds):
        return "—"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def check_view(check: dict[str, Any]) -> dict[str, Any]:
    outcome = check["outcome"]
    comparison = check.get("comparison")
    threshold = check.get("threshold")
    se = check.get("se")
    # ">=" reads "needs ≥ 0.95"; a named test reads "sign test against 0.5"
    if not isinstance(comparison, str) or not comparison:
        bar = "threshold"
    elif comparison in COMPARISONS:
        bar = "needs " + COMPARISONS[comparison]
    else:
        bar = f"{comparison} against"
    return {
        "mark": {"passed": "✓", "failed": "✗"}.get(outcome, "undecided"),
        "cls": outcome,
        "description": check["description"],
        "value": None if check.get("value") is None else node(check["value"], 1),
        "se": fmt(se) if _is_number(se) and se else None,
        "bar": bar,
        "threshold": None if threshold is None else node(threshold, 1),
        "note": fmt(check.get("note")) if check.get("note") else "",
    }


def _figure(run_dir: Path, out: Path, name: str, single_file: bool) -> dict[str, Any] | None:
    """An image of the run folder: its URL relative to ``out`` (or a data URI); None when the
    file is missing, outside the run folder, or not an image."""
    path = run_dir / name
    try:
        inside = path.resolve().is_relative_to(run_dir.resolve())
    except OSError:
        return None
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if not inside or mime is None or not path.is_file():
        return None
    if single_file:
        try:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            return None
        return {"name": name, "src": f"data:{mime};base64,{data}"}
    return {"name": name, "src": quote(f"{run_dir.relative_to(out).as_posix()}/{name}")}


_NOT_SETTINGS = {"experiment", "preset", "seed", "device"}


def run_view(record: RunRecord, out: Path, single_file: bool) -> dict[str, Any]:
    result, config = record.result, record.config or {}
    versions = result.get("versions", {})
    metrics = result.get("metrics", {})
    figures, missing = [], []
    for name in result.get("figures", []):
        figure = _figure(record.path, out, name, single_file)
        (figures.append(figure) if figure else missing.append(name))
    published_columns = ["quantity", "published", "ours", "source"]
    published_columns += [k for k in _union_keys(result.get("published", []))
                          if k not in published_columns]
    return {
        "badge": badge(record),
        "preset": record.preset or "unknown preset",
        "seed": fmt(result.get("seed", config.get("seed"))),
        "device": fmt(result.get("device", config.get("device"))),
        "torch": fmt(versions.get("torch")),
        "deepnotes": fmt(versions.get("deepnotes")),
        "wall": wall_time(result.get("seconds")),
        "date": run_date(record),
        "folder": record.path.relative_to(out).as_posix(),
        "summary": result.get("summary", ""),
        "checks": [check_view(c) for c in record.checks],
        "criterion": "" if record.checks else result.get("criterion", ""),
        "published": {"columns": published_columns,
                      "rows": [[node(row.get(c), 1) for c in published_columns]
                               for row in result.get("published", [])]},
        "scalars": [(str(k), node(v)) for k, v in metrics.items() if _is_scalar(v)],
        "nested": [(str(k), node(v)) for k, v in metrics.items() if not _is_scalar(v)],
        "figures": figures,
        "missing": missing,
        "settings": [(str(k), node(v, 1)) for k, v in config.items() if k not in _NOT_SETTINGS],
    }


# ---------------------------------------------------------------------------------------------
# the page


def view(collection: Collection, *, single_file: bool = False) -> dict[str, Any]:
    """Everything the template shows, as plain values; also lists modules that failed to load
    in ``collection.problems``."""
    out = collection.out
    by_section: dict[int | None, list[dict[str, Any]]] = {}
    for name in sorted(collection.runs):
        info, problem = experiment_info(name)
        if problem is not None and problem not in collection.problems:
            collection.problems.append(problem)
        shown = collection.shown(name)
        headline = collection.headline(name)
        recorded_section = headline.result.get("section")
        section = info.section if info.section is not None else (
            recorded_section if recorded_section in SECTIONS else None)
        by_section.setdefault(section, []).append({
            "name": name,
            "anchor": quote(name),
            "claim": headline.result.get("claim") or info.claim or "",
            "formula": info.formula,
            "links": links(info, out),
            "runs": [run_view(r, out, single_file) for r in shown],
        })
    sections = []
    for number in sorted(by_section, key=lambda n: (n is None, n or 0)):
        sections.append({
            "label": f"{number} · {SECTIONS[number]}" if number is not None else OTHER_SECTION,
            "id": f"section-{number}" if number is not None else "section-other",
            "experiments": by_section[number],
            "docs": [_link(path, out) for path in SECTION_DOCS.get(number, ())],
        })
    not_run = [name for name in experiments.names() if name not in collection.runs]
    counts = collection.counts()
    return {
        "out": str(out),
        "written": f"{_dt.datetime.now():%Y-%m-%d %H:%M}",
        "single_file": single_file,
        "counts": {"reproduced": counts[REPRODUCED], "not_reproduced": counts[NOT_REPRODUCED],
                   "undecided": counts[UNDECIDED], "experiments": len(collection.runs)},
        "sections": sections,
        "not_run": not_run,
        "problems": [{"path": str(p.path), "reason": p.reason} for p in collection.problems],
    }


def render(collection: Collection, *, single_file: bool = False) -> str:
    """The report page (HTML) for ``collection``."""
    return _TEMPLATES.get_template("report.html.j2").render(
        view(collection, single_file=single_file))
