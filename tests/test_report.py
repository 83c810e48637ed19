"""The HTML report (``deepnotes report``): course order, honest verdicts, escaping, tables,
single-file embedding, links into the repository, and a look in a real (headless) browser."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from deepnotes.report import collect, page, write_report

CLAIM_WITH_MARKUP = "CW's perturbations are smaller <script>alert('x')</script> & tighter."

#: Elements without a closing tag in HTML.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


def png(width: int, height: int) -> bytes:
    """A real RGB PNG (a colour gradient) of the given size."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((255 * x // width, 255 * y // height, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                                                0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def check(description, outcome, value=None, threshold=None, comparison=None, se=None, note=""):
    return {"description": description, "outcome": outcome, "value": value,
            "threshold": threshold, "comparison": comparison, "se": se, "note": note}


def write_run(out: Path, experiment: str, stamp: str, result: dict, *, preset="quick",
              figures: dict[str, bytes] | None = None) -> Path:
    folder = out / experiment / stamp
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(
        {"experiment": experiment, "preset": preset, "seed": 0, "device": "cpu", "steps": 600}))
    for name, data in (figures or {}).items():
        (folder / name).write_bytes(data)
    base = {"experiment": experiment, "preset": preset, "seed": 0, "device": "cpu",
            "versions": {"deepnotes": "0.1.0", "torch": "2.13.0", "numpy": "2.0",
                         "python": "3.12"},
            "metrics": {}, "published": [], "figures": sorted(figures or {}),
            "started": f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T10:00:00+00:00", "seconds": 3.25}
    (folder / "result.json").write_text(json.dumps({**base, **result}))
    return folder


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    """Finished runs: mle-least-squares quick (undecided) and full (reproduced); cw-vs-pgd
    quick, not reproduced, with published numbers and a claim holding markup; double-descent
    quick, whose result.json claims "reproduced" though a check is undecided; and a result
    written before per-check verdicts, of an experiment that no longer exists. The modules'
    own attributes are left out (tests below put them back), so the page depends only on
    these files."""
    monkeypatch.setattr(page, "experiment_info", lambda name: (page.ExperimentInfo(), None))
    out = tmp_path / "runs"
    rows = [{"width": w, "train_error": 1 / w, "test_error": 0.5 + (w % 7) / 10}
            for w in range(1, 41)]
    write_run(out, "mle-least-squares", "20250101-100000-000000", {
        "claim": "Maximizing the Gaussian likelihood is least squares.", "section": 1,
        "outcome": "undecided", "reproduced": False,
        "checks": [check("â equals the least-squares solution", "passed", 2e-7, 1e-5, "<="),
                   check("σ̂² equals the mean squared residual", "passed", 3e-7, 1e-5, "<="),
                   check("the estimate is efficient", "undecided", 0.93, 0.95, ">=", se=0.04,
                         note="the 95% interval straddles 0.95")],
        "metrics": {"coef_gap": 2e-7, "per_width": rows, "losses": list(range(100)),
                    "by_method": {"mle": {"mse": 0.25, "time": 1.5},
                                  "lstsq": {"mse": 0.25, "time": 0.01}},
                    "note": None},
    }, figures={"mle_fit.png": png(64, 48)})
    write_run(out, "mle-least-squares", "20250102-100000-000000", {
        "claim": "Maximizing the Gaussian likelihood is least squares.", "section": 1,
        "outcome": "reproduced", "reproduced": True,
        "checks": [check("â equals the least-squares solution", "passed", 1e-9, 1e-5, "<="),
                   check("σ̂² equals the mean squared residual", "passed", 2e-9, 1e-5, "<="),
                   check("the estimate is efficient", "passed", 0.99, 0.95, ">=", se=0.01)],
        "metrics": {"coef_gap": 1e-9}, "seconds": 95.0,
    }, preset="full", figures={"mle_fit.png": png(80, 60)})
    write_run(out, "cw-vs-pgd", "20250103-100000-000000", {
        "claim": CLAIM_WITH_MARKUP, "section": 5, "outcome": "not reproduced",
        "reproduced": False,
        "checks": [check("CW's mean L2 is below PGD's", "failed", 1.2, 1.0, "<", se=0.05),
                   check("per-example wins", "passed", 0.8, 0.5, "sign test",
                         note="16 of 20 pairs (one-sided p = 0.006)")],
        "published": [{"quantity": "CW mean L2 (MNIST)", "published": 1.36, "ours": 1.2,
                       "source": "Carlini & Wagner 2017, Table IV"}],
    }, figures={"l2.png": png(50, 40), "ratio.png": png(40, 30)})
    write_run(out, "double-descent", "20250104-100000-000000", {
        "claim": "Test error can fall again past the interpolation threshold.", "section": 1,
        "outcome": "reproduced", "reproduced": True,  # the checks say otherwise
        "checks": [check("a peak at the interpolation threshold", "passed", 2.0, 1.5, ">="),
                   check("the MLP sweep shows it too", "undecided", note="full preset only")],
    })
    old = out / "old-claim" / "20240101-000000-000000"
    old.mkdir(parents=True)
    (old / "result.json").write_text(json.dumps({
        "experiment": "old-claim", "claim": "An old claim.", "reproduced": True,
        "criterion": "gap ≤ 0.1 (measured 0.05)", "metrics": {"gap": 0.05}, "figures": [],
        "seconds": 1.0}))
    return out


class Page(HTMLParser):
    """Parses the report; records the structure the tests look at and checks that every
    element is closed in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors = [], []
        self.images, self.scripts, self.parts, self.articles, self.tables = [], 0, [], [], []
        self.links, self.badges = [], []
        self.text: list[tuple[tuple[str, ...], str]] = []
        self._badge = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = tuple((attrs.get("class") or "").split())
        if tag == "img":
            self.images.append(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "section" and "part" in classes:
            self.parts.append(attrs["id"])
        if tag == "article":
            self.articles.append(attrs["id"])
        if tag == "table":
            self.tables.append(classes)
        if tag == "a":
            self.links.append(attrs.get("href"))
        if tag == "span" and "badge" in classes:
            self._badge = [classes, ""]
        if tag not in VOID:
            self.stack.append((tag, attrs.get("id")))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag == "span" and self._badge is not None:
            self.badges.append((self.article(), self._badge[1].strip()))
            self._badge = None

    def handle_data(self, data):
        if self._badge is not None:
            self._badge[1] += data
        self.text.append((self.article(), data))

    def article(self):
        return next((id_ for tag, id_ in reversed(self.stack) if tag == "article"), None)

    def text_of(self, article):
        return " ".join(" ".join(d for a, d in self.text if a == article).split())


def parse(html: str) -> Page:
    parser = Page()
    parser.feed(html)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert [tag for tag, _ in parser.stack] == [], "unclosed elements"
    return parser


def test_report_is_valid_html_in_course_order(runs):
    path = write_report(runs)
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    parsed = parse(html)
    assert parsed.parts == ["section-1", "section-5", "section-other"]
    assert parsed.articles == ["double-descent", "mle-least-squares", "cw-vs-pgd", "old-claim"]
    assert ("contents",) in parsed.tables
    for name in parsed.articles:  # the contents table links every experiment
        assert f"#{name}" in parsed.links
    assert "1 · Supervised learning and statistics" in html
    assert "5 · Adversarial examples" in html
    # headline: mle's full run (reproduced), cw (not reproduced), double-descent (undecided),
    # the old result (reproduced)
    header = parsed.text_of(None)
    assert "2 reproduced" in header and "1 not reproduced" in header
    assert "1 undecided" in header


def test_quick_and_full_runs_side_by_side_with_their_numbers(runs):
    parsed = parse(page.render(collect(runs)))
    mle = parsed.text_of("mle-least-squares")
    assert mle.index("full") < mle.index("quick")  # full first, quick beside it
    assert "seed 0 · device cpu · torch 2.13.0 · 95.0 s · 2025-01-02 10:00 UTC" in mle
    assert "3.2 s" in mle or "3.3 s" in mle
    assert "measured 0.93 ± 0.04 · needs ≥ 0.95" in mle
    assert "the 95% interval straddles 0.95" in mle
    badges = [text for article, text in parsed.badges if article == "mle-least-squares"]
    assert badges == ["reproduced", "quick check: consistent so far (2 of 3 checks decided)"]


def test_undecided_runs_never_say_reproduced(runs):
    parsed = parse(page.render(collect(runs)))
    badges = [text for article, text in parsed.badges if article == "double-descent"]
    # its result.json says "reproduced", but one of its checks is undecided
    assert badges == ["quick check: consistent so far (1 of 2 checks decided)"]
    assert "reproduced" not in parsed.text_of("double-descent")
    contents = [text for article, text in parsed.badges if article is None]
    assert "quick check: consistent so far (1 of 2 checks decided)" in contents


def test_claims_and_names_are_escaped(runs):
    html = page.render(collect(runs))
    parsed = parse(html)
    assert parsed.scripts == 0
    assert "<script>" not in html
    assert "&lt;script&gt;alert(" in html
    assert CLAIM_WITH_MARKUP in parsed.text_of("cw-vs-pgd")


def test_published_numbers_and_nested_metrics_are_tables(runs):
    html = page.render(collect(runs))
    parsed = parse(html)
    assert ("data", "published") in parsed.tables
    cw = parsed.text_of("cw-vs-pgd")
    assert "CW mean L2 (MNIST) 1.36 1.2 Carlini & Wagner 2017, Table IV" in cw
    assert "✗ CW's mean L2 is below PGD's measured 1.2 ± 0.05 · needs < 1" in cw
    assert "measured 0.8 · sign test against 0.5 16 of 20 pairs" in cw
    assert "{" not in cw  # never a JSON string
    mle = parsed.text_of("mle-least-squares")
    # 40 rows → the first and last five and a count; 100 numbers → a summary
    assert "width train_error test_error" in mle
    assert "… 30 rows not shown …" in mle and "40 rows; the first and last 5 shown" in mle
    assert "1 1 0.6" in mle and "40 0.025 1" in mle and "6 0.1667" not in mle
    assert "100 values: 0, 1, 2, …, 97, 98, 99 (min 0, max 99)" in mle
    assert "mse time mle 0.25 1.5 lstsq 0.25 0.01" in mle  # a dict of rows
    assert "gap ≤ 0.1 (measured 0.05)" in parsed.text_of("old-claim")


def test_figures_are_relative_links_or_embedded(runs):
    parsed = parse(page.render(collect(runs)))
    sources = [img["src"] for img in parsed.images]
    assert len(sources) == 4  # mle full + quick, cw's two
    for source in sources:
        assert not source.startswith(("/", "file:", "http")) and (runs / unquote(source)).is_file()
    parsed = parse(write_report(runs, single_file=True).read_text(encoding="utf-8"))
    assert len(parsed.images) == 4
    for img in parsed.images:
        assert img["src"].startswith("data:image/png;base64,"), img["src"][:40]
        assert base64.b64decode(img["src"].split(",", 1)[1]).startswith(b"\x89PNG")


def test_figures_outside_the_run_folder_are_not_read(runs, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png(4, 4))
    folder = write_run(runs, "transfer", "20250105-100000-000000", {
        "outcome": "reproduced", "checks": [check("transfers", "passed", 1, 0, ">=")],
        "figures": ["../../../secret.png", "missing.png"]})
    assert (folder / "../../../secret.png").resolve() == secret
    parsed = parse(page.render(collect(runs), single_file=True))
    assert len(parsed.images) == 4
    assert "not found in the run folder: ../../../secret.png, missing.png" in \
        parsed.text_of("transfer")


def test_links_to_the_implementing_modules_and_their_tests(runs, monkeypatch):
    assert page.source_path("deepnotes.adversarial.cw") == "src/deepnotes/adversarial/cw.py"
    assert page.source_path("deepnotes.adversarial") == "src/deepnotes/adversarial/"
    assert page.tests_of("deepnotes.adversarial.cw") == ["tests/adversarial/"]
    assert page.tests_of("deepnotes.experiments.cw_vs_pgd") == ["tests/test_experiments.py"]
    info = page.ExperimentInfo(section=5, formula="min ‖δ‖₂ + c·f(x + δ)",
                               implements=("deepnotes.adversarial.cw",),
                               module="deepnotes.experiments.cw_vs_pgd")
    monkeypatch.setattr(page, "experiment_info", lambda name: (info, None))
    html = page.render(collect(runs))
    parsed = parse(html)
    assert "min ‖δ‖₂ + c·f(x + δ)" in parsed.text_of("cw-vs-pgd")
    for path in ("src/deepnotes/adversarial/cw.py", "tests/adversarial/",
                 "src/deepnotes/experiments/cw_vs_pgd.py", "tests/test_experiments.py"):
        assert path in parsed.text_of("cw-vs-pgd")
    if page.REPOSITORY is not None:  # a checkout: the links lead to the files
        targets = {unquote(h) for h in parsed.links if h and h.endswith(("cw.py", "adversarial/"))}
        assert targets and all((runs / t).resolve().exists() for t in targets)


def test_the_experiment_modules_own_attributes_are_read():
    info, problem = page.experiment_info("mle-least-squares")
    assert problem is None
    assert info.module == "deepnotes.experiments.mle_least_squares"
    assert info.claim and info.claim.startswith("Maximizing the Gaussian likelihood")
    assert info.section in (None, 1)  # None until the module defines SECTION
    assert page.experiment_info("no-such-experiment") == (page.ExperimentInfo(), None)


def test_experiment_modules_that_fail_to_load_still_render(runs, monkeypatch):
    """A module that fails to import: the recorded section, and a problem naming it."""
    def broken(name):
        return page.ExperimentInfo(), page.Problem(Path(f"{name}.py"), "cannot be loaded",
                                                   kind="module")

    monkeypatch.setattr(page, "experiment_info", broken)
    collection = collect(runs)
    parsed = parse(page.render(collection))
    assert len(parsed.articles) == 4
    assert {p.path.name for p in collection.problems} == {
        "cw-vs-pgd.py", "double-descent.py", "mle-least-squares.py", "old-claim.py"}


# ---------------------------------------------------------------------------------------------
# in a real browser

BROWSER = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                if (found := shutil.which(name))), None)

#: Injected into a copy of the page (never into the report): records load and script errors
#: and console.error calls, then writes what it found into the DOM for --dump-dom.
PROBE = """<script>
window.__problems = [];
window.addEventListener("error", function (event) {
  var t = event.target;
  window.__problems.push(t && t.tagName ? "failed to load " + t.tagName + " " +
                         String(t.src || t.href).slice(0, 80) : "error: " + event.message);
}, true);
var consoleError = console.error;
console.error = function () {
  window.__problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
  consoleError.apply(console, arguments);
};
window.addEventListener("load", function () {
  function all(selector, f) {
    return Array.prototype.map.call(document.querySelectorAll(selector), f);
  }
  var found = {
    images: all("img", function (i) {
      return {alt: i.alt, complete: i.complete, width: i.naturalWidth};
    }),
    contents: all("table.contents tbody tr", function (r) { return r.textContent; }).length,
    parts: all("section.part", function (s) { return s.id; }),
    articles: all("article.experiment", function (a) { return a.id; }),
    problems: window.__problems
  };
  var pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = JSON.stringify(found);
  document.body.appendChild(pre);
});
</script>"""


def browse(*arguments: str, profile: Path) -> subprocess.CompletedProcess:
    """Run the headless browser. Chromium puts a Unix socket under $TMPDIR and its profile, and
    a socket path is limited to 107 bytes, so both go to a short folder under /tmp even when
    the tests run with a long TMPDIR (``profile`` is kept for the caller's bookkeeping)."""
    short = Path(tempfile.mkdtemp(prefix="dn-browser-",
                                  dir="/tmp" if os.access("/tmp", os.W_OK) else None))
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", f"--user-data-dir={short / 'profile'}",
               "--enable-logging=stderr", "--v=0", *arguments]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=180,
                              env={**os.environ, "TMPDIR": str(short)})
    finally:
        shutil.rmtree(short, ignore_errors=True)


@pytest.mark.skipif(BROWSER is None, reason="no chromium, chromium-browser or google-chrome on "
                    "PATH to load the report in (Debian: apt-get install chromium)")
@pytest.mark.parametrize("single_file", [False, True], ids=["linked", "single-file"])
def test_report_in_a_headless_browser(runs, tmp_path, single_file):
    index = write_report(runs, single_file=single_file)
    html = index.read_text(encoding="utf-8")
    probe = runs / "probe.html"  # beside index.html, so the relative figure paths hold
    probe.write_text(html.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    dumped = browse("--virtual-time-budget=10000", "--dump-dom", probe.as_uri(),
                    profile=tmp_path / "profile")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    start = dumped.stdout.find('<pre id="probe-result">')
    assert start >= 0, f"the probe did not run: {dumped.stdout[-500:]} {dumped.stderr[-2000:]}"
    text = dumped.stdout[start:].split(">", 1)[1].split("</pre>", 1)[0]
    found = json.loads(text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                       .replace("&amp;", "&"))
    assert found["problems"] == []
    assert found["contents"] == 4
    assert found["parts"] == ["section-1", "section-5", "section-other"]
    assert found["articles"] == ["double-descent", "mle-least-squares", "cw-vs-pgd", "old-claim"]
    assert len(found["images"]) == 4
    for image in found["images"]:
        assert image["complete"] and image["width"] > 0, image
    console = [line for line in dumped.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console

    screenshot = tmp_path / "report.png"
    shot = browse(f"--screenshot={screenshot}", "--window-size=1280,2400", index.as_uri(),
                  profile=tmp_path / "profile")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    keep = os.environ.get("DEEPNOTES_REPORT_SCREENSHOT")
    if keep and not single_file:  # to look at it: DEEPNOTES_REPORT_SCREENSHOT=report.png
        shutil.copyfile(screenshot, keep)
