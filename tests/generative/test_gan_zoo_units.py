"""The gan-zoo's units: one (loss, benchmark, seed) per run folder, skipped once done, and the
mean ± standard error summary (against the statistics module)."""

from __future__ import annotations

import dataclasses
import math
import statistics

from deepnotes.experiments import gan_zoo


def test_a_finished_unit_is_not_trained_again(tmp_path):
    config = dataclasses.asdict(dataclasses.replace(
        gan_zoo.Config.quick(), steps=5, width=8, depth=1, train_samples=500, eval_samples=100))
    unit = tmp_path / "units" / "ns-ring-s0"
    first = gan_zoo.run_unit(config, "ns", "ring", 0, str(unit), resume=False)
    assert first["generator_steps"] == 5 and 0 <= first["high_quality"] <= 1
    assert (unit / "checkpoints" / "gan.pt").is_file() and (unit / "samples.pt").is_file()
    stamp = (unit / "result.json").stat().st_mtime_ns
    again = gan_zoo.run_unit(config, "ns", "ring", 0, str(unit), resume=True)
    assert again["seconds"] == first["seconds"] and again["counts"] == first["counts"]
    assert (unit / "result.json").stat().st_mtime_ns == stamp


def test_summary_is_mean_and_standard_error_over_seeds():
    rows = [{"loss": "ns", "benchmark": "ring", "seed": s, "modes": m, "high_quality": hq,
             "reverse_kl": kl, "seconds": 1.0 + s, "generator_steps": 10}
            for s, (m, hq, kl) in enumerate([(8, 0.9, 0.1), (7, 0.95, 0.3), (6, 0.8, 0.2)])]
    row = gan_zoo.summarize(rows)["ring"]["ns"]
    assert math.isclose(row["modes"], 7.0)
    assert math.isclose(row["modes_se"], statistics.stdev([8, 7, 6]) / math.sqrt(3))
    assert math.isclose(row["high_quality_pct"], statistics.mean([90, 95, 80]))
    assert math.isclose(row["reverse_kl_se"], statistics.stdev([0.1, 0.3, 0.2]) / math.sqrt(3))
    assert row["max_seconds"] == 3.0 and row["seeds"] == 3


def test_reverse_kl_is_averaged_where_defined():
    """A run without high-quality samples has no mode histogram (reverse KL NaN): the summary
    averages the seeds where it is defined, says so in the table, and never prints nan."""
    rows = [{"loss": "began", "benchmark": "grid", "seed": s, "modes": m, "high_quality": hq,
             "reverse_kl": kl, "seconds": 1.0, "generator_steps": 10}
            for s, (m, hq, kl) in enumerate([(0, 0.0, math.nan), (3, 0.2, 0.5), (5, 0.4, 0.3)])]
    table = gan_zoo.summarize(rows)
    row = table["grid"]["began"]
    assert math.isclose(row["reverse_kl"], 0.4) and row["reverse_kl_seeds"] == 2
    reference = {"grid": {"modes": 25, "high_quality": 0.99, "reverse_kl": 0.0}}
    assert "2 seeds with HQ samples" in gan_zoo.format_table(table, reference)
    for row in rows:
        row["reverse_kl"] = math.nan
    table = gan_zoo.summarize(rows)
    assert table["grid"]["began"]["reverse_kl"] is None
    text = gan_zoo.format_table(table, reference)
    assert "undefined (no HQ samples)" in text and "nan" not in text
