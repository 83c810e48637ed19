"""LIME on a table: our batched, seeded LIME against the `lime` package.

A torch MLP is trained on scikit-learn's breast-cancer data (30 standardized features). For
the first ``instances`` test rows, ``explain.lime_tabular`` explains the predicted class's
probability in one batched call, with lime's defaults (quartile discretization of the training
data, kernel width 0.75·√30, ``feature_selection="auto"`` with 10 features, i.e. the
"highest_weights" rule, ridge λ = 1); ``lime.lime_tabular.LimeTabularExplainer`` explains the
same rows of the same model with the same kernel width, discretization, feature count and
sample count. Compared: the top-5 features by |weight| (Jaccard index per instance, averaged),
the faithfulness of our ranking (deletion AUC, ``explain.metrics.deletion_curve``: features
set to the training mean, 0 after standardization, in decreasing order of weight, against
random rankings), our reproducibility under one seed, and the seed-to-seed stability of both.

Sample count. Both are Monte Carlo estimates of one surrogate, so their top-5 sets can only
agree as well as each agrees with itself across seeds. Measured here (20 instances, the full
preset's model): at lime's default 5,000 samples, ours vs lime 0.67 ± 0.04 and lime vs lime
(two seeds) 0.64 — the bar is out of reach for lime itself; at 20,000, 0.87 ± 0.04 and 0.85.
The full preset gives both 50,000 samples per explanation; the quick preset's 2,000 cannot
decide the comparison (a failure there is undecided, ``short_run``).

`lime` is a development dependency: without it the comparison is undecided and lime's
stability is reported as None.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer

from ..explain.lime import KERNEL_WIDTH_FACTOR, lime_tabular
from ..explain.metrics import deletion_curve, random_attributions, topk_jaccard
from ..nn.models import MLP
from .base import (
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    mean_and_se,
    new_figure,
    save_figure,
    short_run,
    train_classifier,
)

CLAIM = ("LIME explains one prediction by a linear surrogate fitted to the model on perturbed "
         "samples weighted by their proximity: a batched, seeded implementation picks the "
         "same top features as the `lime` package on the same model and settings, its "
         "ranking is faithful (deleting its top features lowers the prediction faster than a "
         "random order) and it is identical across runs with one seed.")
SECTION = 6
IMPLEMENTS = ("deepnotes.explain.lime", "deepnotes.explain.metrics")
FORMULA = ("ξ(x) = argmin_g Σ_z π_x(z) (f(z) − g(z′))² + Ω(g),  g(z′) = b + aᵀz′,  "
           "π_x(z) = exp(−D(x′, z′)²/σ²) with σ = √2·w (lime's √exp(−D²/w²)), w = 0.75·√d")

#: Issue 15: "for 20 test instances our top-5 features vs lime's ...: mean top-5 Jaccard
#: ≥ 0.8" (two samplers of one distribution can only agree up to sampling noise).
MIN_TOP5_JACCARD = 0.8
#: Issue 15: the top-5 features are compared.
TOP_K = 5
#: lime's default ``num_features`` (with "auto", the highest_weights rule picks 10).
NUM_FEATURES = 10
#: Issue 15: "LIME's deletion AUC beats random attributions" — random − LIME > 0.
MIN_AUC_ADVANTAGE = 0.0
#: Samples per explanation (both implementations) at which the comparison is decided: the
#: Monte Carlo noise of both top-5 sets is then below the bar (see the module docstring).
FULL_SAMPLES = 50_000


@dataclass(frozen=True)
class Config(ExperimentConfig):
    instances: int = 20
    num_samples: int = FULL_SAMPLES
    hidden: int = 64
    train_steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    test_fraction: float = 0.2
    random_rankings: int = 20

    @classmethod
    def quick(cls) -> Config:
        return cls(instances=10, num_samples=2000, train_steps=400)


def _split(config: Config):
    """Standardized (x_train, y_train, x_test, y_test), float32, split by the "data" stream."""
    data = load_breast_cancer()
    X = torch.tensor(data.data, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(X), generator=config.streams().generator("data"))
    n_test = round(config.test_fraction * len(X))
    test, train = order[:n_test], order[n_test:]
    mean, std = X[train].mean(0), X[train].std(0)
    X = (X - mean) / std
    return X[train], y[train], X[test], y[test]


def _lime_reference(model, x_train, x, labels, config: Config, width: float, seed: int):
    """``lime``'s explanations of rows ``x`` (dense weights (m, d)) and the seconds per
    explanation, or (None, None) when lime is not installed."""
    try:
        from lime.lime_tabular import LimeTabularExplainer  # dev dependency, imported lazily
    except ImportError:
        return None, None

    def predict_fn(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(rows).float()).softmax(-1).double().numpy()

    explainer = LimeTabularExplainer(x_train.numpy(), discretize_continuous=True,
                                     discretizer="quartile", kernel_width=width,
                                     feature_selection="auto", random_state=seed)
    weights = torch.zeros(x.shape, dtype=torch.float64)
    start = time.perf_counter()
    for i, (row, label) in enumerate(zip(x.numpy(), labels.tolist(), strict=True)):
        exp = explainer.explain_instance(row, predict_fn, labels=(label,),
                                         num_features=NUM_FEATURES,
                                         num_samples=config.num_samples)
        for feature, weight in exp.local_exp[label]:
            weights[i, feature] = weight
    return weights, (time.perf_counter() - start) / len(x)


def run(config: Config, run) -> Result:
    streams = config.streams()
    x_train, y_train, x_test, y_test = _split(config)
    streams.manual_seed("init")
    model = MLP([x_train.shape[1], config.hidden, 2])
    train_classifier(model, (x_train, y_train), steps=config.train_steps,
                     batch_size=config.batch_size, lr=config.lr, run=run, name="mlp",
                     device=config.device, seed=streams.seed("batches"))
    model = model.cpu().eval()
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(1) == y_test).float().mean())

    def predict(rows: torch.Tensor) -> torch.Tensor:
        return model(rows).softmax(-1)

    x = x_test[:config.instances]
    settings = {"num_samples": config.num_samples, "num_features": NUM_FEATURES,
                "feature_selection": "auto", "discretize": True}
    start = time.perf_counter()
    ours = lime_tabular(predict, x, x_train, rng=streams.generator("lime"), **settings)
    ours_seconds = (time.perf_counter() - start) / len(x)
    again = lime_tabular(predict, x, x_train, rng=streams.generator("lime"), **settings)
    other = lime_tabular(predict, x, x_train, rng=streams.generator("lime-other"), **settings)
    fields = ("weights", "intercept", "local_prediction", "score", "selected", "labels")
    identical = all(torch.equal(getattr(ours, f), getattr(again, f)) for f in fields)
    width = KERNEL_WIDTH_FACTOR * x.shape[1] ** 0.5
    labels = ours.labels

    lime_seed = streams.seed("lime-reference") % 2**32
    theirs, lime_seconds = _lime_reference(model, x_train, x, labels, config, width, lime_seed)
    if theirs is not None:
        theirs_other, _ = _lime_reference(model, x_train, x, labels, config, width,
                                          (lime_seed + 1) % 2**32)
        agreement = topk_jaccard(ours.weights, theirs, TOP_K)
        jaccard, jaccard_se = mean_and_se(agreement)
        lime_stability = float(topk_jaccard(theirs, theirs_other, TOP_K).mean())
        comparison = short_run(Check.at_least(
            f"top-{TOP_K} features by |weight| agree with lime's (mean Jaccard over "
            f"{len(x)} instances)", jaccard, MIN_TOP5_JACCARD, se=jaccard_se),
            config.num_samples, FULL_SAMPLES, "samples per explanation")
    else:
        agreement, jaccard, jaccard_se, lime_stability = None, None, None, None
        comparison = Check.undecided(
            f"top-{TOP_K} features agree with lime's (mean Jaccard ≥ {MIN_TOP5_JACCARD})",
            "the `lime` package is not installed (a development dependency): nothing to "
            "compare with", threshold=MIN_TOP5_JACCARD, comparison=">=")

    # faithfulness: deletion in our ranking vs random rankings, per instance
    attributions = ours.weights.float()
    curve = deletion_curve(model, x, attributions, labels, baseline=0.0)
    rng = streams.generator("random-rankings")
    random_curves = [deletion_curve(model, x, random_attributions(x, rng=rng), labels,
                                    baseline=0.0) for _ in range(config.random_rankings)]
    random_auc = torch.stack([c.auc for c in random_curves]).mean(0)
    advantage, advantage_se = mean_and_se(random_auc - curve.auc)

    metrics = {
        "test_accuracy": accuracy,
        "instances": len(x),
        "mean_top5_jaccard_vs_lime": jaccard,
        "mean_top5_jaccard_vs_lime_se": jaccard_se,
        "lime_top5_jaccard_across_seeds": lime_stability,
        "ours_top5_jaccard_across_seeds": float(topk_jaccard(ours.weights, other.weights,
                                                             TOP_K).mean()),
        "ours_identical_same_seed": identical,
        "deletion_auc_lime": float(curve.auc.mean()),
        "deletion_auc_random": float(random_auc.mean()),
        "deletion_auc_advantage": advantage,
        "mean_surrogate_r2": float(ours.score.mean()),
        "seconds_per_explanation_ours_batched": ours_seconds,
        "seconds_per_explanation_lime": lime_seconds,
    }
    verdict = Verdict([
        comparison,
        Check.compare("deletion AUC of LIME's ranking is below random rankings' (mean "
                      "random − LIME)", advantage, ">", MIN_AUC_ADVANTAGE, se=advantage_se),
        Check.exact("our explanations are identical across two runs with one seed", identical,
                    value=identical),
    ])

    fig, (ax_curve, ax_agree) = new_figure(ncols=2)
    fractions = curve.fractions.numpy()
    ax_curve.plot(fractions, curve.scores.mean(0).numpy(), label="LIME ranking")
    ax_curve.plot(fractions, torch.stack([c.scores for c in random_curves]).mean((0, 1)).numpy(),
                  label="random rankings", linestyle="--")
    ax_curve.set(xlabel="fraction of features deleted", ylabel="p(explained class)",
                 title="deletion curves (mean over instances)")
    ax_curve.legend()
    positions = np.arange(len(x))
    if agreement is not None:
        ax_agree.bar(positions - 0.2, agreement.numpy(), width=0.4, label="ours vs lime")
        ax_agree.bar(positions + 0.2, topk_jaccard(theirs, theirs_other, TOP_K).numpy(),
                     width=0.4, label="lime seed 1 vs seed 2")
        ax_agree.axhline(MIN_TOP5_JACCARD, color="gray", lw=0.8)
        ax_agree.legend()
    ax_agree.set(xlabel="test instance", ylabel=f"top-{TOP_K} Jaccard", ylim=(0, 1.05),
                 title="top-feature agreement")
    return Result(metrics, verdict, [save_figure(fig, run, "lime_tabular")])
