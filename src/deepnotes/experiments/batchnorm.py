"""Batch normalization speeds up the training of a deep network.

The course: batch norm, y = (x − E[x]) / √(Var[x] + ε)·γ + β applied before each activation,
is "used for preventing gradient-vanishing" and "improves the speed, reliability and
performance of optimization". We train the same 10-layer ReLU MLP (9 hidden layers of 100
units) on the digits data set, with and without our ``nn.norm.BatchNorm1d`` before every hidden
activation, with the same optimizer (Adam, lr 1e-3), batch size, initialization and batch
order (one pair of runs per seed, ``seeds`` pairs), and count the steps until the training loss
(mean over a logging window of 10 steps) first falls below ``TARGET_LOSS``. With PyTorch's
default initialization the plain network's activations shrink layer after layer, so its
gradients start tiny; batch norm rescales every layer and the loss falls at once.

The verdict, paired by seed (sign tests):

- with batch norm the network reaches the target loss in fewer steps (a plain run that never
  reaches it within the preset's steps counts as slower when the batch-norm run did; a pair
  where neither did is a tie and is dropped);
- at initialization the first layer's gradient ‖∂L/∂W₁‖ is larger with batch norm (the
  course's "preventing gradient-vanishing").

The speed-up steps(without) / steps(with) per seed and the steps to other loss levels are in
the metrics.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..engine import fit, resolve_device
from ..nn.models import MLP, build_seeded
from ..nn.norm import BatchNorm1d
from .base import (
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    load_split,
    new_figure,
    save_figure,
    unit_run,
)

CLAIM = ("Batch normalization makes a deep network train faster: with the same optimizer, "
         "learning rate, initialization and batches, a 10-layer MLP with batch norm reaches a "
         "target training loss in fewer steps than without it, and its first layer's gradient "
         "at initialization does not vanish.")
SECTION = 2
IMPLEMENTS = ("deepnotes.nn.norm", "deepnotes.nn.models")
FORMULA = ("y = (x − E[x]) / √(Var[x] + ε) · γ + β  (before each hidden activation);  "
           "steps to L_train ≤ target, with vs without")

WINDOW = 10  # steps per logged training-loss value
# The target: a training loss of 0.5, a fifth of the initial log 10 ≈ 2.3 (10 classes); the
# claim's "a target training loss" — any level both networks reach within the full preset.
TARGET_LOSS = 0.5
LEVELS = (1.0, 0.5, 0.2, 0.1)  # reported in the metrics
# Sign tests (paired by seed) decide at the 5% level (one-sided), the base contract's default.
ALPHA = 0.05


@dataclass(frozen=True)
class Config(ExperimentConfig):
    depth: int = 10  # linear layers
    width: int = 100
    steps: int = 500
    lr: float = 1e-3
    batch_size: int = 100
    seeds: int = 10  # pairs of runs (with / without batch norm)

    @classmethod
    def quick(cls) -> Config:
        # 5 pairs: the fewest a one-sided sign test at 5% can decide (5 of 5: p = 1/32)
        return cls(steps=50, seeds=5)


def deep_mlp(config: Config, inputs: int, batch_norm: bool) -> MLP:
    """``depth`` linear layers, ReLU, with our ``BatchNorm1d`` before each hidden activation."""
    return MLP([inputs] + [config.width] * (config.depth - 1) + [10], "relu",
               batch_norm=BatchNorm1d if batch_norm else False)


def steps_to_target(history: list[dict], target: float) -> int | None:
    """First logged step whose window-mean training loss is below ``target`` (None: never)."""
    return next((r["step"] for r in history if "train_loss" in r and r["train_loss"] < target),
                None)


def faster_pairs(with_bn: list[int | None], without: list[int | None]) -> tuple[int, int]:
    """(wins, trials) of "batch norm reaches the target first" over seed pairs: a run that
    never reached it counts as infinitely slow; pairs that tie (equal steps, or neither reached
    it) are dropped."""
    inf = float("inf")
    wins = trials = 0
    for a, b in zip(with_bn, without, strict=True):
        a, b = inf if a is None else a, inf if b is None else b
        if a == b:
            continue
        trials += 1
        wins += a < b
    return wins, trials


def first_layer_gradient_norm(model: MLP, x: torch.Tensor, y: torch.Tensor) -> float:
    """‖∂L/∂W₁‖ of the cross-entropy on (x, y), model in training mode (batch statistics)."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    norm = float(model[1].weight.grad.norm())
    model.zero_grad()
    return norm


def units(config: Config) -> list[dict]:
    """One sweep unit per seed index: the pair of runs (with / without batch norm) it seeds."""
    return [{"key": f"seed-{k}", "seed": k} for k in range(config.seeds)]


def run_unit(config: Config, unit: dict) -> dict:
    """Train the pair of seed ``unit["seed"]``: per variant the initial first-layer gradient
    norm, the training-loss curve and the steps to each of ``LEVELS`` (None: not reached)."""
    device = resolve_device(config.device)
    streams = config.streams()
    x, y, _, _ = load_split("digits", device)
    x = x.flatten(1)
    k = unit["seed"]
    batches = streams.seed(f"batches/{k}")
    out = {}
    for variant in ("plain", "bn"):
        # the same initial weights with and without batch norm (ours draws no random numbers)
        model = build_seeded(lambda v=variant: deep_mlp(config, x.shape[1], v == "bn"),
                             streams.seed(f"init/{k}")).to(device)
        init_grad = first_layer_gradient_norm(model, x[:config.batch_size], y[:config.batch_size])
        result = fit(
            model, F.cross_entropy, torch.optim.Adam(model.parameters(), lr=config.lr),
            (x, y), steps=config.steps, batch_size=config.batch_size, log_every=WINDOW,
            name=f"{variant}-seed{k}", device=device, seed=batches,
        )
        out[variant] = {
            "init_grad": init_grad,
            "curve": [(r["step"], r["train_loss"]) for r in result.history
                      if "train_loss" in r],
            "reached": [steps_to_target(result.history, level) for level in LEVELS],
        }
    return out


def summarize(config: Config, unit_results: list[dict], run) -> Result:
    variants = ("plain", "bn")
    curves = {v: [r[v]["curve"] for r in unit_results] for v in variants}
    init_grad = {v: [r[v]["init_grad"] for r in unit_results] for v in variants}
    reached = {v: {level: [r[v]["reached"][i] for r in unit_results]
                   for i, level in enumerate(LEVELS)} for v in variants}

    wins, trials = faster_pairs(reached["bn"][TARGET_LOSS], reached["plain"][TARGET_LOSS])
    grad_wins = sum(b > p for b, p in zip(init_grad["bn"], init_grad["plain"], strict=True))
    speedups = [p / b for b, p in zip(reached["bn"][TARGET_LOSS], reached["plain"][TARGET_LOSS],
                                       strict=True) if b is not None and p is not None]
    metrics = {
        "target_loss": TARGET_LOSS,
        "steps_to_target_bn": reached["bn"][TARGET_LOSS],
        "steps_to_target_plain": reached["plain"][TARGET_LOSS],
        "median_speedup": statistics.median(speedups) if speedups else None,
        "plain_runs_not_reaching_target": sum(v is None for v in reached["plain"][TARGET_LOSS]),
        "bn_runs_not_reaching_target": sum(v is None for v in reached["bn"][TARGET_LOSS]),
        "steps_to_level": {f"{level:g}": {variant: reached[variant][level]
                                          for variant in ("bn", "plain")} for level in LEVELS},
        "first_layer_grad_norm_at_init_bn": init_grad["bn"],
        "first_layer_grad_norm_at_init_plain": init_grad["plain"],
        "final_loss_bn": statistics.median(c[-1][1] for c in curves["bn"]),
        "final_loss_plain": statistics.median(c[-1][1] for c in curves["plain"]),
    }
    verdict = Verdict([
        Check.sign_test(
            f"with batch norm the training loss reaches {TARGET_LOSS:g} in fewer steps "
            f"(paired by seed, {config.steps} steps at most)", wins, trials, alpha=ALPHA),
        Check.sign_test(
            "at initialization ‖∂L/∂W₁‖ is larger with batch norm (paired by seed)",
            grad_wins, config.seeds, alpha=ALPHA),
    ])
    return Result(metrics, verdict, [_figure(curves, config, run)])


def _figure(curves, config: Config, run):
    fig, axes = new_figure(width=6)
    ax = axes[0]
    styles = {"plain": ("tab:blue", "without batch norm"), "bn": ("tab:red", "with batch norm")}
    for variant, per_seed in curves.items():
        color, label = styles[variant]
        steps = [s for s, _ in per_seed[0]]
        losses = torch.tensor([[v for _, v in c] for c in per_seed])
        ax.fill_between(steps, losses.min(0).values, losses.max(0).values, color=color,
                        alpha=0.25, lw=0)
        ax.plot(steps, losses.median(0).values, color=color,
                label=f"{label} (median, band: {len(per_seed)} seeds)")
    ax.axhline(TARGET_LOSS, color="gray", ls=":", label=f"target {TARGET_LOSS:g}")
    ax.set(yscale="log", xlabel="step", ylabel=f"training loss (mean of {WINDOW} steps)",
           title=f"{config.depth}-layer MLP on digits, Adam lr {config.lr:g}")
    ax.legend(fontsize=8)
    return save_figure(fig, run, "batchnorm_loss")


run = unit_run(units, run_unit, summarize)
