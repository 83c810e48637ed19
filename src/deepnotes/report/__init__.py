"""HTML report of runs: ``write_report(out)`` writes ``out/index.html``.

The page follows the course: sections 1–8 of the syllabus, a contents table (section,
experiment, verdict, preset, date), then per experiment its claim, formula, links to the
implementing modules and their tests, and its latest full and latest quick runs side by side —
each with its checks and their numbers, published-vs-ours table, metrics (nested ones as
tables), figures, and the preset, seed, device, torch version and wall time. Figures are linked
by path relative to ``out`` (the folder can be moved or zipped as a whole), or embedded as data
URIs with ``single_file=True`` (one file to mail).

Reading the runs folder never stops at a bad file: ``collect(out)`` returns the readable runs and
the problems (each naming its file), see ``report.runs``.
"""

from __future__ import annotations

from pathlib import Path

from ..core.files import write_text
from .page import render, view
from .runs import Collection, Problem, RunRecord, collect

__all__ = ["Collection", "Problem", "RunRecord", "collect", "render", "view", "write_report"]

REPORT = "index.html"


def write_report(out: str | Path, *, single_file: bool = False,
                 collection: Collection | None = None) -> Path:
    """Render the report of the runs under ``out`` into ``out/index.html`` (atomically) and
    return its path. Pass ``collection`` (from ``collect(out)``) to reuse one already read;
    its ``problems`` then also list experiment modules that could not be loaded."""
    out = Path(out)
    if collection is None:
        collection = collect(out)
    return write_text(out / REPORT, render(collection, single_file=single_file))
