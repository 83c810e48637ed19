"""HTML report of runs: ``write_report(out)`` writes ``out/index.html``.

For each experiment, its latest finished run: the claim, the verdict and its criterion, the
metrics table, and the figures (linked by relative path, so the folder can be moved or zipped
as a whole), plus the run folder and wall time.
"""

from __future__ import annotations

import html
import json
import math
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from ..core.files import write_text

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .meta{color:#666;font-size:.9em}
section{border-top:1px solid #ddd;padding:1em 0}
.verdict{display:inline-block;padding:.15em .6em;border-radius:.3em;font-weight:600}
.ok{background:#d9f2dd;color:#14532d} .no{background:#fbdada;color:#7f1d1d}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left}
td.num{text-align:right;font-family:monospace}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}
.criterion{font-size:.9em;color:#333}
"""


def _format(value) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        text = json.dumps(value)
        return text if len(text) < 120 else text[:117] + "…"
    return str(value)


def latest_results(out: Path) -> list[tuple[Path, dict]]:
    """(run folder, result) of the newest finished run of each experiment under ``out``."""
    found = []
    for experiment in sorted(p for p in out.iterdir() if p.is_dir()):
        runs = sorted(p for p in experiment.iterdir() if (p / "result.json").is_file())
        for run_dir in reversed(runs):  # the newest readable result
            try:
                found.append((run_dir, json.loads((run_dir / "result.json").read_text())))
                break
            except (OSError, json.JSONDecodeError):
                continue
    return found


def render(out: Path) -> str:
    results = latest_results(out)
    reproduced = sum(1 for _, r in results if r.get("reproduced"))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>deepnotes report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>deepnotes report</h1>",
        f"<p class='meta'>{reproduced} of {len(results)} claims reproduced · written "
        f"{datetime.now():%Y-%m-%d %H:%M}</p>",
    ]
    for run_dir, result in results:
        name = html.escape(result.get("experiment", run_dir.parent.name))
        ok = bool(result.get("reproduced"))
        config_path = run_dir / "config.json"
        try:
            preset = json.loads(config_path.read_text()).get("preset")
        except (OSError, json.JSONDecodeError):
            preset = None
        parts.append(f"<section id='{name}'><h2>{name}</h2>")
        parts.append(f"<p><em>{html.escape(result.get('claim', ''))}</em></p>")
        parts.append(
            f"<p><span class='verdict {'ok' if ok else 'no'}'>"
            f"{'reproduced' if ok else 'not reproduced'}</span> "
            f"<span class='criterion'>{html.escape(result.get('criterion', ''))}</span></p>"
        )
        relative = run_dir.relative_to(out).as_posix()
        parts.append(
            f"<p class='meta'>run <code>{html.escape(relative)}</code> · preset "
            f"{html.escape(str(preset))} · {result.get('seconds', float('nan')):.1f} s</p>"
        )
        metrics = result.get("metrics", {})
        if metrics:
            parts.append("<table><tr><th>metric</th><th>value</th></tr>")
            for key, value in metrics.items():
                parts.append(f"<tr><td>{html.escape(str(key))}</td>"
                             f"<td class='num'>{html.escape(_format(value))}</td></tr>")
            parts.append("</table>")
        for figure in result.get("figures", []):
            if (run_dir / figure).is_file():
                src = html.escape(quote(f"{relative}/{figure}"))
                parts.append(f"<img src='{src}' alt='{html.escape(figure)}'>")
        parts.append("</section>")
    if not results:
        parts.append("<p>No finished runs yet: <code>deepnotes run all --quick</code>.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(out: str | Path) -> Path:
    """Render the report of the runs under ``out`` into ``out/index.html`` (atomically)."""
    out = Path(out)
    return write_text(out / "index.html", render(out))
