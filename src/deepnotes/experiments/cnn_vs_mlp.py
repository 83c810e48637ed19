"""A CNN beats an MLP with fewer parameters, because it exploits locality (MNIST-1D).

The course: an MLP flattens its input and ignores which values are neighbours; a CNN uses
locality and translation equivariance, with far fewer parameters. On MNIST-1D (Greydanus
2020; 4,000 train / 1,000 test signals of length 40) we train, with ``engine.fit`` and the
paper's recipe (Adam, lr 1e-2, batch 100, 6,000 steps), ``seeds`` times each (independent
initializations and batch orders):

- logistic regression (a linear layer, 410 parameters),
- the MLP: two hidden layers of 100 ReLU units (15,210 parameters; the paper's MLP also adds a
  skip connection around the second layer),
- the paper's CNN (``nn.models.CNN1d``: 3 conv layers of 25 channels, 5,210 parameters).

The paper reports 32 / 68 / 94 % test accuracy. The spatially shuffled variant applies one
fixed random permutation of the 40 positions to every train and test signal: the MLP's
function class is unchanged by it (permute its first-layer columns), while the CNN loses its
locality prior; the paper reports the CNN falling to 56 % and the MLP unchanged at 68 %.

Differences of test accuracy are paired: both models are scored on the same 1,000 test
signals, and the standard error combines the test-set sampling (per-signal differences,
averaged over seeds) and, with two or more seeds, the seed-to-seed spread of the difference;
the interval uses Student's t with Welch–Satterthwaite degrees of freedom. A preset that trains
fewer than the paper's 6,000 steps can pass the comparisons but not fail them (undecided).

Known gap: our CNN reaches about 92 % at the paper's recipe, not the paper's 94 % (the
published-vs-ours table shows it); the verdict does not test the absolute 94 %, only the
claim's comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..engine import fit, resolve_device
from ..losses import accuracy
from ..nn.models import MLP, CNN1d, build_seeded, count_parameters
from .base import (
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    load_split,
    new_figure,
    save_figure,
    short_run,
    t_quantile,
    unit_run,
)

CLAIM = ("A CNN, which builds in locality, beats an MLP with fewer parameters on MNIST-1D "
         "(paper: logistic 32 %, MLP 68 %, CNN 94 %), and loses that edge when the positions of "
         "the signal are shuffled (paper: CNN 56 %, MLP 68 %).")
SECTION = 2
IMPLEMENTS = ("deepnotes.nn.models",)
FORMULA = ("CNN: s(i) = Σ_m x(i + m) w(m) (cross-correlation, shared weights, local);  "
           "MLP: h = g(W x + b) on the flattened signal;  Δ = acc(CNN) − acc(MLP)")

SOURCE = "Greydanus 2020, MNIST-1D (github.com/greydanus/mnist1d, results table)"
# Test accuracy reported by the paper (the shuffled rows: one fixed permutation of positions).
PAPER_ACCURACY = {"logistic": 0.32, "mlp": 0.68, "cnn": 0.94, "mlp_shuffled": 0.68,
                  "cnn_shuffled": 0.56}
PAPER_STEPS = 6000  # the paper's recipe: Adam, lr 1e-2, batch 100
# "Beats": the paper's gap is 94 − 68 = 26 points; we require at least half of it.
MIN_MARGIN = 0.13
# "Loses that edge" on shuffled positions: the CNN no longer beats the MLP, Δ ≤ 0 (paper:
# 56 − 68 = −12 points).
MAX_SHUFFLED_MARGIN = 0.0
# The MLP is unchanged by shuffling (paper: 68 % both; the same function class, and a
# permutation-invariant initialization, so the same distribution of trained accuracies):
# |change| ≤ 5 points, a fifth of the CNN's 26-point edge in the paper.
MAX_MLP_CHANGE = 0.05
LENGTH, CLASSES = 40, 10
NAMES = {"logistic": "logistic regression", "mlp": "MLP", "cnn": "CNN",
         "mlp_shuffled": "MLP, shuffled positions", "cnn_shuffled": "CNN, shuffled positions"}


@dataclass(frozen=True)
class Config(ExperimentConfig):
    steps: int = PAPER_STEPS
    lr: float = 1e-2
    batch_size: int = 100
    hidden: int = 100
    eval_every: int = 250
    seeds: int = 3  # independent trainings of every model
    shuffled: bool = True  # also train MLP and CNN on position-shuffled signals

    @classmethod
    def quick(cls) -> Config:
        return cls(steps=400, eval_every=100, seeds=1, shuffled=False)


def build_models(hidden: int) -> dict[str, Callable[[], torch.nn.Module]]:
    """Factories of the three models, by name."""
    return {
        "logistic": lambda: MLP([LENGTH, CLASSES]),
        "mlp": lambda: MLP([LENGTH, hidden, hidden, CLASSES]),
        "cnn": lambda: CNN1d(length=LENGTH, num_classes=CLASSES),
    }


def position_permutation(length: int, *, rng: torch.Generator | None = None) -> torch.Tensor:
    """One random permutation of the ``length`` positions, drawn from ``rng``."""
    return torch.randperm(length, generator=rng)


def paired_difference(correct_a: torch.Tensor, correct_b: torch.Tensor
                      ) -> tuple[float, float, float]:
    """Mean accuracy difference acc(a) − acc(b), its standard error and the standard error's
    degrees of freedom, from per-example correctness of shape (seeds, n) scored on the same n
    test examples.

    se² = se_test² + se_seeds²: se_test² = var(d̄_i) / n from the per-example differences
    averaged over seeds (n − 1 degrees of freedom), se_seeds² = var(per-seed difference) / seeds
    (seeds − 1 degrees of freedom; left out with one seed, when only the test-set sampling is
    measured). The degrees of freedom of the sum are Welch–Satterthwaite's.
    """
    d = correct_a.double() - correct_b.double()
    seeds, n = d.shape
    parts = [(float(d.mean(0).var()) / n, n - 1)]
    if seeds > 1:
        parts.append((float(d.mean(1).var()) / seeds, seeds - 1))
    se2 = sum(v for v, _ in parts)
    denominator = sum(v * v / df for v, df in parts)
    df = se2 * se2 / denominator if denominator > 0 else math.inf
    return float(d.mean()), math.sqrt(se2), df


def _z(df: float) -> float:
    """The two-sided 95 % Student-t quantile for ``df`` (floored) degrees of freedom."""
    return t_quantile(int(min(df, 10**6)))


def train_one(name: str, factory, train, test, config: Config, run=None, *, init_seed: int,
              batch_seed: int, device) -> dict:
    """Train one model with the paper's recipe; its test accuracy, parameter count, per-example
    test correctness and test-accuracy curve."""
    model = build_seeded(factory, init_seed).to(device)
    result = fit(
        model, F.cross_entropy, torch.optim.Adam(model.parameters(), lr=config.lr),
        train, steps=config.steps, batch_size=config.batch_size,
        eval_data=test, metrics={"accuracy": accuracy},
        eval_every=config.eval_every, log_every=max(1, config.steps // 20),
        run=run, name=name, device=device, seed=batch_seed,
    )
    with torch.no_grad():
        correct = (model.eval()(test[0]).argmax(-1) == test[1]).cpu()
    curve = [(r["step"], r["eval_accuracy"]) for r in result.history if "eval_accuracy" in r]
    return {"accuracy": float(correct.float().mean()), "parameters": count_parameters(model),
            "correct": correct, "curve": curve}


def summarize(config: Config, unit_results: list[dict], run) -> Result:
    outcomes: dict[str, list[dict]] = {}
    for result in unit_results:  # units() lists seed 0's variants first, then seed 1's ...
        outcomes.setdefault(result["variant"], []).append(result)
    correct = {name: torch.tensor([o["correct"] for o in per_seed], dtype=torch.bool)
               for name, per_seed in outcomes.items()}
    acc = {name: float(c.float().mean()) for name, c in correct.items()}
    params = {name: per_seed[0]["parameters"] for name, per_seed in outcomes.items()
              if not name.endswith("_shuffled")}
    margin, margin_se, margin_df = paired_difference(correct["cnn"], correct["mlp"])

    metrics = {f"{name}_accuracy": value for name, value in acc.items()}
    metrics.update({f"{name}_accuracy_per_seed": [o["accuracy"] for o in per_seed]
                    for name, per_seed in outcomes.items()})
    metrics.update({f"{name}_parameters": value for name, value in params.items()})
    metrics.update(cnn_minus_mlp=margin, cnn_minus_mlp_se=margin_se,
                   cnn_minus_paper=acc["cnn"] - PAPER_ACCURACY["cnn"], steps=config.steps,
                   seeds=config.seeds)

    def trained(check: Check) -> Check:  # a shorter run than the paper's can pass, not fail
        return short_run(check, config.steps, PAPER_STEPS)

    checks = [
        Check.exact(f"the CNN has fewer parameters than the MLP ({params['cnn']:,} vs "
                    f"{params['mlp']:,})", params["cnn"] < params["mlp"], params["cnn"],
                    params["mlp"], "<"),
        trained(Check.at_least(
            f"CNN − MLP test accuracy after {config.steps} steps, {config.seeds} seed(s) (at "
            "least half the paper's 26 points)", margin, MIN_MARGIN, se=margin_se,
            z=_z(margin_df))),
    ]
    shuffled_checks = ("on shuffled positions the CNN no longer beats the MLP: CNN − MLP ≤ 0 "
                       "(paper: 56 − 68 %)",
                       "the MLP is unchanged by shuffling: |acc(shuffled) − acc| ≤ 5 points "
                       "(paper: 68 % both)")
    if config.shuffled:
        lost, lost_se, lost_df = paired_difference(correct["cnn_shuffled"],
                                                   correct["mlp_shuffled"])
        change, change_se, change_df = paired_difference(correct["mlp_shuffled"], correct["mlp"])
        metrics.update(shuffled_cnn_minus_mlp=lost, shuffled_cnn_minus_mlp_se=lost_se,
                       shuffled_mlp_change=change, shuffled_mlp_change_se=change_se,
                       shuffled_cnn_drop=acc["cnn"] - acc["cnn_shuffled"])
        checks += [
            trained(Check.at_most(shuffled_checks[0], lost, MAX_SHUFFLED_MARGIN, se=lost_se,
                                  z=_z(lost_df))),
            trained(Check.at_most(shuffled_checks[1], abs(change), MAX_MLP_CHANGE,
                                  se=change_se, z=_z(change_df))),
        ]
    else:
        checks += [Check.undecided(text, note="full preset only (shuffled=False)")
                   for text in shuffled_checks]

    recipe = "" if config.steps == PAPER_STEPS else f" (ours: {config.steps} steps)"
    published = [{"quantity": f"{NAMES[name]}: test accuracy{recipe}",
                  "published": paper, "ours": acc.get(name), "source": SOURCE}
                 for name, paper in PAPER_ACCURACY.items()]
    return Result(metrics, Verdict(checks), _figures(outcomes, run), published=published)


def _variant_names(config: Config) -> list[str]:
    names = list(build_models(config.hidden))
    return names + (["mlp_shuffled", "cnn_shuffled"] if config.shuffled else [])


def units(config: Config) -> list[dict]:
    """One sweep unit per (seed index, model variant); every variant of a seed sees the same
    batches (``batches/<k>``), a model and its shuffled twin the same initialization."""
    return [{"key": f"{name}-seed{k}", "variant": name, "seed": k}
            for k in range(config.seeds) for name in _variant_names(config)]


def run_unit(config: Config, unit: dict) -> dict:
    """Train one variant for one seed; ``correct`` per test example as a list of bools."""
    device = resolve_device(config.device)
    streams = config.streams()
    x_train, y_train, x_test, y_test = load_split("mnist1d", device)
    name, k = unit["variant"], unit["seed"]
    base = name.removesuffix("_shuffled")
    if name != base:
        order = position_permutation(LENGTH, rng=streams.generator("positions")).to(device)
        x_train, x_test = x_train[:, order], x_test[:, order]
    outcome = train_one(unit["key"], build_models(config.hidden)[base], (x_train, y_train),
                        (x_test, y_test), config, init_seed=streams.seed(f"init/{base}/{k}"),
                        batch_seed=streams.seed(f"batches/{k}"), device=device)
    return {**outcome, "variant": name, "correct": outcome["correct"].tolist()}


def _figures(outcomes: dict[str, list[dict]], run) -> list:
    colors = {"logistic": "tab:gray", "mlp": "tab:blue", "cnn": "tab:red"}
    fig, (ax_params, ax_curves) = new_figure(ncols=2)
    for name, per_seed in outcomes.items():
        base = name.removesuffix("_shuffled")
        shuffled = name != base
        label = name.replace("_", " ")
        accuracies = [100 * o["accuracy"] for o in per_seed]
        ax_params.scatter([per_seed[0]["parameters"]] * len(accuracies), accuracies, s=40,
                          color=colors[base], marker="x" if shuffled else "o", label=label)
        steps, values = zip(*per_seed[0]["curve"], strict=True)
        ax_curves.plot(steps, [100 * v for v in values], color=colors[base],
                       ls="--" if shuffled else "-", label=f"{label} (seed 0)")
        if name in PAPER_ACCURACY:
            ax_params.scatter(per_seed[0]["parameters"], 100 * PAPER_ACCURACY[name], marker="_",
                              s=300, color=colors[base])
    ax_params.set(xscale="log", xlabel="parameters", ylabel="test accuracy (%)", ylim=(0, 100),
                  title="MNIST-1D: accuracy vs parameters (— paper)")
    ax_params.legend(fontsize=8, loc="lower right", ncol=2)
    ax_curves.set(xlabel="step", ylabel="test accuracy (%)", ylim=(0, 100),
                  title="test accuracy during training")
    ax_curves.legend(fontsize=8, loc="lower right", ncol=2)
    return [save_figure(fig, run, "cnn_vs_mlp")]


run = unit_run(units, run_unit, summarize)
