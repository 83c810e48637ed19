"""Every registered experiment: the contract holds and its quick preset reproduces its claim."""

import dataclasses
import json

import pytest

from deepnotes import experiments


@pytest.mark.parametrize("name", experiments.names())
def test_contract(name):
    module = experiments.get(name)
    assert isinstance(module.CLAIM, str) and module.CLAIM.strip()
    for which in ("quick", "full"):
        config = getattr(module.Config, which)()
        assert dataclasses.is_dataclass(config)
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.seed = 1
        assert {"seed", "device"} <= {f.name for f in dataclasses.fields(config)}


@pytest.mark.parametrize("name", experiments.names())
def test_quick_preset_reproduces_the_claim(name, tmp_path):
    result = experiments.execute(name, experiments.preset(name, "quick", device="cpu"), tmp_path,
                                 preset="quick")
    assert result["reproduced"], result["criterion"]
    run_dir = tmp_path / name
    (folder,) = run_dir.iterdir()
    saved = json.loads((folder / "result.json").read_text())
    assert saved["metrics"] == json.loads(json.dumps(result["metrics"]))
    assert saved["figures"], "an experiment ends in at least one figure"
    for figure in saved["figures"]:
        assert (folder / figure).is_file()


def test_unknown_experiment_is_named():
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        experiments.get("nope")
