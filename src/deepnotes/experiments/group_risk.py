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

from ..engine import make_generator
from ..supervised import LogisticRegression, group_risk, inverse_frequency_weights
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("Risk minimization is biased toward the training data: when a group is "
         "under-represented, performance on that group may be worse; reweighting groups by "
         "inverse frequency narrows the gap.")


@dataclass(frozen=True)
class Config:
    n_train: int = 4000
    minority_fraction: float = 0.05
    n_test_per_group: int = 5000
    label_flip: float = 0.05
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(n_train=2000, n_test_per_group=2000)

    @classmethod
    def full(cls) -> Config:
        return cls()


def sample(n_majority: int, n_minority: int, flip: float, generator: torch.Generator):
    """(X, y, group) with group 0 = majority (y = 1[x₁ > 0]) and 1 = minority (y = 1[x₂ > 0])."""
    groups = torch.cat([torch.zeros(n_majority, dtype=torch.long),
                        torch.ones(n_minority, dtype=torch.long)])
    X = torch.randn(len(groups), 2, generator=generator, dtype=torch.float64)
    y = torch.where(groups == 0, X[:, 0] > 0, X[:, 1] > 0).long()
    flipped = torch.rand(len(groups), generator=generator) < flip
    y = torch.where(flipped, 1 - y, y)
    return X.numpy(), y.numpy(), groups.numpy()


def run(config: Config, run) -> Result:
    if not 0 < config.minority_fraction < 0.5:
        raise ValueError(f"minority_fraction must be in (0, 0.5), got {config.minority_fraction}")
    generator = make_generator(config.seed)
    n_minority = round(config.minority_fraction * config.n_train)
    X, y, groups = sample(config.n_train - n_minority, n_minority, config.label_flip, generator)
    X_test, y_test, groups_test = sample(config.n_test_per_group, config.n_test_per_group,
                                         config.label_flip, generator)
    fits = {
        "ERM": LogisticRegression(device=config.device).fit(X, y),
        "reweighted": LogisticRegression(device=config.device).fit(
            X, y, sample_weight=inverse_frequency_weights(groups)),
    }
    metrics: dict = {"n_minority_train": n_minority}
    tables = {}
    for name, model in fits.items():
        zero_one = group_risk(model, X_test, y_test, groups_test, "0-1")
        cross_entropy = group_risk(model, X_test, y_test, groups_test, "cross-entropy")
        tables[name] = zero_one
        key = name.lower()
        metrics.update({
            f"{key}_majority_error": zero_one.risks[0],
            f"{key}_minority_error": zero_one.risks[1],
            f"{key}_gap": zero_one.risks[1] - zero_one.risks[0],
            f"{key}_majority_cross_entropy": cross_entropy.risks[0],
            f"{key}_minority_cross_entropy": cross_entropy.risks[1],
            f"{key}_coef": np.r_[model.coef_[0], model.intercept_].tolist(),
        })
    gap_erm, gap_rw = metrics["erm_gap"], metrics["reweighted_gap"]
    verdict = Verdict.all_of(
        (gap_erm > 0.1, f"ERM: minority test error {metrics['erm_minority_error']:.3f} exceeds "
                        f"the majority's {metrics['erm_majority_error']:.3f} by {gap_erm:.3f} "
                        "(> 0.1)"),
        (abs(gap_rw) < 0.5 * gap_erm,
         f"inverse-frequency reweighting shrinks the gap to {gap_rw:.3f} (|gap| < half of "
         f"{gap_erm:.3f})"),
    )

    fig, ax = new_figure(width=5.5, height=3.8)
    positions = np.arange(2)
    for offset, (name, table) in zip((-0.18, 0.18), tables.items(), strict=True):
        ax.bar(positions + offset, table.risks, width=0.36, label=name)
    ax.set_xticks(positions, [f"majority ({100 - 100 * config.minority_fraction:.0f}% of train)",
                              f"minority ({100 * config.minority_fraction:.0f}% of train)"])
    ax.axhline(config.label_flip, color="gray", ls=":", label="label-noise floor")
    ax.set(ylabel="test 0-1 risk", title="per-group risk of logistic regression")
    ax.legend(fontsize=8)
    return Result(metrics, verdict, [save_figure(fig, run, "group_risk")])
