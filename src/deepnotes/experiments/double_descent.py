"""Double descent: test error peaks where the number of parameters reaches the number of
training samples and falls again in the over-parameterized regime.

1. Random features (both presets): minimum-norm least squares (Φ⁺y) on N random ReLU features
   of x ∈ R⁵, y = sin(2x₁) + ½x₂² − ½ + ε, n training samples, N swept from n/10 to 10n and
   averaged over feature draws (``theory.random_features_curve``).
2. The ridgeless linear model (both presets): isotropic Gaussian design, ‖a‖ = r, noise σ,
   excess risk of min-norm least squares measured against Hastie et al.'s formula
   σ²γ/(1 − γ) (γ < 1), r²(1 − 1/γ) + σ²/(γ − 1) (γ > 1), γ = d/n
   (``theory.ridgeless_simulation``).
3. MLP width sweep (full preset): MNIST-1D as in the MNIST-1D repository's deep-double-descent
   notebook — 4,000 training / 12,000 test samples, 15% of training labels replaced by random
   ones, MLP 40 → w → w → 10, SGD with momentum 0.9, batch 100 — all widths trained at once
   (``theory.mlp_width_sweep``: zero-padded replicas in one vmapped module). The notebook trains
   500 epochs at lr 0.01 (≈ 12 min per sweep on its machine); on a 2-core CPU the full preset
   trains 60 epochs at lr 0.05 (lr × epochs = 3 against its 5, with 8× fewer steps) on the
   notebook's 19 widths, and is compared with the notebook's numbers (peak ≈ 54–56% test error
   at width 47, 45.9% at width 300). The quick preset does not train it: its checks are
   reported undecided ("full preset only"), never judged on a smaller sweep.

The random-features test error at N = n is heavy-tailed (Φ is square and its smallest singular
value can be arbitrarily close to 0: the mean over feature draws is dominated by one draw, and
its expectation may be infinite), so those checks are paired sign tests over feature draws
(draw t of every N is trial t), and the figure shows medians. The ridgeless and MLP checks
compare estimates by their standard errors (over designs, or over test examples), against the
direction the claim states; where a peak or a minimum is picked among several widths, the
interval is widened by a Bonferroni correction over the candidates.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch

from .. import data
from ..theory import (
    add_label_noise,
    mlp_width_sweep,
    random_features_curve,
    ridgeless_risk,
    ridgeless_simulation,
    width_buckets,
)
from .base import (
    Z_95,
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    new_figure,
    save_figure,
    unit_run,
)

CLAIM = ("Test error can decrease again as model complexity keeps increasing past the point where "
         "the number of parameters equals the number of data points (double descent); the "
         "critically parameterized model generalizes worst.")
SECTION = 1
IMPLEMENTS = ("deepnotes.theory.double_descent",)
FORMULA = ("â = Φ⁺y (minimum-norm least squares on N random features, n samples): test error "
           "peaks at N = n and falls for N > n;  ridgeless excess risk (γ = d/n): σ²γ/(1 − γ) "
           "for γ < 1, r²(1 − 1/γ) + σ²/(γ − 1) for γ > 1")

#: "Critically parameterize is bad for generalization" (course notes): in a significant
#: majority of feature draws (one-sided sign test, level 5%), the test MSE at N = n is the
#: largest of all N outside [0.9 n, 1.1 n].
PEAK_WINDOW = 0.1
#: "Test error can decrease as model complexity continues increasing" (course notes): the test
#: error at the largest model is below the error at the peak (random features: in a significant
#: majority of feature draws; MLP: difference > 0 by its 95% interval).
FALL_THRESHOLD = 0.0
SIGN_TEST_LEVEL = 0.05
#: Hastie et al. (2019) give the n → ∞ limit; at n = 200 the exact finite-n expectations for
#: Gaussian designs, σ²d/(n − d − 1) (γ < 1) and r²(1 − n/d) + σ²n/(d − n − 1) (γ > 1),
#: differ from it by ≤ 1.5% for |γ − 1| ≥ 0.25, so agreement within 5% is what the formula
#: predicts there (closer to γ = 1 the finite-n correction grows and the check excludes it).
RIDGELESS_TOLERANCE = 0.05
RIDGELESS_MIN_DISTANCE = 0.25
#: The widest MLP interpolates the noisy training labels (the notebook: train error reaches 0):
#: training error at most 1% (40 of 4,000 examples).
INTERPOLATION_THRESHOLD = 0.01

#: The MNIST-1D repository's deep double descent notebook (Greydanus, "Scaling down deep
#: learning", 2020): peak test error 55.76% at width 47, 45.92% at width 300.
NOTEBOOK = {"peak_width": 47, "peak_test_error": 0.5576, "width_300_test_error": 0.4592}
NOTEBOOK_SOURCE = "MNIST-1D repository, deep double descent notebook (Greydanus 2020)"
# np.unique(np.geomspace(2, 300, 20, dtype=int)), the notebook's widths
NOTEBOOK_WIDTHS = (2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 47, 61, 80, 104, 135, 177, 230, 300)
MLP_TEST_SAMPLES = 12_000
#: Widths within a factor of 2 train together (zero-padded replicas): one sweep unit each.
MLP_BUCKET_RATIO = 2.0


@dataclass(frozen=True)
class Config(ExperimentConfig):
    n_train: int = 100
    input_dim: int = 5
    noise: float = 0.5
    feature_ratios: tuple[float, ...] = (0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1,
                                         1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
    feature_trials: int = 30
    ridgeless_n: int = 200
    gammas: tuple[float, ...] = (0.2, 0.4, 0.6, 1.5, 2.0, 3.0)
    ridgeless_trials: int = 200
    ridgeless_sigma: float = 1.0
    ridgeless_r: float = 1.0
    mlp_widths: tuple[int, ...] = NOTEBOOK_WIDTHS
    mlp_epochs: int = 60
    mlp_lr: float = 0.05
    label_noise: float = 0.15

    @classmethod
    def quick(cls) -> Config:
        """Random features and the ridgeless model at a fifth of the trials; the MLP sweep
        (minutes of training) is left out and its checks are undecided."""
        return cls(feature_trials=8, ridgeless_trials=40, mlp_widths=())


def _all_of(description: str, checks: list[Check]) -> Check:
    """One check for "every item passes": failed when some item failed (that item's numbers),
    passed when all passed, otherwise undecided; the numbers shown are the failing item's or
    the item closest to failing."""
    failed = [c for c in checks if c.outcome == "failed"]
    undecided = [c for c in checks if c.outcome == "undecided"]
    if failed:
        shown, outcome = failed[0], "failed"
    else:
        shown = max(undecided or checks, key=lambda c: c.value + Z_95 * (c.se or 0.0))
        outcome = "undecided" if undecided else "passed"
    return dataclasses.replace(shown, description=f"{description} ({shown.description})",
                               outcome=outcome)


def target(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2 - 0.5


def _random_features_unit(config: Config) -> dict:
    """The random-features sweep: test and train MSE per feature draw (rows) and size."""
    streams = config.streams()
    rng = streams.generator("rf-data")
    train = data.regression(config.n_train, config.input_dim, config.noise, target, rng=rng)
    test = data.regression(4000, config.input_dim, config.noise, target, rng=rng)
    n = config.n_train
    counts = sorted({max(1, round(r * n)) for r in config.feature_ratios})
    if n not in counts:
        raise ValueError(f"feature_ratios must include 1.0 (N = n, the interpolation threshold), "
                         f"got {config.feature_ratios}")
    # one feature draw per trial and size, each trial from its own stream: trial t pairs the
    # sizes for the sign tests
    curves = [random_features_curve(train.X, train.y, test.X, test.y, counts, kind="relu",
                                    trials=1, seed=streams.seed(f"rf-features/{t}"))
              for t in range(config.feature_trials)]
    return {"counts": counts, "test_mse": [c["test_mse"] for c in curves],
            "train_mse": [c["train_mse"] for c in curves]}


def _random_features_part(config: Config, raw: dict) -> tuple[dict, list[Check]]:
    n, counts = config.n_train, raw["counts"]
    test_mse = np.array(raw["test_mse"])  # (trials, sizes)
    train_mse = np.array(raw["train_mse"])
    critical = counts.index(n)
    largest = int(np.argmax(counts))
    outside = [i for i, c in enumerate(counts) if abs(c - n) > PEAK_WINDOW * n]
    peak_wins = int((test_mse[:, critical] > test_mse[:, outside].max(1)).sum())
    fall_wins = int((test_mse[:, critical] > test_mse[:, largest]).sum())
    median = np.median(test_mse, 0)
    quartiles = np.quantile(test_mse, [0.25, 0.75], 0)
    below = [i for i, c in enumerate(counts) if c < (1 - PEAK_WINDOW) * n]
    metrics = {
        "rf_n_features": counts,
        "rf_test_mse_median": median.tolist(),
        "rf_test_mse_quartiles": quartiles.T.tolist(),
        "rf_test_mse_mean": test_mse.mean(0).tolist(),
        "rf_train_mse_median": np.median(train_mse, 0).tolist(),
        "rf_peak_n_features_by_median": counts[int(np.argmax(median))],
        "rf_draws_with_worst_mse_at_n": peak_wins,
        "rf_draws_with_mse_at_n_above_largest": fall_wins,
        "rf_median_test_mse_at_n": float(median[critical]),
        "rf_median_test_mse_at_largest": float(median[largest]),
        "rf_largest_n_features": counts[largest],
        "rf_min_median_test_mse_below_n": float(median[below].min()) if below else None,
    }
    checks = [
        Check.sign_test(f"random features: the critically parameterized model (N = n = {n}) "
                        f"generalizes worst — its test MSE is the highest of all N outside "
                        f"[{1 - PEAK_WINDOW:g}n, {1 + PEAK_WINDOW:g}n] in most feature draws "
                        f"(median {median[critical]:.3g} vs at most "
                        f"{median[outside].max():.3g})", peak_wins, config.feature_trials,
                        alpha=SIGN_TEST_LEVEL),
        Check.sign_test(f"random features: test MSE falls again past N = n — lower at "
                        f"N = {counts[largest]} than at N = n in most feature draws (median "
                        f"{median[critical]:.3g} → {median[largest]:.3g})", fall_wins,
                        config.feature_trials, alpha=SIGN_TEST_LEVEL),
    ]
    curve = {"n_features": counts, "median": median, "quartiles": quartiles,
             "train_median": np.median(train_mse, 0)}
    return {"curve": curve, **metrics}, checks


def _ridgeless_unit(config: Config) -> dict:
    return ridgeless_simulation(config.ridgeless_n, config.gammas, sigma=config.ridgeless_sigma,
                                r=config.ridgeless_r, trials=config.ridgeless_trials,
                                seed=config.streams().seed("ridgeless"))


def _ridgeless_part(config: Config, sim: dict) -> tuple[dict, list[Check], list[dict]]:
    gammas = np.array(sim["gamma"])
    measured, formula = np.array(sim["excess_risk"]), np.array(sim["formula"])
    stderr = np.array(sim["stderr"])
    rel = np.abs(measured - formula) / formula
    judged = [i for i in range(len(gammas)) if abs(gammas[i] - 1) >= RIDGELESS_MIN_DISTANCE]
    metrics = {"ridgeless_gamma": sim["gamma"], "ridgeless_measured": sim["excess_risk"],
               "ridgeless_stderr": sim["stderr"], "ridgeless_formula": sim["formula"],
               "ridgeless_rel_err": rel.tolist()}
    checks = []
    if judged:
        per_gamma = [Check.at_most(f"γ = {gammas[i]:.2f}: |measured/formula − 1|",
                                   float(rel[i]), RIDGELESS_TOLERANCE,
                                   se=float(stderr[i] / formula[i])) for i in judged]
        checks.append(_all_of(f"ridgeless least squares: the measured excess risk follows Hastie "
                              f"et al.'s formula within {100 * RIDGELESS_TOLERANCE:g}% at every "
                              f"|γ − 1| ≥ {RIDGELESS_MIN_DISTANCE:g}", per_gamma))
    published = [{"quantity": f"ridgeless excess risk, γ = {g:.2f}", "published": float(f),
                  "ours": float(m),
                  "source": "Hastie, Montanari, Rosset & Tibshirani 2019, Thm 1 (n → ∞)"}
                 for g, f, m in zip(gammas, formula, measured, strict=True)]
    return metrics, checks, published


MLP_CHECKS = (
    "MNIST-1D MLP (15% label noise): test error rises from its first minimum to a peak near the "
    "interpolation threshold",
    "MNIST-1D MLP: test error falls again from the peak to the widest model",
    "MNIST-1D MLP: the widest model interpolates the noisy training labels (train error)",
)


def _mlp_unit(config: Config, widths: list[int]) -> dict:
    """One bucket of the MLP width sweep (widths trained together as zero-padded replicas;
    each width's initialization comes from its own stream, so buckets are independent)."""
    streams = config.streams()
    split = dict(num_samples=4 * MLP_TEST_SAMPLES // 3, train_split=0.25)  # 4,000 / 12,000
    X, y = data.mnist1d("train", **split)
    X_test, y_test = data.mnist1d("test", **split)
    noisy = add_label_noise(y, config.label_noise, 10, rng=streams.generator("label-noise"))
    sweep = mlp_width_sweep(X, noisy, X_test, y_test, widths, hidden_layers=2,
                            epochs=config.mlp_epochs, lr=config.mlp_lr, momentum=0.9,
                            batch_size=100, bucket_ratio=MLP_BUCKET_RATIO, device=config.device,
                            seed=streams.seed("mlp"))
    return {**sweep, "test_samples": len(y_test)}


def _merge_sweeps(parts: list[dict]) -> dict:
    """The buckets' sweeps as one, in width order."""
    rows = sorted((w, i, part) for part in parts for i, w in enumerate(part["width"]))
    keys = [k for k in parts[0] if k != "test_samples"]
    return {key: [part[key][i] for _, i, part in rows] for key in keys}


def _mlp_part(config: Config, parts: list[dict]) -> tuple[dict, list[Check], list[dict]]:
    sweep = _merge_sweeps(parts)
    n_test = parts[0]["test_samples"]
    widths = sweep["width"]
    test_err, train_err = np.array(sweep["test_error"]), np.array(sweep["train_error"])
    test_se = np.sqrt(test_err * (1 - test_err) / n_test)  # binomial, per width
    interpolating = [w for w, e in zip(widths, train_err, strict=True)
                     if e <= INTERPOLATION_THRESHOLD]
    # the peak: the largest rise of test error above its running minimum (the end of the
    # first descent), up to the first width that interpolates the training set
    threshold = widths.index(interpolating[0]) if interpolating else len(widths) - 1
    rises = test_err - np.minimum.accumulate(test_err)
    peak = int(np.argmax(rises[: threshold + 1]))
    first_min = int(np.argmin(test_err[: peak + 1]))
    # errors on one shared test set are positively correlated between widths, so
    # √(se₁² + se₂²) is conservative; the peak and the minimum are picked among the widths:
    # Bonferroni over them
    z_selected = NormalDist().inv_cdf(1 - (1 - NormalDist().cdf(Z_95)) / len(widths))
    rise = (float(test_err[peak] - test_err[first_min]),
            math.hypot(test_se[peak], test_se[first_min]))
    fall = (float(test_err[peak] - test_err[-1]), math.hypot(test_se[peak], test_se[-1]))
    metrics = {
        "mlp_widths": widths, "mlp_parameters": sweep["parameters"],
        "mlp_train_error": sweep["train_error"], "mlp_test_error": sweep["test_error"],
        "mlp_first_min_width": widths[first_min],
        "mlp_peak_width": widths[peak], "mlp_peak_test_error": float(test_err[peak]),
        "mlp_largest_width_test_error": float(test_err[-1]),
        "mlp_interpolation_width": interpolating[0] if interpolating else None,
        "notebook": NOTEBOOK,
    }
    checks = [
        Check.compare(f"{MLP_CHECKS[0]}: {100 * test_err[first_min]:.1f}% at width "
                      f"{widths[first_min]} → {100 * test_err[peak]:.1f}% at width "
                      f"{widths[peak]}", rise[0], ">", 0.0, se=rise[1], z=z_selected),
        Check.compare(f"{MLP_CHECKS[1]}: {100 * test_err[peak]:.1f}% at width {widths[peak]} → "
                      f"{100 * test_err[-1]:.1f}% at width {widths[-1]}", fall[0], ">",
                      FALL_THRESHOLD, se=fall[1], z=z_selected),
        Check.at_most(MLP_CHECKS[2], float(train_err[-1]), INTERPOLATION_THRESHOLD),
    ]
    published = [
        {"quantity": "MLP peak test error", "published": NOTEBOOK["peak_test_error"],
         "ours": float(test_err[peak]), "source": NOTEBOOK_SOURCE},
        {"quantity": "MLP width at the peak", "published": NOTEBOOK["peak_width"],
         "ours": widths[peak], "source": NOTEBOOK_SOURCE},
        {"quantity": f"MLP test error at width {widths[-1]} (notebook: 300)",
         "published": NOTEBOOK["width_300_test_error"], "ours": float(test_err[-1]),
         "source": NOTEBOOK_SOURCE},
    ]
    return {"sweep": sweep, **metrics}, checks, published


def units(config: Config) -> list[dict]:
    """Random features, the ridgeless model, and one unit per bucket of MLP widths."""
    found = [{"key": "random-features"}, {"key": "ridgeless"}]
    if config.mlp_widths:
        found += [{"key": f"mlp-widths-{bucket[0]}-{bucket[-1]}", "widths": bucket}
                  for bucket in width_buckets(config.mlp_widths, MLP_BUCKET_RATIO)]
    return found


def run_unit(config: Config, unit: dict) -> dict:
    if unit["key"] == "random-features":
        return _random_features_unit(config)
    if unit["key"] == "ridgeless":
        return _ridgeless_unit(config)
    return _mlp_unit(config, unit["widths"])


def summarize(config: Config, unit_results: list[dict], run) -> Result:
    rf, checks = _random_features_part(config, unit_results[0])
    ridge, ridge_checks, published = _ridgeless_part(config, unit_results[1])
    if config.mlp_widths:
        mlp, mlp_checks, mlp_published = _mlp_part(config, unit_results[2:])
    else:
        mlp, mlp_published = {}, []
        mlp_checks = [Check.undecided(description, note="full preset only (the MLP width "
                                      "sweep is not run in this preset)")
                      for description in MLP_CHECKS]
    curve = rf.pop("curve")
    sweep = mlp.pop("sweep", None)
    metrics = {**rf, **ridge, **mlp}
    verdict = Verdict([*checks, *ridge_checks, *mlp_checks])

    panels = 3 if sweep else 2
    fig, axes = new_figure(ncols=panels, width=4.6, height=3.8)
    n = config.n_train
    ratio = np.array(curve["n_features"]) / n
    ax = axes[0]
    ax.plot(ratio, curve["median"], "o-", label="test MSE (median over draws)")
    ax.fill_between(ratio, curve["quartiles"][0], curve["quartiles"][1], alpha=0.25,
                    label="test MSE, quartiles")
    ax.plot(ratio, np.maximum(curve["train_median"], 1e-4), "s--",
            label="train MSE (median, floored at 1e-4)")
    ax.axvline(1.0, color="gray", ls=":", label="N = n (interpolation threshold)")
    ax.set(xscale="log", yscale="log", xlabel="features / samples  N / n",
           ylabel="mean squared error", title=f"min-norm random ReLU features, n = {n}")
    ax.legend(fontsize=7)
    ax = axes[1]
    grid = np.concatenate([np.linspace(0.05, 0.95, 60), np.linspace(1.05, 3.5, 60)])
    ax.plot(grid, [ridgeless_risk(g, config.ridgeless_sigma**2, config.ridgeless_r**2)
                   for g in grid], "k-", lw=1, label="Hastie et al. formula")
    ax.errorbar(ridge["ridgeless_gamma"], ridge["ridgeless_measured"],
                yerr=2 * np.array(ridge["ridgeless_stderr"]), fmt="o", color="C3",
                label="measured (±2 SE)")
    ax.axvline(1.0, color="gray", ls=":")
    ax.set(yscale="log", ylim=(0.05, 20), xlabel="γ = d / n", ylabel="excess risk",
           title=f"ridgeless least squares, n = {config.ridgeless_n}")
    ax.legend(fontsize=7)
    if sweep:
        ax = axes[2]
        ax.plot(sweep["parameters"], 100 * np.array(sweep["test_error"]), "o-", label="test")
        ax.plot(sweep["parameters"], 100 * np.array(sweep["train_error"]), "s--", label="train")
        if mlp["mlp_interpolation_width"] is not None:
            index = sweep["width"].index(mlp["mlp_interpolation_width"])
            ax.axvline(sweep["parameters"][index], color="gray", ls=":",
                       label="train error reaches 0")
        ax.set(xscale="log", xlabel="parameters", ylabel="error (%)",
               title=f"MNIST-1D MLP, {int(100 * config.label_noise)}% label noise")
        ax.legend(fontsize=7)
    return Result(metrics, verdict, [save_figure(fig, run, "double_descent")],
                  published=published + mlp_published)


run = unit_run(units, run_unit, summarize)
