"""Empirical risk minimization is biased toward the majority when a group is under-represented.

A synthetic population with two groups and x ~ N(0, I₂) in both: the majority (95% of the
training data) is labelled y = 1[x₁ > 0], the minority (5%) by a different feature–label
relation, y = 1[x₂ > 0]; 5% of labels in each group are flipped. Logistic regression by ERM
(``supervised.LogisticRegression``) fits the majority's boundary, so on balanced test sets the
minority's risk (0-1 and cross-entropy, ``supervised.group_risk``) is far higher. Reweighting
the training loss by inverse group frequency (w_i = n / (G n_{g(i)}),
``supervised.inverse_frequency_weights``) makes both groups count equally and shrinks the gap,
at some cost for the majority.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..supervised import LogisticRegression, group_risk, inverse_frequency_weights
from .base import Check, ExperimentConfig, Result, Verdict, mean_and_se, new_figure, save_figure

CLAIM = ("Risk minimization is biased toward the training data: when a group is "
         "under-represented, performance on that group may be worse; reweighting groups by "
         "inverse frequency narrows the gap.")
SECTION = 1
IMPLEMENTS = ("deepnotes.supervised.risk", "deepnotes.supervised.logistic")
FORMULA = ("R_g(f) = (1/n_g) Σ_{i: gᵢ = g} 1[f(xᵢ) ≠ yᵢ];  gap = R_minority − R_majority;  "
           "ERM: min Σᵢ ℓ(f(xᵢ), yᵢ);  reweighted: min Σᵢ wᵢ ℓ(f(xᵢ), yᵢ), "
           "wᵢ = n / (G n_{g(i)})")

#: The claim's direction: "performance on that group may be worse" — the minority's test error
#: exceeds the majority's (a gap above 0), decided over the repeated training sets.
GAP_THRESHOLD = 0.0
#: The claim's direction: reweighting "narrows the gap" — the paired reduction
#: gap(ERM) − gap(reweighted) on the same training and test sets is above 0.
NARROWING_THRESHOLD = 0.0


@dataclass(frozen=True)
class Config(ExperimentConfig):
    n_train: int = 4000
    minority_fraction: float = 0.05
    n_test_per_group: int = 5000
    label_flip: float = 0.05
    repeats: int = 30

    @classmethod
    def quick(cls) -> Config:
        return cls(n_train=2000, n_test_per_group=2000, repeats=10)


def sample(n_majority: int, n_minority: int, flip: float, *, rng: torch.Generator):
    """(X, y, group) with group 0 = majority (y = 1[x₁ > 0]) and 1 = minority (y = 1[x₂ > 0]),
    x ~ N(0, I₂) in both, each label flipped with probability ``flip``."""
    groups = torch.cat([torch.zeros(n_majority, dtype=torch.long),
                        torch.ones(n_minority, dtype=torch.long)])
    X = torch.randn(len(groups), 2, generator=rng, dtype=torch.float64)
    y = torch.where(groups == 0, X[:, 0] > 0, X[:, 1] > 0).long()
    flipped = torch.rand(len(groups), generator=rng) < flip
    y = torch.where(flipped, 1 - y, y)
    return X.numpy(), y.numpy(), groups.numpy()


def run(config: Config, run) -> Result:
    if not 0 < config.minority_fraction < 0.5:
        raise ValueError(f"minority_fraction must be in (0, 0.5), got {config.minority_fraction}")
    if config.repeats < 2:
        raise ValueError(f"repeats must be >= 2 (standard errors), got {config.repeats}")
    streams = config.streams()
    train_rng, test_rng = streams.generator("train"), streams.generator("test")
    n_minority = round(config.minority_fraction * config.n_train)
    methods = ("erm", "reweighted")
    errors = {m: np.zeros((config.repeats, 2)) for m in methods}  # (repeat, group)
    cross_entropy = {m: np.zeros((config.repeats, 2)) for m in methods}
    for r in range(config.repeats):
        X, y, groups = sample(config.n_train - n_minority, n_minority, config.label_flip,
                              rng=train_rng)
        X_test, y_test, groups_test = sample(config.n_test_per_group, config.n_test_per_group,
                                             config.label_flip, rng=test_rng)
        fits = {
            "erm": LogisticRegression(device=config.device).fit(X, y),
            "reweighted": LogisticRegression(device=config.device).fit(
                X, y, sample_weight=inverse_frequency_weights(groups)),
        }
        for name, model in fits.items():
            errors[name][r] = group_risk(model, X_test, y_test, groups_test, "0-1").risks
            cross_entropy[name][r] = group_risk(model, X_test, y_test, groups_test,
                                                "cross-entropy").risks
        run.log({"repeat": r, **{f"{m}_gap": float(errors[m][r, 1] - errors[m][r, 0])
                                 for m in methods}})

    gaps = {m: errors[m][:, 1] - errors[m][:, 0] for m in methods}
    gap_erm, gap_erm_se = mean_and_se(gaps["erm"])
    narrowing, narrowing_se = mean_and_se(gaps["erm"] - gaps["reweighted"])
    metrics: dict = {"n_minority_train": n_minority, "repeats": config.repeats}
    for m in methods:
        for g, group in enumerate(("majority", "minority")):
            mean, se = mean_and_se(errors[m][:, g])
            metrics[f"{m}_{group}_error"], metrics[f"{m}_{group}_error_stderr"] = mean, se
            metrics[f"{m}_{group}_cross_entropy"] = float(cross_entropy[m][:, g].mean())
        metrics[f"{m}_gap"], metrics[f"{m}_gap_stderr"] = mean_and_se(gaps[m])
    metrics["gap_reduction"], metrics["gap_reduction_stderr"] = narrowing, narrowing_se
    verdict = Verdict([
        Check.compare(f"ERM is biased toward the majority: minority test error "
                      f"{metrics['erm_minority_error']:.3f} − majority "
                      f"{metrics['erm_majority_error']:.3f} (mean gap over "
                      f"{config.repeats} training sets)", gap_erm, ">", GAP_THRESHOLD,
                      se=gap_erm_se),
        Check.compare(f"inverse-frequency reweighting narrows the gap (from {gap_erm:.3f} to "
                      f"{metrics['reweighted_gap']:.3f}): paired reduction", narrowing, ">",
                      NARROWING_THRESHOLD, se=narrowing_se),
    ])

    fig, axes = new_figure(width=5.5, height=3.8)
    ax = axes[0]
    positions = np.arange(2)
    for offset, name in zip((-0.18, 0.18), methods, strict=True):
        means = [metrics[f"{name}_{g}_error"] for g in ("majority", "minority")]
        ses = [metrics[f"{name}_{g}_error_stderr"] for g in ("majority", "minority")]
        ax.bar(positions + offset, means, yerr=[2 * s for s in ses], width=0.36,
               label="ERM" if name == "erm" else name)
    ax.set_xticks(positions, [f"majority ({100 - 100 * config.minority_fraction:.0f}% of train)",
                              f"minority ({100 * config.minority_fraction:.0f}% of train)"])
    ax.axhline(config.label_flip, color="gray", ls=":", label="label-noise floor")
    ax.set(ylabel="test 0-1 risk (±2 SE)",
           title=f"per-group risk of logistic regression ({config.repeats} training sets)")
    ax.legend(fontsize=8)
    return Result(metrics, verdict, [save_figure(fig, run, "group_risk")])
