"""The experiment contract (DESIGN.md, "Experiments are data plus one function").

An experiment module ``experiments/<name>.py`` defines:

- ``CLAIM``: one sentence from the course;
- ``SECTION``: the syllabus section it belongs to (1–8, ``SECTIONS`` below);
- ``IMPLEMENTS``: the modules whose methods it exercises (``("deepnotes.adversarial.cw",)``),
  so the report can link the code and its tests;
- ``FORMULA``: the formula the claim is about, in plain text (one or a few lines), shown by
  the report above the checks;
- ``Config``: a frozen dataclass deriving from ``ExperimentConfig`` (fields ``seed`` and
  ``device``; ``full()`` = the field defaults) with a ``quick()`` classmethod (≤ 20 s on one
  CPU thread here, still exercises every check);
- ``run(config, run) -> Result`` where ``run`` is an ``engine.Run`` (figures go to
  ``save_figure(fig, run, "name")``);
- optionally ``PUBLISHED``-style numbers, returned as ``Result.published`` rows.

The verdict is a list of ``Check`` s. Each states one numeric criterion of the claim against a
threshold fixed by the claim or by a published number — a module constant, the same in every
preset, with a comment citing where it comes from — and ends ``passed``, ``failed`` or
``undecided`` (the preset has too little data, too few steps or seeds to decide: a confidence
interval that straddles the threshold, or a part only the full preset runs). A preset never
lowers a threshold. The experiment is *reproduced* when every check was decided and passed,
*not reproduced* when a decided check failed, *undecided* otherwise.

Algebraic identities (bias² + variance + noise adds up, NLL = CE) are not checks: they cannot
fail, so they belong to the metrics or the tests.
"""

from __future__ import annotations

import dataclasses
import io
import math
import numbers
import operator
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import data
from ..core import checks
from ..core.files import to_jsonable, write_bytes
from ..core.rng import RandomStreams, check_seed
from ..engine import fit

PASSED, FAILED, UNDECIDED = "passed", "failed", "undecided"
REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"

#: Normal quantile of a two-sided 95% interval: a noisy estimate decides a check only when its
#: whole interval estimate ± Z·se lies on one side of the threshold.
Z_95 = 1.959964

#: The syllabus's sections (shared/SYLLABUS.md), in course order.
SECTIONS = {
    1: "Supervised learning and statistics",
    2: "Architectural elements",
    3: "Optimization",
    4: "Vision tasks",
    5: "Adversarial examples",
    6: "Interpretability",
    7: "Continual learning",
    8: "Generative models",
}


# ---------------------------------------------------------------------------------------------
# checks and verdicts


@dataclass(frozen=True)
class Check:
    """One numeric criterion of a claim and how it ended.

    ``value`` is the measured number (or a dict/list of numbers), ``threshold`` the bar,
    ``comparison`` how they are compared (">=", "<=", ">", "<", or a word such as "sign test"),
    ``se`` the standard error of ``value`` when it is a noisy estimate, ``outcome`` one of
    ``passed`` / ``failed`` / ``undecided`` and ``note`` why (e.g. "full preset only").
    Build checks with the constructors, which decide the outcome.
    """

    description: str
    outcome: str
    value: Any = None
    threshold: Any = None
    comparison: str | None = None
    se: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in (PASSED, FAILED, UNDECIDED):
            raise ValueError(f"outcome must be passed, failed or undecided, got {self.outcome!r}")

    @property
    def decided(self) -> bool:
        return self.outcome != UNDECIDED

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def compare(cls, description: str, value: float, comparison: str, threshold: float, *,
                se: float | None = None, z: float = Z_95, note: str = "") -> Check:
        """``value <comparison> threshold`` with ``comparison`` in ``>=, >, <=, <``.

        Without ``se`` (an exact or noise-free number) the point value decides. With ``se``
        the interval value ± z·se decides: passed when all of it satisfies the comparison,
        failed when none of it does, undecided when it straddles the threshold (or ``se`` is
        not finite).
        """
        if comparison not in (">=", ">", "<=", "<"):
            raise ValueError(f"comparison must be '>=', '>', '<=' or '<', got {comparison!r}")
        try:
            if isinstance(value, (str, bytes)):
                raise TypeError
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"value must be a number, got {type(value).__name__} "
                            f"{value!r}") from None
        threshold = checks.real(threshold, "threshold", finite=False)  # a constant: never NaN
        if se is not None and float(se) < 0:
            raise ValueError(f"se must be >= 0 (a standard error), got {se}")
        holds = {">=": lambda a: a >= threshold, ">": lambda a: a > threshold,
                 "<=": lambda a: a <= threshold, "<": lambda a: a < threshold}[comparison]
        if math.isnan(value):
            outcome = UNDECIDED
            note = note or "the measured value is NaN"
        elif se is None or se == 0:
            outcome = PASSED if holds(value) else FAILED
        elif not math.isfinite(se):
            outcome = UNDECIDED
        else:
            low, high = value - z * se, value + z * se
            if holds(low) and holds(high):
                outcome = PASSED
            elif not holds(low) and not holds(high):
                outcome = FAILED
            else:
                outcome = UNDECIDED
                note = note or (f"the 95% interval [{low:.4g}, {high:.4g}] straddles "
                                f"{threshold:.4g}")
        return cls(description, outcome, value, threshold, comparison,
                   None if se is None else float(se), note)

    @classmethod
    def at_least(cls, description: str, value: float, threshold: float, **kwargs) -> Check:
        """``value ≥ threshold`` (see ``compare``)."""
        return cls.compare(description, value, ">=", threshold, **kwargs)

    @classmethod
    def at_most(cls, description: str, value: float, threshold: float, **kwargs) -> Check:
        """``value ≤ threshold`` (see ``compare``)."""
        return cls.compare(description, value, "<=", threshold, **kwargs)

    @classmethod
    def sign_test(cls, description: str, wins: int, trials: int, *, alpha: float = 0.05,
                  note: str = "") -> Check:
        """A paired comparison: of ``trials`` pairs (ties dropped), ``wins`` went the claimed
        way. Passed when a one-sided binomial test rejects "no preference" at level ``alpha``
        (wins > trials/2 significantly), failed when the opposite one-sided test does (the
        claim's direction loses significantly), undecided otherwise."""
        from scipy.stats import binomtest

        wins = checks.nonnegative_int(wins, "wins")
        trials = checks.nonnegative_int(trials, "trials")
        if wins > trials:
            raise ValueError(f"wins must be <= trials, got {wins} of {trials}")
        if trials == 0:
            return cls(description, UNDECIDED, 0.0, 0.5, "sign test", note=note or "no pairs")
        greater = binomtest(wins, trials, 0.5, alternative="greater").pvalue
        less = binomtest(wins, trials, 0.5, alternative="less").pvalue
        outcome = PASSED if greater < alpha else FAILED if less < alpha else UNDECIDED
        detail = f"{wins} of {trials} pairs (one-sided p = {min(greater, less):.2g})"
        return cls(description, outcome, wins / trials, 0.5, "sign test",
                   note=f"{note}; {detail}" if note else detail)

    @classmethod
    def exact(cls, description: str, passed: bool, value: Any = None, threshold: Any = None,
              comparison: str | None = None, note: str = "") -> Check:
        """A check decided by a noise-free criterion computed by the caller."""
        return cls(description, PASSED if passed else FAILED, value, threshold, comparison,
                   note=note)

    @classmethod
    def every(cls, description: str, parts: Sequence[Check], note: str = "") -> Check:
        """One criterion judged on several items (every consecutive pair of step sizes, every
        layer): failed when a part failed, passed when every part passed, undecided otherwise.
        It shows the deciding part's numbers: the first failed part, else the first undecided
        one, else the passed part nearest its threshold (smallest |value − threshold| − z·se)."""
        parts = list(parts)
        if not parts:
            raise ValueError("every() needs at least one part")
        failed = [p for p in parts if p.outcome == FAILED]
        undecided = [p for p in parts if p.outcome == UNDECIDED]
        if failed:
            outcome, shown = FAILED, failed[0]
        elif undecided:
            outcome, shown = UNDECIDED, undecided[0]
        else:
            outcome, shown = PASSED, min(parts, key=_slack)
        passed = len(parts) - len(failed) - len(undecided)
        detail = f"{passed} of {len(parts)} passed; shown: {shown.description}"
        if shown.note:
            detail += f" ({shown.note})"
        return cls(description, outcome, shown.value, shown.threshold, shown.comparison,
                   shown.se, f"{note}; {detail}" if note else detail)

    @classmethod
    def undecided(cls, description: str, note: str, value: Any = None,
                  threshold: Any = None, comparison: str | None = None) -> Check:
        """A check this preset cannot decide (``note`` says why, e.g. "full preset only")."""
        return cls(description, UNDECIDED, value, threshold, comparison, note=note)

    def symbol(self) -> str:
        return {PASSED: "✓", FAILED: "✗", UNDECIDED: "?"}[self.outcome]

    def text(self) -> str:
        """One line: mark, description, the numbers and the note."""
        parts = [f"{self.symbol()} {self.description}"]
        if self.value is not None and self.comparison in (">=", ">", "<=", "<"):
            se = f" ± {self.se:.2g}" if self.se else ""
            parts.append(f"({_short(self.value)}{se} {self.comparison} {_short(self.threshold)})")
        if self.note:
            parts.append(f"[{self.note}]")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _slack(check: Check) -> float:
    """How far a decided numeric check is from its threshold: |value − threshold| − z·se."""
    try:
        return abs(float(check.value) - float(check.threshold)) - Z_95 * (check.se or 0.0)
    except (TypeError, ValueError):
        return math.inf


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Verdict:
    """The checks of a claim; ``outcome`` is reproduced / not reproduced / undecided."""

    checks: tuple[Check, ...]

    def __init__(self, checks: Sequence[Check]) -> None:
        checks = tuple(checks)
        if not checks:
            raise ValueError("a verdict needs at least one check")
        for check in checks:
            if not isinstance(check, Check):
                raise TypeError(f"a verdict is made of Check objects, got {type(check).__name__}")
        object.__setattr__(self, "checks", checks)

    @property
    def outcome(self) -> str:
        if any(c.outcome == FAILED for c in self.checks):
            return NOT_REPRODUCED
        if all(c.outcome == PASSED for c in self.checks):
            return REPRODUCED
        return UNDECIDED

    @property
    def reproduced(self) -> bool:
        return self.outcome == REPRODUCED

    @property
    def decided(self) -> int:
        return sum(c.decided for c in self.checks)

    def summary(self) -> str:
        """One phrase for the verdict ("quick check: consistent so far (2 of 3 checks
        decided)" when nothing failed but something is undecided)."""
        n = len(self.checks)
        if self.outcome == UNDECIDED:
            return f"consistent so far ({self.decided} of {n} checks decided)"
        if self.outcome == NOT_REPRODUCED:
            failed = sum(c.outcome == FAILED for c in self.checks)
            return f"not reproduced ({failed} of {n} checks failed)"
        return f"reproduced ({n} of {n} checks passed)"

    @property
    def criterion(self) -> str:
        return "; ".join(c.text() for c in self.checks)


@dataclass
class Result:
    """What an experiment returns: numbers, a verdict, figure files (under the run folder) and,
    where the claim has published numbers, ``published`` rows — dicts with the keys
    ``quantity``, ``published``, ``ours`` and ``source`` — for the report's "published vs
    ours" table."""

    metrics: dict[str, Any]
    verdict: Verdict
    figures: list[Path] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.verdict, Verdict):
            raise TypeError(f"Result.verdict must be a Verdict, got {type(self.verdict).__name__}")
        for row in self.published:
            missing = {"quantity", "published", "ours", "source"} - set(row)
            if missing:
                raise ValueError(f"a published row lacks {sorted(missing)}: {row}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.verdict.outcome,
            "reproduced": self.verdict.reproduced,
            "summary": self.verdict.summary(),
            "checks": [c.to_dict() for c in self.verdict.checks],
            "criterion": self.verdict.criterion,
            "metrics": self.metrics,
            "published": self.published,
            "figures": [Path(f).name for f in self.figures],
        }


def mean_and_se(values) -> tuple[float, float]:
    """Mean and standard error s/√n of a sample (se = inf for fewer than 2 values)."""
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    n = len(values)
    if n == 0:
        return math.nan, math.inf
    mean = float(values.mean())
    if n < 2:
        return mean, math.inf
    return mean, float(values.std(unbiased=True)) / math.sqrt(n)


def t_quantile(df: int, *, comparisons: int = 1, alpha: float = 0.05) -> float:
    """The z to pass to ``Check.compare`` for a mean over few seeds: the two-sided (1 − alpha)
    Student-t quantile with ``df`` degrees of freedom (n − 1 for a mean of n values),
    Bonferroni-corrected for ``comparisons`` (e.g. the pairs among which a best and a worst
    were picked); inf for df < 1. With 2–3 seeds the standard error is itself uncertain, so the
    normal 1.96 would overstate the evidence (t = 4.30 for 3 seeds)."""
    from scipy.stats import t

    return float(t.ppf(1 - alpha / 2 / comparisons, df)) if df >= 1 else math.inf


def short_run(check: Check, done: int, budget: int, unit: str = "steps") -> Check:
    """``check`` of a claim about a trained model, measured after ``done`` of the claim's
    ``budget`` training steps: when ``done < budget`` a failure is no evidence against the claim
    and becomes undecided (a pass stands)."""
    if check.outcome != FAILED or done >= budget:
        return check
    note = (f"{done} < {budget} {unit}: a shorter run can pass this check, not fail it"
            + (f" ({check.note})" if check.note else ""))
    return dataclasses.replace(check, outcome=UNDECIDED, note=note)


# ---------------------------------------------------------------------------------------------
# configs


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of every experiment's ``Config``: the seed and device every entry point takes.

    Subclasses are frozen dataclasses whose fields all have defaults (the full preset);
    ``quick()`` returns the small preset. Override fields with ``override(config, values)``.
    """

    seed: int = 0
    device: str = "auto"

    @classmethod
    def full(cls):
        """The full preset: the field defaults, which reproduce the published numbers."""
        return cls()

    @classmethod
    def quick(cls):
        raise NotImplementedError(f"{cls.__module__}.Config must define quick()")

    def streams(self) -> RandomStreams:
        """Independent named random streams from ``seed`` (``streams().generator("data")``)."""
        return RandomStreams(self.seed)


_NONE_WORDS = {"none", "null"}
_TRUE_WORDS, _FALSE_WORDS = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _convert(raw: Any, annotation: Any, key: str) -> Any:
    """``raw`` (a string from the command line, or a value from Python/JSON) as ``annotation``."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in arguments if a is not type(None)]
        if type(None) in arguments and (raw is None or (isinstance(raw, str)
                                                        and raw.strip().lower() in _NONE_WORDS)):
            return None
        errors = []
        for option in options:
            try:
                return _convert(raw, option, key)
            except (TypeError, ValueError) as err:
                errors.append(str(err))
        raise ValueError(errors[0] if len(errors) == 1 else
                         f"{key}: cannot read {raw!r} as {_type_name(annotation)}")
    if origin is typing.Literal:
        for option in arguments:
            if raw == option or (isinstance(raw, str) and str(option) == raw):
                return option
        raise ValueError(f"{key}: must be one of {', '.join(map(repr, arguments))}, got {raw!r}")
    if origin in (tuple, list):
        if isinstance(raw, str):
            text = raw.strip()
            if text.startswith(("[", "(")) and text.endswith(("]", ")")):
                text = text[1:-1]
            items = [part.strip() for part in text.split(",") if part.strip()]
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        else:
            raise TypeError(f"{key}: expected a list of values, got {raw!r}")
        if origin is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
            item_types = [arguments[0]] * len(items)
        elif origin is tuple and arguments:
            if len(items) != len(arguments):
                raise ValueError(f"{key}: expected {len(arguments)} values, got {len(items)}")
            item_types = list(arguments)
        else:
            item_types = [arguments[0] if arguments else str] * len(items)
        converted = [_convert(item, t, key) for item, t in zip(items, item_types, strict=True)]
        return tuple(converted) if origin is tuple else converted
    if annotation is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
            return raw.strip().lower() in _TRUE_WORDS
        raise ValueError(f"{key}: cannot read {raw!r} as a bool (true/false)")
    if annotation is int:
        if isinstance(raw, bool):
            raise TypeError(f"{key}: expected an int, got {raw!r}")
        if isinstance(raw, int):
            return raw
        if hasattr(raw, "__index__") and not isinstance(raw, float):  # np.int64, 0-d tensor
            try:
                return operator.index(raw)
            except TypeError:
                pass
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str):
            try:
                return int(raw.strip().replace("_", ""))
            except ValueError:
                pass
        raise ValueError(f"{key}: cannot read {raw!r} as an int")
    if annotation is float:
        if isinstance(raw, bool):
            raise TypeError(f"{key}: expected a number, got {raw!r}")
        if isinstance(raw, numbers.Real):  # int, float, NumPy numbers
            return float(raw)
        if (isinstance(raw, torch.Tensor) and raw.dim() == 0 and raw.dtype != torch.bool
                and not raw.is_complex()):
            return float(raw.item())
        if isinstance(raw, str):
            try:
                return float(raw.strip().replace("_", ""))
            except ValueError:
                pass
        raise ValueError(f"{key}: cannot read {raw!r} as a number")
    if annotation is str:
        if isinstance(raw, str):
            return raw
        raise TypeError(f"{key}: expected a string, got {raw!r}")
    if annotation is Any:
        return raw
    raise TypeError(f"{key}: fields of type {_type_name(annotation)} cannot be overridden")


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def field_types(config_class: type) -> dict[str, Any]:
    """The resolved type annotation of each field of a Config dataclass."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class)}


def override(config, values: dict[str, Any], *, experiment: str | None = None):
    """``config`` with fields replaced by ``values``, each converted by the field's type
    annotation: ``"3"`` → 3 for an int, ``"1e-3"`` → 0.001 for a float, ``"16,32"`` or
    ``"[16, 32]"`` → (16, 32) for a tuple[int, ...], ``"none"`` → None for an optional field,
    ``"true"`` / ``"false"`` for a bool. Python values of the right type pass through.

    Unknown keys, unparsable values and wrong types raise one ``ValueError`` naming the
    experiment, the key, the value and the expected type. This is the one override path of the
    CLI's ``--set KEY=VALUE`` and of ``experiments.preset(name, **overrides)``.
    """
    where = f"{experiment}: " if experiment else ""
    types_ = field_types(type(config))
    unknown = sorted(set(values) - set(types_))
    if unknown:
        raise ValueError(f"{where}Config has no field(s) {', '.join(unknown)} "
                         f"(fields: {', '.join(types_)})")
    converted = {}
    for key, raw in values.items():
        try:
            converted[key] = _convert(raw, types_[key], key)
        except (TypeError, ValueError) as err:
            message = str(err)
            if not message.startswith(f"{key}:"):
                message = f"{key}: {message}"
            raise ValueError(f"{where}{message} (expected {_type_name(types_[key])})") from None
    if "seed" in converted and isinstance(config, ExperimentConfig):
        try:
            check_seed(converted["seed"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}{err}") from None
    device = converted.get("device")
    if isinstance(config, ExperimentConfig) and isinstance(device, str) and device != "auto":
        try:
            torch.device(device)
        except RuntimeError:
            raise ValueError(f"{where}device: {device!r} is not a device name ('auto', 'cpu', "
                             "'cuda', 'cuda:1')") from None
    return dataclasses.replace(config, **converted)


# ---------------------------------------------------------------------------------------------
# shared prologue and figures


def load_split(name: str, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train, y_train, x_test, y_test)`` of classification data set ``name`` (as
    ``data.load``), moved to ``device``."""
    x_train, y_train = data.load(name, "train")
    x_test, y_test = data.load(name, "test")
    return x_train.to(device), y_train.to(device), x_test.to(device), y_test.to(device)


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 4.5, height: float = 3.6):
    """A matplotlib figure on the non-interactive Agg canvas (no display needed) and its axes,
    always as a flat array (index ``axes[0]`` for a single panel)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes.ravel()


def save_figure(fig, run, name: str) -> Path:
    """Write ``fig`` as ``<run>/<name>.png`` (atomically, only on rank 0), close it, return the
    path."""
    import matplotlib.pyplot as plt  # deferred: matplotlib is heavy, and only figures need it

    path = run.file(f"{name}.png")
    if run.writes:
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
        write_bytes(path, buffer.getvalue())
    plt.close(fig)
    return path


def train_classifier(model, train_data, *, steps: int, batch_size: int, lr: float, run,
                     name: str, device, seed: int, loss=None):
    """Fit ``model`` on ``train_data`` = (x, y) with Adam (learning rate ``lr``) through
    ``engine.fit`` — ``steps`` minibatches of ``batch_size``, about 20 records logged under
    ``name`` in ``run`` — minimizing ``loss`` (default cross-entropy; any ``(logits, y) ->
    scalar``, e.g. an ``adversarial.AdversarialLoss``); returns the model in eval mode."""
    if loss is None:
        loss = torch.nn.functional.cross_entropy
    return fit(model, loss, lambda parameters: torch.optim.Adam(parameters, lr=lr), train_data,
               steps=steps, batch_size=batch_size, log_every=max(1, steps // 20), run=run,
               name=name, device=device, seed=seed).model.eval()


# --------------------------------------------------------------------------------------------
# sweep units: an experiment's independent pieces, declared as data
#
# An experiment whose work splits into independent units (seeds x losses x widths ...) defines
#     units(config) -> list[dict]            each a small JSON-able dict with a unique str "key"
#     run_unit(config, unit) -> dict          JSON-able values only (numbers, str, lists, dicts,
#                                             None); it writes nothing, draws nothing; an
#                                             optional "files" entry {filename: bytes} is written
#                                             into the run folder by the driver
#     summarize(config, unit_results, run) -> Result   unit_results in the order of units();
#                                             draws the figures and decides the checks
# and ``run = unit_run(units, run_unit, summarize)``. The registry then hands the units to an
# executor (``engine.executors``: serial, local processes, Ray), records each finished unit in
# the run folder, and on ``--resume`` reruns only the missing ones. Units must not depend on
# each other or on the order they run in: seed each from ``config.streams()`` by its key.


def unit_run(units: Callable, run_unit: Callable, summarize: Callable) -> Callable:
    """The plain ``run(config, run)`` of a unit experiment: every unit in turn, in this process,
    then ``summarize``. (The registry uses an executor instead; both give the same Result.)"""

    def run(config, run) -> Result:
        return summarize(config, [unit_result(run_unit(config, unit), unit["key"])
                                  for unit in check_units(units(config))], run)

    run.__doc__ = f"Run every unit of ``{units.__module__}`` in turn, then summarize."
    return run


def check_units(units: Any) -> list[dict[str, Any]]:
    """``units`` as returned by an experiment's ``units(config)``: a non-empty list of dicts,
    each with a unique non-empty str ``key`` (it names the unit's record in the run folder)."""
    if not isinstance(units, (list, tuple)) or not units:
        raise TypeError(f"units(config) must return a non-empty list of dicts, got {units!r}")
    seen = set()
    for unit in units:
        key = unit.get("key") if isinstance(unit, dict) else None
        if not isinstance(key, str) or not key or not _UNIT_KEY.fullmatch(key):
            raise ValueError(f"each unit must be a dict with a str 'key' of letters, digits and "
                             f"._=- ; got {unit!r}")
        if key in seen:
            raise ValueError(f"unit key {key!r} appears twice")
        seen.add(key)
    return list(units)


_UNIT_KEY = re.compile(r"[A-Za-z0-9_.=-]+")


def unit_result(value: Any, key: str = "?") -> dict[str, Any]:
    """A unit's return value as ``summarize`` receives it, whatever ran it (this process, a
    worker, a record read back on ``--resume``): a dict round-tripped through JSON (tuples
    become lists, tensors and NumPy numbers plain numbers), its optional ``"files"`` entry
    kept as ``{relative path: bytes}``. A value that is no dict, or bad files, raise
    ``TypeError``/``ValueError`` naming the unit."""
    if not isinstance(value, dict):
        raise TypeError(f"run_unit must return a dict, got {type(value).__name__} for unit "
                        f"{key!r}")
    files = value.get("files", {})
    if not isinstance(files, dict) or not all(
            isinstance(name, str) and isinstance(data, (bytes, bytearray))
            for name, data in files.items()):
        raise TypeError(f"unit {key!r}: 'files' must map relative file names to bytes")
    for name in files:
        check_unit_file(name, key)
    plain = to_jsonable({k: v for k, v in value.items() if k != "files"})
    return {**plain, "files": {name: bytes(data) for name, data in files.items()}} if files \
        else plain


#: Names in the run folder a unit's file may not take (the driver's own files).
_RESERVED = {"config.json", "result.json", "metrics.jsonl", "checkpoints", "units"}


def check_unit_file(name: str, key: str = "?") -> str:
    """A unit's file name: a relative path inside the run folder (no ``..``, not absolute, not
    one of the driver's own files)."""
    parts = Path(name).parts
    if (not name or Path(name).is_absolute() or ".." in parts or "\\" in name
            or parts[0] in _RESERVED):
        raise ValueError(f"unit {key!r}: file name {name!r} must be a relative path inside the "
                         f"run folder, not one of {sorted(_RESERVED)}")
    return name


__all__ = [
    "FAILED", "NOT_REPRODUCED", "PASSED", "REPRODUCED", "SECTIONS", "UNDECIDED", "Z_95",
    "Check", "ExperimentConfig", "Result", "Verdict", "field_types", "load_split",
    "mean_and_se", "new_figure", "override", "save_figure", "short_run", "t_quantile",
    "train_classifier", "check_unit_file", "check_units", "unit_result", "unit_run",
]
