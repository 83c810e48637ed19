"""Sigmoid activations make gradients vanish in the lower layers of a deep network.

The course: logistic and tanh "are not recommended for hidden layers due to saturation". The
logistic's derivative σ'(z) = σ(z)(1 − σ(z)) is at most 1/4 (at z = 0) and → 0 as |z| grows,
and back-propagation multiplies one such factor per layer:
∂L/∂h_l = W_{l+1}ᵀ (σ'(z_{l+1}) ⊙ ∂L/∂h_{l+1}). ReLU's derivative is 1 on its active half.

We build the same deep MLP (``depth`` linear layers of ``width`` units, PyTorch's default
initialization, several seeds) with each hidden activation of ``nn.activations`` — logistic,
tanh, ReLU, leaky ReLU — and measure, at initialization, the norm of the cross-entropy
gradient ‖∂L/∂W_l‖_F of every layer on a batch of digits.

What the numbers show: at the default initialization the logistic units sit near z = 0, where
σ' ≈ 1/4, so it is the ≤ 1/4 factor per layer (and the non-zero-centred outputs) that shrinks
the gradient geometrically; saturation proper (units in the flat tails, σ' ≈ 0) appears when
the weights are larger. Reported for that: the fraction of logistic / tanh hidden units whose
derivative is below 1/10 of its maximum when the same networks start with weights
``large_init_gain`` (4) times larger.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import data
from ..engine import resolve_device
from ..nn.activations import ACTIVATIONS as LAYERS
from ..nn.models import MLP, build_seeded
from .base import Result, Verdict, new_figure, save_figure

CLAIM = ("Sigmoid hidden units saturate and shrink the gradient at every layer: at "
         "initialization, a deep logistic network's first-layer gradient is orders of magnitude "
         "smaller than a ReLU network's.")

ACTIVATIONS = ("logistic", "tanh", "relu", "leaky_relu")


@dataclass(frozen=True)
class Config:
    depth: int = 10
    width: int = 100
    batch_size: int = 256
    seeds: tuple[int, ...] = tuple(range(10))
    max_ratio: float = 1e-2  # logistic / ReLU first-layer gradient norm, every seed
    large_init_gain: float = 4.0
    seed: int = 0  # offset added to every entry of ``seeds``
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(seeds=(0, 1, 2))

    @classmethod
    def full(cls) -> Config:
        return cls()


def layer_gradient_norms(model: MLP, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """‖∂L/∂W_l‖_F for every linear layer l = 1..depth (input side first), L = cross-entropy."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    norms = [float(m.weight.grad.norm()) for m in model if isinstance(m, torch.nn.Linear)]
    model.zero_grad()
    return norms


def saturated_fraction(model: MLP, x: torch.Tensor, activation: str) -> float:
    """Fraction of hidden units whose derivative is below 1/10 of its maximum: σ'(z) < 0.025
    for the logistic (max 1/4), 1 − tanh²(z) < 0.1 for tanh."""
    fractions = []
    h = x.flatten(1)
    with torch.no_grad():
        for module in model:
            if isinstance(module, torch.nn.Linear):
                z = module(h)
                if activation == "logistic":
                    s = torch.sigmoid(z)
                    fractions.append(float((s * (1 - s) < 0.025).float().mean()))
                else:
                    fractions.append(float((1 - torch.tanh(z) ** 2 < 0.1).float().mean()))
                h = z
            elif not isinstance(module, torch.nn.Flatten):
                h = module(h)
    return statistics.mean(fractions[:-1])  # hidden layers only


def run(config: Config, run) -> Result:
    device = resolve_device(config.device)
    norms, saturation = _measure(config, device)

    first = {a: [n[0] for n in norms[a]] for a in ACTIVATIONS}
    ratios = [lo / re for lo, re in zip(first["logistic"], first["relu"], strict=True)]
    median = {a: statistics.median(first[a]) for a in ACTIVATIONS}
    metrics = {f"first_layer_grad_norm_{a}": median[a] for a in ACTIVATIONS}
    metrics.update({f"last_layer_grad_norm_{a}": statistics.median(n[-1] for n in norms[a])
                    for a in ACTIVATIONS})
    metrics["logistic_over_relu_first_layer"] = statistics.median(ratios)
    metrics["logistic_over_relu_first_layer_max"] = max(ratios)
    metrics.update({f"saturated_fraction_{a}_gain{config.large_init_gain:g}": v
                    for a, v in saturation.items()})
    worst = max(ratios)
    verdict = Verdict.all_of(
        (worst <= config.max_ratio,
         f"first-layer ‖∂L/∂W₁‖ logistic / ReLU ≤ {config.max_ratio:g} for all "
         f"{len(ratios)} seeds (median {statistics.median(ratios):.1e}, worst {worst:.1e})"),
        (median["logistic"] < min(median[a] for a in ACTIVATIONS if a != "logistic"),
         "the logistic's first-layer gradient is the smallest of the four activations"),
    )
    return Result(metrics, verdict, [_figure(norms, config, run)])


def _measure(config: Config, device: torch.device):
    x, y = data.digits("train")
    x, y = x[: config.batch_size].flatten(1).to(device), y[: config.batch_size].to(device)
    sizes = [x.shape[1]] + [config.width] * (config.depth - 1) + [10]
    norms: dict[str, list[list[float]]] = {}
    for activation in ACTIVATIONS:
        norms[activation] = []
        for offset in config.seeds:
            model = build_seeded(lambda a=activation: MLP(sizes, LAYERS[a]), config.seed + offset)
            norms[activation].append(layer_gradient_norms(model.to(device), x, y))

    saturation = {}
    for activation in ("logistic", "tanh"):
        model = build_seeded(lambda a=activation: MLP(sizes, LAYERS[a]), config.seed)
        with torch.no_grad():
            for module in model:
                if isinstance(module, torch.nn.Linear):
                    module.weight.mul_(config.large_init_gain)
        saturation[activation] = saturated_fraction(model.to(device), x, activation)
    return norms, saturation


def _figure(norms: dict[str, list[list[float]]], config: Config, run):
    fig, ax = new_figure(width=6)
    colors = {"logistic": "tab:purple", "tanh": "tab:green", "relu": "tab:red",
              "leaky_relu": "tab:orange"}
    layers = list(range(1, config.depth + 1))
    for activation, per_seed in norms.items():
        values = torch.tensor(per_seed)
        ax.fill_between(layers, values.min(0).values, values.max(0).values,
                        color=colors[activation], alpha=0.2, lw=0)
        ax.plot(layers, values.median(0).values, marker="o", color=colors[activation],
                label=activation.replace("_", " "))
    ax.set(yscale="log", xlabel="layer (1 = input side)", ylabel="‖∂L/∂W_l‖ at initialization",
           title=f"{config.depth}-layer MLP, width {config.width}: median and range of "
                 f"{len(config.seeds)} seeds")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    return save_figure(fig, run, "gradient_norm_per_layer")
