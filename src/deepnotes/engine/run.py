"""The run folder: ``runs/<experiment>/<timestamp>/``.

Holds ``config.json``, ``metrics.jsonl`` (one JSON line per logged step), ``result.json``,
figures (PNG) and ``checkpoints/``. Every file except the append-only metrics log is written
atomically. Only the process of rank 0 writes (``Run.writes`` is False on the others).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from ..core.files import to_jsonable, write_json, write_text
from . import distributed

CONFIG = "config.json"
METRICS = "metrics.jsonl"
RESULT = "result.json"
CHECKPOINTS = "checkpoints"


def _timestamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


class Run:
    """One run of one experiment, in ``root/<name>/<timestamp>/``.

    ``Run.create(root, name)`` starts a new folder; ``Run.latest(root, name)`` reopens the
    newest one (to resume it). ``resume`` tells ``engine.fit`` to continue from checkpoints.
    """

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        self.path = Path(path)
        self.resume = resume
        self.writes = _is_rank_zero()
        if self.writes:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / CHECKPOINTS).mkdir(exist_ok=True)

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, name: str) -> Run:
        root = Path(root)
        path = None
        if _is_rank_zero():
            try:
                root.mkdir(parents=True, exist_ok=True)
                probe = root / f".write-test-{os.getpid()}"
                probe.touch()
                probe.unlink()
            except OSError as err:
                raise ValueError(f"out dir {root} is not writable ({err.strerror})") from err
            path = root / name / _timestamp()
            while path.exists():  # two runs in the same microsecond
                path = root / name / _timestamp()
        # under torchrun every rank opens rank 0's folder (only rank 0 writes into it)
        return cls(distributed.from_rank_zero(path) or root / name / _timestamp())

    @classmethod
    def latest(cls, root: str | Path, name: str) -> Run | None:
        """The newest run folder of ``name`` under ``root``, reopened with ``resume=True``."""
        runs = sorted(p for p in (Path(root) / name).glob("*") if (p / CONFIG).is_file())
        return cls(runs[-1], resume=True) if runs else None

    # -- files ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.parent.name

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINTS

    def file(self, name: str) -> Path:
        """Path of a file inside the run folder (for figures: ``run.file("loss.png")``)."""
        return self.path / name

    def write_config(self, config: Any) -> None:
        if dataclasses.is_dataclass(config):
            config = dataclasses.asdict(config)
        if self.writes:
            write_json(self.path / CONFIG, to_jsonable(config))

    def read_config(self) -> dict[str, Any]:
        return _read_object(self.path / CONFIG)

    def log(self, record: dict[str, Any]) -> None:
        """Append one line to ``metrics.jsonl``."""
        if not self.writes:
            return
        with open(self.path / METRICS, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(to_jsonable(record)) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / METRICS
        if not path.exists():
            return []
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill during the append
        return records

    def truncate_metrics(self, keep) -> None:
        """Keep only the records for which ``keep(record)`` is true (used when resuming)."""
        if not self.writes or not (self.path / METRICS).exists():
            return
        kept = [r for r in self.read_metrics() if keep(r)]
        write_text(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in kept))

    def write_result(self, result: dict[str, Any]) -> None:
        if self.writes:
            write_json(self.path / RESULT, to_jsonable(result))

    def read_result(self) -> dict[str, Any] | None:
        path = self.path / RESULT
        return _read_object(path) if path.exists() else None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, resume={self.resume})"


def _read_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a file that is not UTF-8, not JSON or not an object raises
    ``ValueError`` naming the file."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}): corrupt") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: "
                         f"{err.msg}): corrupt or cut short") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: holds a JSON {type(value).__name__}, not an object")
    return value
