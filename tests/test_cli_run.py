"""`deepnotes run`'s --set: typed, scoped with NAME.KEY, refused before anything runs."""

import pytest
from typer.testing import CliRunner

from deepnotes.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["bogus=1"], "no selected experiment has a field 'bogus'"),
        (["gan-zoo.ema=0.99x"], "ema: cannot read '0.99x'"),
        (["nope.steps=3"], "'nope' is not a selected experiment"),
        (["gan-zoo.bogus=3"], "gan-zoo has no field 'bogus'"),
        (["=3"], "KEY=VALUE"),
    ],
)
def test_run_all_refuses_bad_sets_before_running_anything(sets, message, tmp_path):
    arguments = ["run", "all", "--quick", "--out", str(tmp_path)]
    for pair in sets:
        arguments += ["--set", pair]
    result = runner.invoke(app, arguments, env={"COLUMNS": "40"})
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", "")
    assert "Traceback" not in result.output
    assert not any(tmp_path.iterdir()), "nothing may run before the --set values are checked"


def test_single_experiment_set_is_typed(tmp_path):
    result = runner.invoke(app, ["run", "mle-least-squares", "--device", "cpu", "--set",
                                 "seed=3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "mle-least-squares").iterdir()
    assert '"seed": 3' in (folder / "config.json").read_text()
