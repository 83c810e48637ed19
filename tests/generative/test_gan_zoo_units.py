"""The gan-zoo's units: one (loss, benchmark, seed) each, seeded by its key, writing nothing; the
mean ± standard error summary (against the statistics module); and the verdict's checks on
hand-made tables (decided with Student-t intervals, undecided where a preset cannot decide)."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest
from scipy.stats import t as student_t

from deepnotes.experiments import gan_zoo


def test_a_unit_is_seeded_by_its_key_and_writes_nothing(tmp_path, monkeypatch):
    """The same unit gives the same scores whether it runs first or after another one (its
    streams come from its key), writes no file, and only seed 0 returns its samples."""
    monkeypatch.chdir(tmp_path)
    config = dataclasses.replace(gan_zoo.Config.quick(), steps=5, width=8, depth=1,
                                 train_samples=500, eval_samples=100)
    units = {unit["key"]: unit for unit in gan_zoo.units(config)}
    assert list(units) == ["lsgan-ring-s0", "lsgan-ring-s1", "wgan-ring-s0", "wgan-ring-s1"]
    first = gan_zoo.run_unit(config, units["wgan-ring-s0"])
    gan_zoo.run_unit(config, units["lsgan-ring-s1"])
    again = gan_zoo.run_unit(config, units["wgan-ring-s0"])
    assert first["generator_steps"] == 1 and 0 <= first["high_quality"] <= 1  # 5 // k = 5
    assert again["counts"] == first["counts"] and again["modes"] == first["modes"]
    assert set(first["files"]) == {"samples/wgan-ring-s0.pt"}
    assert first["files"]["samples/wgan-ring-s0.pt"] == again["files"]["samples/wgan-ring-s0.pt"]
    assert "files" not in gan_zoo.run_unit(config, units["wgan-ring-s1"])
    assert not list(tmp_path.iterdir())


def test_units_refuse_unknown_losses_and_benchmarks():
    with pytest.raises(ValueError, match="losses: unknown"):
        gan_zoo.units(dataclasses.replace(gan_zoo.Config.quick(), losses=("nope",)))
    with pytest.raises(ValueError, match="benchmarks: unknown"):
        gan_zoo.units(dataclasses.replace(gan_zoo.Config.quick(), benchmarks=("moon",)))


def test_summary_is_mean_and_standard_error_over_seeds():
    rows = [{"loss": "ns", "benchmark": "ring", "seed": s, "modes": m, "high_quality": hq,
             "reverse_kl": kl, "seconds": 1.0 + s, "generator_steps": 10}
            for s, (m, hq, kl) in enumerate([(8, 0.9, 0.1), (7, 0.95, 0.3), (6, 0.8, 0.2)])]
    row = gan_zoo.summary_table(rows)["ring"]["ns"]
    assert math.isclose(row["modes"], 7.0)
    assert math.isclose(row["modes_se"], statistics.stdev([8, 7, 6]) / math.sqrt(3))
    assert math.isclose(row["high_quality_pct"], statistics.mean([90, 95, 80]))
    assert math.isclose(row["reverse_kl_se"], statistics.stdev([0.1, 0.3, 0.2]) / math.sqrt(3))
    assert row["max_seconds"] == 3.0 and row["seeds"] == 3


def test_reverse_kl_is_averaged_where_defined():
    """A run without high-quality samples has no mode histogram (reverse KL None): the summary
    averages the seeds where it is defined, says so in the table, and never prints nan."""
    rows = [{"loss": "began", "benchmark": "grid", "seed": s, "modes": m, "high_quality": hq,
             "reverse_kl": kl, "seconds": 1.0, "generator_steps": 10}
            for s, (m, hq, kl) in enumerate([(0, 0.0, None), (3, 0.2, 0.5), (5, 0.4, 0.3)])]
    table = gan_zoo.summary_table(rows)
    row = table["grid"]["began"]
    assert math.isclose(row["reverse_kl"], 0.4) and row["reverse_kl_seeds"] == 2
    reference = {"grid": {"modes": 25, "high_quality": 0.99, "reverse_kl": 0.0}}
    assert "2 seeds with HQ samples" in gan_zoo.format_table(table, reference)
    for row in rows:
        row["reverse_kl"] = None
    table = gan_zoo.summary_table(rows)
    assert table["grid"]["began"]["reverse_kl"] is None
    text = gan_zoo.format_table(table, reference)
    assert "undefined (no HQ samples)" in text and "nan" not in text


def test_one_seed_has_no_standard_error():
    rows = [{"loss": "ns", "benchmark": "ring", "seed": 0, "modes": 8, "high_quality": 0.9,
             "reverse_kl": 0.1, "seconds": 1.0, "generator_steps": 10}]
    row = gan_zoo.summary_table(rows)["ring"]["ns"]
    assert row["modes_se"] is None and row["high_quality_pct_se"] is None


def _row(modes, modes_se, hq, hq_se, seeds=3):
    return {"modes": modes, "modes_se": modes_se, "high_quality_pct": hq,
            "high_quality_pct_se": hq_se, "seeds": seeds}


FULL = gan_zoo.Config()  # 20,000 discriminator steps: failures count
SHORT = dataclasses.replace(gan_zoo.Config.quick(), seeds=3)  # fewer steps than the claim's


def test_losses_differ_passes_on_a_clear_gap_in_high_quality():
    rows = {"mm": _row(25, 0.0, 94.0, 0.5), "lsgan": _row(25, 0.0, 93.0, 0.5),
            "wgan": _row(24.7, 0.3, 40.0, 3.0)}
    check = gan_zoo.losses_differ_check("grid", rows, FULL)
    assert check.outcome == "passed"
    assert check.value["high_quality_pct_best_worst"] == ["mm", "wgan"]
    assert check.value["high_quality_pct_gap"] == pytest.approx(54.0)
    assert check.value["high_quality_pct_gap_se"] == pytest.approx(math.hypot(0.5, 3.0))


def test_losses_differ_fails_when_both_gaps_are_significantly_small():
    rows = {"mm": _row(8.0, 0.0, 97.0, 0.2), "ns": _row(8.0, 0.0, 96.0, 0.3)}
    check = gan_zoo.losses_differ_check("ring", rows, FULL)
    assert check.outcome == "failed"
    # the same table from a short run is undecided: its shortfall is no evidence
    assert gan_zoo.losses_differ_check("ring", rows, SHORT).outcome == "undecided"


def test_losses_differ_uses_bonferroni_t_over_the_pairs():
    """Gap 11.7 points ± 0.5: with 3 losses (3 pairs) and 3 seeds each the bar is
    10 + t(1 − 0.025/3, df 4)·0.5 ≈ 11.98 > 11.7: undecided; with 2 losses
    (10 + t(0.975, 4)·0.5 ≈ 11.39) passed. A plain 1.96 (10.98) would pass both."""
    se = 0.5 / math.sqrt(2)
    two = {"a": _row(8, 0.0, 90.0, se), "b": _row(8, 0.0, 78.3, se)}
    three = {**two, "c": _row(8, 0.0, 85.0, se)}
    bar_three = 10 + student_t.ppf(1 - 0.025 / 3, 4) * 0.5
    bar_two = 10 + student_t.ppf(0.975, 4) * 0.5
    assert bar_three > 11.7 > bar_two
    assert gan_zoo.losses_differ_check("ring", two, FULL).outcome == "passed"
    assert gan_zoo.losses_differ_check("ring", three, FULL).outcome == "undecided"


def test_losses_differ_is_undecided_without_standard_errors_or_a_second_loss():
    one_seed = {"a": _row(8, None, 90.0, None, seeds=1), "b": _row(2, None, 5.0, None, seeds=1)}
    assert gan_zoo.losses_differ_check("ring", one_seed, FULL).outcome == "undecided"
    single = {"a": _row(8, 0.0, 90.0, 1.0)}
    assert gan_zoo.losses_differ_check("ring", single, FULL).outcome == "undecided"


def test_best_loss_is_judged_against_pacgan_with_t_intervals():
    goal_modes, goal_hq = gan_zoo.GOAL["grid"]
    rows = {"mm": _row(25.0, 0.0, 94.3, 0.3), "ns": _row(24.3, 0.3, 96.0, 0.5),
            "wgan": _row(20.0, 1.0, 50.0, 5.0)}
    modes, hq = gan_zoo.best_loss_checks("grid", rows, FULL)
    # the best loss reaches the GOAL modes first, then has the highest HQ: mm, not ns
    assert "(mm)" in modes.description and modes.value == 25.0 and modes.outcome == "passed"
    assert hq.value == pytest.approx(94.3) and hq.threshold == goal_hq and hq.outcome == "passed"
    # 91 ± 0.5 with t(0.975, 2) = 4.30: [88.8, 93.2] straddles 90
    rows["mm"] = _row(25.0, 0.0, 91.0, 0.5)
    assert gan_zoo.best_loss_checks("grid", rows, FULL)[1].outcome == "undecided"
    rows["mm"] = _row(25.0, 0.0, 80.0, 1.0)
    assert gan_zoo.best_loss_checks("grid", rows, FULL)[1].outcome == "failed"
    assert gan_zoo.best_loss_checks("grid", rows, SHORT)[1].outcome == "undecided"
    assert goal_modes == 24.5


def test_published_rows_put_our_best_beside_each_paper_row():
    table = {"ring": {"mm": _row(8.0, 0.0, 98.0, 0.2), "wgan": _row(6.0, 1.0, 40.0, 5.0)}}
    rows = gan_zoo.published_rows(table)
    assert len(rows) == 2 * len(gan_zoo.PUBLISHED["ring"])
    pacgan = [r for r in rows if "PacGAN2" in r["quantity"]]
    assert [r["published"] for r in pacgan] == [7.9, 95.6]
    assert [r["ours"] for r in pacgan] == [8.0, 98.0]
    assert all({"quantity", "published", "ours", "source"} <= set(r) for r in rows)
