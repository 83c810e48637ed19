"""Batch normalization speeds up the training of a deep network.

The course: batch norm, y = (x − E[x]) / √(Var[x] + ε)·γ + β applied before each activation,
"improves the speed, reliability and performance of optimization" and guards against
vanishing gradients. We train the same 10-layer ReLU MLP (9 hidden layers of 100 units) on
the digits data set, with and without our ``nn.norm.BatchNorm1d`` before every hidden
activation, with the same optimizer (Adam, lr 1e-3), batch size, initialization seed and batch
order, over several seeds, and count the steps until the training loss (mean over a logging
window of 10 steps) first falls below a target. With PyTorch's default initialization the
plain network's activations shrink layer after layer, so its gradients start tiny; batch norm
rescales every layer and the loss falls at once. Also reported: the first layer's gradient
norm at initialization with and without batch norm.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import data
from ..engine import fit
from ..nn.models import MLP, build_seeded
from ..nn.norm import BatchNorm1d
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("Batch normalization makes a deep network train faster: with the same optimizer and "
         "learning rate, a 10-layer MLP with batch norm reaches a target training loss in fewer "
         "steps than without it.")

WINDOW = 10  # steps per logged training-loss value


@dataclass(frozen=True)
class Config:
    depth: int = 10  # linear layers
    width: int = 100
    steps: int = 1000
    lr: float = 1e-3
    batch_size: int = 100
    target_loss: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    min_ratio: float = 2.0  # median steps(without) / steps(with)
    seed: int = 0  # offset added to every entry of ``seeds``
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(steps=250, target_loss=0.5, seeds=(0, 1))

    @classmethod
    def full(cls) -> Config:
        return cls()


def deep_mlp(config: Config, inputs: int, batch_norm: bool) -> MLP:
    """``depth`` linear layers, ReLU, with our ``BatchNorm1d`` before each hidden activation."""
    return MLP([inputs] + [config.width] * (config.depth - 1) + [10], "relu",
               batch_norm=BatchNorm1d if batch_norm else False)


def steps_to_target(history: list[dict], target: float) -> int | None:
    """First logged step whose window-mean training loss is below ``target`` (None: never)."""
    return next((r["step"] for r in history if "train_loss" in r and r["train_loss"] < target),
                None)


def first_layer_gradient_norm(model: MLP, x: torch.Tensor, y: torch.Tensor) -> float:
    """‖∂L/∂W₁‖ of the cross-entropy on (x, y), model in training mode (batch statistics)."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    norm = float(model[1].weight.grad.norm())
    model.zero_grad()
    return norm


def run(config: Config, run) -> Result:
    curves, reached, init_grad = _train_all(config, run)

    ratios, all_faster = [], True
    for seed in curves["plain"]:
        with_bn, without = reached["bn"][seed], reached["plain"][seed]
        if with_bn is None:
            all_faster = False
            continue
        # a plain run that never reached the target counts as "config.steps" (a lower bound)
        ratios.append((without if without is not None else config.steps) / with_bn)
        if without is not None and without <= with_bn:
            all_faster = False
    median_ratio = statistics.median(ratios) if ratios else 0.0
    censored = sum(v is None for v in reached["plain"].values())
    metrics = {
        "target_loss": config.target_loss,
        "steps_to_target_bn": reached["bn"],
        "steps_to_target_plain": reached["plain"],
        "median_ratio": median_ratio,
        "plain_runs_not_reaching_target": censored,
        "first_layer_grad_norm_at_init_bn": init_grad["bn"],
        "first_layer_grad_norm_at_init_plain": init_grad["plain"],
        "final_loss_bn": statistics.median(c[-1][1] for c in curves["bn"].values()),
        "final_loss_plain": statistics.median(c[-1][1] for c in curves["plain"].values()),
    }
    bound = " (a lower bound: some plain runs never got there)" if censored else ""
    verdict = Verdict.all_of(
        (all(v is not None for v in reached["bn"].values()),
         f"with batch norm every seed reaches loss {config.target_loss:g} within {config.steps} "
         "steps"),
        (all_faster, f"with batch norm it gets there first for all {len(config.seeds)} seeds"),
        (median_ratio >= config.min_ratio,
         f"median steps(without BN) / steps(with BN) = {median_ratio:.1f} ≥ "
         f"{config.min_ratio:g}{bound}"),
    )
    return Result(metrics, verdict, [_figure(curves, config, run)])


def _train_all(config: Config, run):
    x, y = data.digits("train")
    x = x.flatten(1)
    curves = {"plain": {}, "bn": {}}
    reached = {"plain": {}, "bn": {}}
    init_grad = {}
    for variant in ("plain", "bn"):
        for offset in config.seeds:
            seed = config.seed + offset
            model = build_seeded(lambda v=variant: deep_mlp(config, x.shape[1], v == "bn"), seed)
            if offset == config.seeds[0]:
                init_grad[variant] = first_layer_gradient_norm(model, x[:config.batch_size],
                                                               y[:config.batch_size])
            result = fit(
                model, F.cross_entropy, torch.optim.Adam(model.parameters(), lr=config.lr),
                (x, y), steps=config.steps, batch_size=config.batch_size, log_every=WINDOW,
                run=run, name=f"{variant}-seed{seed}", device=config.device, seed=seed,
            )
            curves[variant][seed] = [(r["step"], r["train_loss"]) for r in result.history
                                     if "train_loss" in r]
            reached[variant][seed] = steps_to_target(result.history, config.target_loss)
    return curves, reached, init_grad


def _figure(curves, config: Config, run):
    fig, ax = new_figure(width=6)
    styles = {"plain": ("tab:blue", "without batch norm"), "bn": ("tab:red", "with batch norm")}
    for variant, per_seed in curves.items():
        color, label = styles[variant]
        steps = [s for s, _ in next(iter(per_seed.values()))]
        losses = torch.tensor([[v for _, v in c] for c in per_seed.values()])
        ax.fill_between(steps, losses.min(0).values, losses.max(0).values, color=color,
                        alpha=0.25, lw=0)
        ax.plot(steps, losses.median(0).values, color=color,
                label=f"{label} (median, band: {len(per_seed)} seeds)")
    ax.axhline(config.target_loss, color="gray", ls=":", label=f"target {config.target_loss:g}")
    ax.set(yscale="log", xlabel="step", ylabel=f"training loss (mean of {WINDOW} steps)",
           title=f"{config.depth}-layer MLP on digits, Adam lr {config.lr:g}")
    ax.legend(fontsize=8)
    return save_figure(fig, run, "batchnorm_loss")
