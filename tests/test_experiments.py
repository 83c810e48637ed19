"""Every registered experiment: the contract holds, and its quick preset finishes with finite
metrics and no failed check (undecided checks are allowed: a quick preset may lack the power to
decide, it never lowers a threshold)."""

import dataclasses
import json
import math

import pytest

from deepnotes import experiments
from deepnotes.experiments.base import SECTIONS, ExperimentConfig


def _numbers(value):
    """Every number inside a nested metrics value."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _numbers(item)


@pytest.mark.parametrize("name", experiments.names())
def test_contract(name):
    module = experiments.get(name)
    assert isinstance(module.CLAIM, str) and module.CLAIM.strip()
    assert module.SECTION in SECTIONS
    assert module.IMPLEMENTS and all(m.startswith("deepnotes.") for m in module.IMPLEMENTS)
    assert issubclass(module.Config, ExperimentConfig)
    assert module.__doc__ and module.__doc__.strip()
    assert isinstance(module.FORMULA, str) and module.FORMULA.strip()
    for which in ("quick", "full"):
        config = getattr(module.Config, which)()
        assert dataclasses.is_dataclass(config)
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.seed = 1
        assert {"seed", "device"} <= {f.name for f in dataclasses.fields(config)}


@pytest.mark.parametrize("name", experiments.names())
def test_quick_preset_has_no_failed_check(name, tmp_path):
    result = experiments.execute(name, experiments.preset(name, "quick", device="cpu"), tmp_path,
                                 preset="quick")
    failed = [c for c in result["checks"] if c["outcome"] == "failed"]
    assert not failed, result["criterion"]
    assert result["outcome"] in ("reproduced", "undecided")
    assert result["reproduced"] == (result["outcome"] == "reproduced")
    assert all(c["outcome"] in ("passed", "undecided") for c in result["checks"])
    non_finite = [v for v in _numbers(result["metrics"]) if isinstance(v, float)
                  and not math.isfinite(v)]
    assert not non_finite, f"non-finite metrics: {non_finite}"
    run_dir = tmp_path / name
    (folder,) = run_dir.iterdir()
    saved = json.loads((folder / "result.json").read_text())
    assert saved["metrics"] == json.loads(json.dumps(result["metrics"]))
    assert saved["preset"] == "quick" and saved["device"] == "cpu"
    assert {"torch", "numpy", "python", "deepnotes"} <= set(saved["versions"])
    assert saved["figures"], "an experiment ends in at least one figure"
    for figure in saved["figures"]:
        assert (folder / figure).is_file()


def test_unknown_experiment_is_named():
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        experiments.get("nope")
