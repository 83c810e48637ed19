"""Reading a runs folder (``runs/<experiment>/<timestamp>/``) without trusting it.

``collect(out)`` reads every finished run (a folder with ``result.json``) and returns the
readable ones, per experiment, oldest first, with the problems met on the way: a result that is
not UTF-8, not JSON (cut short by a kill), not a JSON object, holds no verdict or has a field of
the wrong type, and a ``config.json`` that cannot be read. A problem names the file and says
what is wrong; the other runs are read on regardless. Files that are not run folders (the
report's own ``index.html``, ``last-error.txt``) are passed over. Nothing here prints.

A run's outcome is recomputed from its checks when it has them (reproduced only when every
check passed, not reproduced when one failed, undecided otherwise), so a result that claims
more than its checks allow is never shown as reproduced. Results written before per-check
verdicts (only ``reproduced`` and ``criterion``) are read as reproduced / not reproduced.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..experiments.base import FAILED, NOT_REPRODUCED, PASSED, REPRODUCED, UNDECIDED

OUTCOMES = (REPRODUCED, NOT_REPRODUCED, UNDECIDED)
CHECK_OUTCOMES = (PASSED, FAILED, UNDECIDED)
RESULT, CONFIG = "result.json", "config.json"

#: Expected JSON type of each optional field of result.json (a field of another type makes
#: the file unreadable as a result: it was not written by deepnotes).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "experiment": (str,), "claim": (str,), "preset": (str, type(None)),
    "seed": (int, type(None)), "device": (str, type(None)), "versions": (dict,),
    "summary": (str,), "criterion": (str,), "metrics": (dict,), "published": (list,),
    "figures": (list,), "started": (str, type(None)), "seconds": (int, float, type(None)),
    "checks": (list,), "reproduced": (bool,), "outcome": (str,),
    "section": (int, type(None)),
}
_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true/false", type(None): "null"}


class Unreadable(ValueError):
    """A file of a run folder that cannot be used; the message says why."""


@dataclass(frozen=True)
class Problem:
    """A file that could not be read, and why: a file of the runs folder (``kind`` "run"), or
    an experiment module that failed to import ("module")."""

    path: Path
    reason: str
    kind: str = "run"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class RunRecord:
    """One finished, readable run."""

    experiment: str  # the folder name under ``out``
    path: Path  # the run folder
    result: dict[str, Any]  # result.json, fields type-checked
    config: dict[str, Any] | None  # config.json, or None when missing or unreadable
    outcome: str  # reproduced / not reproduced / undecided (from the checks when present)

    @property
    def preset(self) -> str | None:
        preset = self.result.get("preset")
        if preset is None and self.config is not None:
            preset = self.config.get("preset")
        return preset if isinstance(preset, str) else None

    @property
    def checks(self) -> list[dict[str, Any]]:
        return self.result.get("checks", [])

    @property
    def decided(self) -> int:
        return sum(check["outcome"] != UNDECIDED for check in self.checks)

    @property
    def started(self) -> _dt.datetime | None:
        """When the run started: ``started`` in result.json, else the folder's timestamp."""
        text = self.result.get("started")
        if isinstance(text, str):
            try:
                return _dt.datetime.fromisoformat(text)
            except ValueError:
                pass
        try:
            stamp = _dt.datetime.strptime(self.path.name, "%Y%m%d-%H%M%S-%f")
        except ValueError:
            return None
        return stamp.replace(tzinfo=_dt.timezone.utc)


@dataclass
class Collection:
    """The readable runs under ``out`` (per experiment, oldest first) and the problems."""

    out: Path
    runs: dict[str, list[RunRecord]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def latest(self, experiment: str, preset: str | None = None) -> RunRecord | None:
        """The newest run of ``experiment`` (of ``preset``, when given)."""
        for record in reversed(self.runs.get(experiment, [])):
            if preset is None or record.preset == preset:
                return record
        return None

    def shown(self, experiment: str) -> list[RunRecord]:
        """The runs the report shows: the latest full and the latest quick run side by side
        when both exist, else the latest run."""
        pair = [r for r in (self.latest(experiment, "full"), self.latest(experiment, "quick"))
                if r is not None]
        if pair:
            return pair
        latest = self.latest(experiment)
        return [] if latest is None else [latest]

    def headline(self, experiment: str) -> RunRecord | None:
        """The run whose outcome counts for the experiment: its latest full run when there is
        one (the preset with the power to decide), else its latest run."""
        return self.latest(experiment, "full") or self.latest(experiment)

    def counts(self) -> dict[str, int]:
        """How many experiments are reproduced / not reproduced / undecided, each counted by
        its ``headline`` run."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for experiment in self.runs:
            counts[self.headline(experiment).outcome] += 1
        return counts

    @property
    def readable(self) -> int:
        """How many runs could be read."""
        return sum(len(records) for records in self.runs.values())

    @property
    def nothing_readable(self) -> bool:
        """True when the runs folder holds run files but not one of them could be read."""
        return not self.readable and any(p.kind == "run" for p in self.problems)


def _decode(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise Unreadable(f"cannot be read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Unreadable(f"is not UTF-8 text (byte {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        message = err.msg[:-3] + " here" if err.msg.endswith(" at") else err.msg
        cut = (err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string"))
        raise Unreadable(f"is not valid JSON (line {err.lineno}, column {err.colno}: {message})"
                         + (": cut short?" if cut else "")) from None


def _json_type(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def read_result(path: Path) -> dict[str, Any]:
    """The result.json at ``path``, checked to be a deepnotes result (``Unreadable`` if not)."""
    result = _decode(path)
    if not isinstance(result, dict):
        raise Unreadable(f"holds {_json_type(result)}, not a result object")
    if not ({"outcome", "reproduced", "checks"} & set(result)):
        raise Unreadable("holds no verdict ('outcome', 'reproduced' or 'checks'): "
                         "not a deepnotes result")
    for key, types in _FIELD_TYPES.items():
        if key not in result:
            continue
        value = result[key]  # (JSON true/false is not a number, though bool is an int)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise Unreadable(f"field {key!r} is {_json_type(value)}, expected "
                             f"{' or '.join(_JSON_NAMES[t] for t in types)}")
    if result.get("outcome", REPRODUCED) not in OUTCOMES:
        raise Unreadable(f"field 'outcome' is {result['outcome']!r}, expected one of "
                         f"{', '.join(OUTCOMES)}")
    for index, check in enumerate(result.get("checks", [])):
        if not isinstance(check, dict) or not isinstance(check.get("description"), str) \
                or check.get("outcome") not in CHECK_OUTCOMES:
            raise Unreadable(f"checks[{index}] is not a check (a description and an outcome "
                             f"of {', '.join(CHECK_OUTCOMES)})")
    for index, row in enumerate(result.get("published", [])):
        if not isinstance(row, dict):
            raise Unreadable(f"published[{index}] is {_json_type(row)}, expected an object")
    for index, name in enumerate(result.get("figures", [])):
        if not isinstance(name, str):
            raise Unreadable(f"figures[{index}] is {_json_type(name)}, expected a file name")
    return result


def read_config(path: Path) -> dict[str, Any]:
    """The config.json at ``path`` (``Unreadable`` if it is not a JSON object)."""
    config = _decode(path)
    if not isinstance(config, dict):
        raise Unreadable(f"holds {_json_type(config)}, not a config object")
    return config


def outcome_of(result: dict[str, Any]) -> str:
    """reproduced / not reproduced / undecided: from the checks when there are any, else the
    recorded outcome, else the ``reproduced`` flag of results older than per-check verdicts."""
    checks = result.get("checks") or []
    if checks:
        if any(check["outcome"] == FAILED for check in checks):
            return NOT_REPRODUCED
        if all(check["outcome"] == PASSED for check in checks):
            return REPRODUCED
        return UNDECIDED
    if "outcome" in result:
        return result["outcome"]
    return REPRODUCED if result.get("reproduced") else NOT_REPRODUCED


def _folders(path: Path, problems: list[Problem]) -> Iterator[Path]:
    """The sub-folders of ``path``, sorted; hidden ones and files are passed over."""
    try:
        children = sorted(path.iterdir())
    except OSError as err:
        problems.append(Problem(path, f"cannot be listed ({err.strerror or err}); skipped"))
        return
    for child in children:
        if not child.name.startswith(".") and child.is_dir():
            yield child


def collect(out: str | Path) -> Collection:
    """Every readable finished run under ``out`` and the problems (see the module doc)."""
    out = Path(out)
    collection = Collection(out)
    if not out.is_dir():
        return collection
    for experiment in _folders(out, collection.problems):
        records = []
        for run_dir in _folders(experiment, collection.problems):
            result_path = run_dir / RESULT
            if not result_path.is_file():
                continue  # unfinished (or not a run folder)
            try:
                result = read_result(result_path)
            except Unreadable as err:
                collection.problems.append(Problem(result_path, f"{err}; run skipped"))
                continue
            config = None
            if (run_dir / CONFIG).is_file():
                try:
                    config = read_config(run_dir / CONFIG)
                except Unreadable as err:
                    collection.problems.append(Problem(
                        run_dir / CONFIG, f"{err}; run shown without its settings"))
            records.append(RunRecord(experiment.name, run_dir, result, config,
                                     outcome_of(result)))
        if records:
            collection.runs[experiment.name] = records
    return collection
