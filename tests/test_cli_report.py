"""The CLI and the HTML report, driven as a user would."""

import html
import json
import os
import re
import shutil
import subprocess
import sys
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
        self.sources, self.articles, self.badges, self._badge = [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs["src"])
        if tag == "article":
            self.articles.append(attrs.get("id"))
        if tag == "span" and "badge" in (attrs.get("class") or ""):
            self._badge = ""

    def handle_data(self, data):
        if self._badge is not None:
            self._badge += data

    def handle_endtag(self, tag):
        if tag == "span" and self._badge is not None:
            self.badges.append(self._badge.strip())
            self._badge = None


def verdict_text(result: dict) -> str:
    """The report's and list's words for a quick run's outcome (never "reproduced" for an
    undecided one)."""
    decided = sum(c["outcome"] != "undecided" for c in result["checks"])
    return {"reproduced": "reproduced", "not reproduced": "not reproduced"}.get(
        result["outcome"],
        f"quick check: consistent so far ({decided} of {len(result['checks'])} checks decided)")


def finished_result(out: Path) -> dict:
    (folder,) = (out / "mle-least-squares").iterdir()
    return json.loads((folder / "result.json").read_text())


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
    page = (finished_runs / "index.html").read_text(encoding="utf-8")
    parser = Images()
    parser.feed(page)
    assert parser.articles == ["mle-least-squares"]
    assert parser.sources, "the report shows the experiment's figure"
    for source in parser.sources:
        assert not Path(source).is_absolute()
        assert (finished_runs / source).is_file(), source
    assert verdict_text(finished_result(finished_runs)) in parser.badges
    assert html.escape(experiments.get("mle-least-squares").CLAIM[:40], quote=False) in page


def test_report_single_file_embeds_the_figures(finished_runs, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(finished_runs, out)
    result = runner.invoke(app, ["report", "--out", str(out), "--single-file"])
    assert result.exit_code == 0, result.output
    parser = Images()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    assert parser.sources and all(s.startswith("data:image/png;base64,") for s in parser.sources)


def test_list_shows_every_experiment_and_the_last_verdict(finished_runs):
    result = runner.invoke(app, ["list", "--out", str(finished_runs)])
    assert result.exit_code == 0, result.output
    for name in experiments.names():
        assert f"  {name}  " in result.output
    assert "1 · Supervised learning and statistics" in result.output
    row = next(line for line in result.output.splitlines() if "mle-least-squares" in line)
    finished = finished_result(finished_runs)
    assert verdict_text(finished) in row and "· quick ·" in row
    assert finished["started"][:10] in row
    if finished["outcome"] != "not reproduced":
        assert "not reproduced" not in row


#: Files that list and report must survive, each put in a newer run folder than the good run.
CORRUPT = {
    "not-utf8": ("result.json", b"\xff\xfe\x00{\"outcome\": 1}", "not UTF-8"),
    "empty-object": ("result.json", b"{}", "holds no verdict"),
    "json-list": ("result.json", b"[1, 2]", "holds a list"),
    "truncated": ("result.json", None, "cut short"),
    "foreign": ("result.json", b'{"accuracy": 0.9, "checks": "all good"}', "'checks'"),
    "corrupt-config": ("config.json", b'{"preset": "qu', "not valid JSON"),
}


def corrupt_runs(finished_runs: Path, out: Path, kind: str) -> Path:
    """A copy of the finished runs plus a newer run folder holding one bad file (and stray
    files that are not runs at all); returns the bad file."""
    shutil.copytree(finished_runs, out)
    (good,) = (out / "mle-least-squares").iterdir()
    bad_run = out / "mle-least-squares" / "99991231-235959-000000"
    shutil.copytree(good, bad_run)
    name, data, _ = CORRUPT[kind]
    if data is None:  # cut short by a kill
        data = (good / name).read_bytes()[:200]
    (bad_run / name).write_bytes(data)
    (out / "notes.txt").write_text("not a run")
    (out / "mle-least-squares" / "last-error.txt").write_text("Traceback ...")
    (out / "index.html").write_text("<html>an older report</html>")
    return bad_run / name


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_list_and_report_name_a_bad_file_and_go_on(finished_runs, tmp_path, kind):
    out = tmp_path / "runs"
    bad = corrupt_runs(finished_runs, out, kind)
    reason = CORRUPT[kind][2]
    for command in (["list"], ["report"]):
        result = runner.invoke(app, command + ["--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        (warning,) = [line for line in result.stderr.splitlines() if str(out) in line]
        assert str(bad) in warning and reason in warning
        if command == ["list"]:
            row = next(line for line in result.stdout.splitlines() if "mle-least-squares" in line)
            assert "not run" not in row
    parser = Images()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    assert parser.articles == ["mle-least-squares"]
    # the newest readable run is shown: the one with the bad config.json is still readable
    (source,) = parser.sources
    assert (source.split("/")[1] == bad.parent.name) == (kind == "corrupt-config")


def test_list_and_report_fail_when_nothing_can_be_read(tmp_path):
    for i, data in enumerate([b"\xff\xfe", b"{}", b"[]", b'{"outcome": "reprod']):
        folder = tmp_path / "mle-least-squares" / f"2025010{i}-000000-000000"
        folder.mkdir(parents=True)
        (folder / "result.json").write_bytes(data)
    for command in (["list"], ["report"]):
        result = runner.invoke(app, command + ["--out", str(tmp_path)])
        assert result.exit_code == 1, result.output
        assert "nothing under" in result.stderr and "Traceback" not in result.output
        assert result.stderr.count("result.json") == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (["list"], ["report"]):  # no runs yet is not an error
        assert runner.invoke(app, command + ["--out", str(empty)]).exit_code == 0


def test_an_experiment_module_that_fails_to_import_is_named_not_fatal(tmp_path, monkeypatch):
    from deepnotes.report import page

    real = page.experiment_info

    def broken(name):
        if name == "mle-least-squares":
            return page.ExperimentInfo(), page.Problem(
                Path("mle_least_squares.py"), "cannot be loaded (SyntaxError)", kind="module")
        return real(name)

    monkeypatch.setattr(page, "experiment_info", broken)
    result = runner.invoke(app, ["list", "--out", str(tmp_path)])  # no runs at all
    assert result.exit_code == 0, result.output
    assert "mle_least_squares.py: cannot be loaded (SyntaxError)" in result.stderr
    assert "  mle-least-squares  " in result.stdout


def test_interrupted_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
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
    """The error stays one line whatever the terminal width and the path length: run in a
    fresh process with a 150-character TMPDIR and a 40-column terminal."""
    long_tmp = tmp_path / ("t" * max(1, 150 - len(str(tmp_path)) - 1))
    long_tmp.mkdir()
    assert len(str(long_tmp)) >= 150
    blocker = long_tmp / "a-file"
    blocker.write_text("")
    out = blocker / "runs"
    env = {**os.environ, "COLUMNS": "40", "TMPDIR": str(long_tmp), "TERM": "dumb"}
    result = subprocess.run(
        [sys.executable, "-m", "deepnotes.cli", "run", "mle-least-squares", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode != 0
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: --out ") and f"{out}: not writable" in line
    assert "Traceback" not in result.stderr


def test_set_overrides_a_config_field(tmp_path):
    result = runner.invoke(app, ["run", "mle-least-squares", "--device", "cpu", "--set",
                                 "steps=50", "--set", "noise=0.2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "mle-least-squares").iterdir()
    text = (folder / "config.json").read_text()
    assert '"steps": 50' in text and '"noise": 0.2' in text


def test_the_interpretability_section_links_the_taxonomy_page(finished_runs, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(finished_runs, out)
    (folder,) = (out / "mle-least-squares").iterdir()
    moved = out / "lime-tabular" / folder.name
    moved.parent.mkdir()
    shutil.copytree(folder, moved)
    result = json.loads((moved / "result.json").read_text())
    result.update(experiment="lime-tabular", section=6)
    (moved / "result.json").write_text(json.dumps(result))
    assert runner.invoke(app, ["report", "--out", str(out)]).exit_code == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    section = page[page.index('id="section-6"'):]
    link = re.search(r'<p class="docs">notes: <a href="([^"]+)">docs/interpretability.md</a>',
                     section)
    assert link, "section 6 links docs/interpretability.md"
    assert (out / link.group(1)).resolve() == (
        Path(__file__).parents[1] / "docs" / "interpretability.md").resolve()
    assert 'class="docs"' not in page[:page.index('id="section-6"')]  # only where there are docs
