"""The CLI and the HTML report, driven as a user would."""

from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepnotes import experiments
from deepnotes.cli import app

runner = CliRunner()


class Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.sections = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs["src"])
        if tag == "section":
            self.sections.append(attrs.get("id"))


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = runner.invoke(app, ["run", "mle-least-squares", "--quick", "--device", "cpu",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_run_writes_a_complete_run_folder(finished_runs):
    (folder,) = (finished_runs / "mle-least-squares").iterdir()
    for name in ("config.json", "metrics.jsonl", "result.json", "mle_fit.png",
                 "checkpoints/mle.pt"):
        assert (folder / name).is_file(), name
    assert '"preset": "quick"' in (folder / "config.json").read_text()


def test_report_references_only_existing_figures(finished_runs):
    result = runner.invoke(app, ["report", "--out", str(finished_runs)])
    assert result.exit_code == 0, result.output
    page = (finished_runs / "index.html").read_text()
    parser = Images()
    parser.feed(page)
    assert parser.sections == ["mle-least-squares"]
    assert parser.sources, "the report shows the experiment's figure"
    for source in parser.sources:
        assert not Path(source).is_absolute()
        assert (finished_runs / source).is_file(), source
    assert "<span class='verdict ok'>reproduced</span>" in page
    assert experiments.get("mle-least-squares").CLAIM[:40] in page


def test_list_shows_every_experiment_and_the_last_verdict(finished_runs):
    result = runner.invoke(app, ["list", "--out", str(finished_runs)])
    assert result.exit_code == 0
    for name in experiments.names():
        assert name[:20] in result.output
    row = next(line for line in result.output.splitlines() if "mle-least-squares" in line)
    assert row.rstrip(" │").endswith("reproduced") and "not reproduced" not in row


def test_interrupted_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    import json

    from deepnotes.experiments import mle_least_squares

    command = ["run", "mle-least-squares", "--device", "cpu", "--set", "steps=400"]
    whole = runner.invoke(app, command + ["--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output

    real_loss, calls = mle_least_squares.gaussian_nll, []

    def interrupted_loss(*args):
        calls.append(1)
        if len(calls) == 250:  # Ctrl-C in the middle of the fit (checkpoints every 40 steps)
            raise KeyboardInterrupt
        return real_loss(*args)

    out = tmp_path / "cut"
    monkeypatch.setattr(mle_least_squares, "gaussian_nll", interrupted_loss)
    cut = runner.invoke(app, command + ["--out", str(out)])
    assert cut.exit_code == 130 and "--resume" in cut.output
    monkeypatch.setattr(mle_least_squares, "gaussian_nll", real_loss)
    resumed = runner.invoke(app, command + ["--out", str(out), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output

    def folder(root):
        (only,) = (root / "mle-least-squares").iterdir()
        return only

    before, after = folder(tmp_path / "whole"), folder(out)
    # fit's numbers are bit-identical; the LAPACK references (lstsq) only agree to rounding
    assert (json.loads((after / "result.json").read_text())["metrics"]
            == pytest.approx(json.loads((before / "result.json").read_text())["metrics"],
                             rel=1e-9, abs=1e-14))

    def losses(run_dir):
        records = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
        return [(r["step"], r["train_loss"]) for r in records]

    assert losses(after) == losses(before)


def test_resume_continues_an_unfinished_run_in_place(finished_runs, tmp_path):
    out = tmp_path / "runs"
    first = runner.invoke(app, ["run", "mle-least-squares", "--quick", "--device", "cpu",
                                "--out", str(out), "--seed", "3"])
    assert first.exit_code == 0
    (folder,) = (out / "mle-least-squares").iterdir()
    finished = (folder / "result.json").read_text()
    (folder / "result.json").unlink()  # as if interrupted after the last checkpoint
    again = runner.invoke(app, ["run", "mle-least-squares", "--resume", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert [p.name for p in (out / "mle-least-squares").iterdir()] == [folder.name]
    import json

    before, after = json.loads(finished), json.loads((folder / "result.json").read_text())
    assert after["metrics"] == pytest.approx(before["metrics"], rel=1e-9, abs=1e-14)
    skipped = runner.invoke(app, ["run", "mle-least-squares", "--quick", "--resume",
                                  "--out", str(out)])
    assert "skipped" in skipped.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run", "no-such-experiment"], "unknown experiment"),
        (["run", "mle-least-squares", "--quick", "--full"], "not both"),
        (["run", "mle-least-squares", "--seed", "-2"], "--seed"),
        (["run", "mle-least-squares", "--device", "quantum"], "--device"),
        (["run", "mle-least-squares", "--set", "steps"], "KEY=VALUE"),
        (["run", "mle-least-squares", "--set", "colour=3"], "no field"),
        (["run", "mle-least-squares", "--set", "steps=1.5"], "as an int"),
        (["run", "mle-least-squares", "--data", "digits"], "takes no data"),
        (["report", "--out", "/nonexistent/deepnotes-runs"], "no such folder"),
    ],
)
def test_bad_input_gives_one_clear_line_and_a_nonzero_exit(arguments, message, tmp_path):
    result = runner.invoke(app, arguments + (["--out", str(tmp_path)] if arguments[0] == "run"
                                             else []))
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_unwritable_out_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = runner.invoke(app, ["run", "mle-least-squares", "--out", str(blocker / "runs")])
    assert result.exit_code != 0
    assert "not writable" in result.output


def test_set_overrides_a_config_field(tmp_path):
    result = runner.invoke(app, ["run", "mle-least-squares", "--device", "cpu", "--set",
                                 "steps=50", "--set", "noise=0.2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "mle-least-squares").iterdir()
    text = (folder / "config.json").read_text()
    assert '"steps": 50' in text and '"noise": 0.2' in text
