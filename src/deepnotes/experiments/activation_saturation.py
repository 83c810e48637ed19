"""Logistic hidden units make gradients vanish in the lower layers of a deep network.

The course: sigmoids (logistic, tanh) "are not recommended for hidden layers due to
saturation". The logistic's derivative σ'(z) = σ(z)(1 − σ(z)) is at most 1/4 (at z = 0) and
→ 0 as |z| grows, and back-propagation multiplies one such factor per layer:
∂L/∂h_l = W_{l+1}ᵀ (σ'(z_{l+1}) ⊙ ∂L/∂h_{l+1}). ReLU's derivative is 1 on its active half.

We build the same deep MLP (``depth`` linear layers of ``width`` units, PyTorch's default
initialization, ``seeds`` independent initializations) with each hidden activation of
``nn.activations`` — logistic, tanh, ReLU, leaky ReLU — and measure, at initialization, the
norm of the cross-entropy gradient ‖∂L/∂W_l‖_F of every layer on one batch of digits.

The verdict, on the logistic / ReLU ratio r_l = ‖∂L/∂W_l‖(logistic) / ‖∂L/∂W_l‖(ReLU), with
means and standard errors over the initializations (95 % Student-t intervals):

- the first layer's gradient is orders of magnitude smaller: mean log₁₀ r₁ ≤ −2;
- the gap grows at every layer toward the input: log₁₀ r_l − log₁₀ r_{l+1} < 0 for every l.

What the numbers show: at the default initialization the logistic units sit near z = 0, where
σ' ≈ 1/4, so it is the ≤ 1/4 factor per layer (and the non-zero-centred outputs) that shrinks
the gradient geometrically; saturation proper (units in the flat tails, σ' ≈ 0) appears when
the weights are larger. Reported for that (metrics): the fraction of logistic / tanh hidden
units whose derivative is below 1/10 of its maximum when the same networks start with weights
``large_init_gain`` (4) times larger. tanh, zero-centred with derivative 1 at 0, does not
shrink the gradient at this initialization (its first-layer gradient is larger than ReLU's);
the claim is about the logistic.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..engine import resolve_device
from ..nn.activations import ACTIVATIONS as LAYERS
from ..nn.models import MLP, build_seeded
from .base import (
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    load_split,
    mean_and_se,
    new_figure,
    save_figure,
    t_quantile,
)

CLAIM = ("Logistic (sigmoid) hidden units shrink the gradient at every layer: at initialization, "
         "a deep logistic network's first-layer gradient is orders of magnitude smaller than a "
         "ReLU network's, and the gap grows layer by layer toward the input.")
SECTION = 2
IMPLEMENTS = ("deepnotes.nn.activations", "deepnotes.nn.models")
FORMULA = ("∂L/∂h_l = W_{l+1}ᵀ (σ'(z_{l+1}) ⊙ ∂L/∂h_{l+1}),  σ'(z) = σ(z)(1 − σ(z)) ≤ 1/4;  "
           "r_l = ‖∂L/∂W_l‖_logistic / ‖∂L/∂W_l‖_ReLU")

ACTIVATIONS = ("logistic", "tanh", "relu", "leaky_relu")
# "orders of magnitude" (the claim): at least two, i.e. r₁ ≤ 10⁻².
MAX_LOG10_FIRST_LAYER_RATIO = -2.0
# "shrinks at every layer" (the claim; the course's one σ' ≤ 1/4 factor per layer): every step
# toward the input lowers log₁₀ r_l.
MAX_LOG10_RATIO_STEP = 0.0


@dataclass(frozen=True)
class Config(ExperimentConfig):
    depth: int = 10
    width: int = 100
    batch_size: int = 256
    seeds: int = 20  # independent initializations
    large_init_gain: float = 4.0

    @classmethod
    def quick(cls) -> Config:
        return cls(seeds=8)


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


def log10_ratio_steps(log_ratios: torch.Tensor) -> torch.Tensor:
    """log₁₀ r_l − log₁₀ r_{l+1} for l = 1..depth−1 (columns), per initialization (rows), from
    ``log_ratios`` (initializations × layers, input side first): negative when the gap grows
    going one layer toward the input."""
    return log_ratios[:, :-1] - log_ratios[:, 1:]


def run(config: Config, run) -> Result:
    device = resolve_device(config.device)
    norms, saturation = _measure(config, device)

    logs = {a: torch.tensor(norms[a], dtype=torch.float64).log10() for a in ACTIVATIONS}
    log_ratios = logs["logistic"] - logs["relu"]  # initializations × layers
    first, first_se = mean_and_se(log_ratios[:, 0])
    steps = log10_ratio_steps(log_ratios)
    step_stats = [mean_and_se(steps[:, layer]) for layer in range(steps.shape[1])]
    z = t_quantile(config.seeds - 1)  # means over few initializations: Student's t

    metrics = {f"first_layer_grad_norm_{a}": 10 ** float(logs[a][:, 0].mean())
               for a in ACTIVATIONS}  # geometric means over initializations
    metrics.update({f"last_layer_grad_norm_{a}": 10 ** float(logs[a][:, -1].mean())
                    for a in ACTIVATIONS})
    metrics["log10_logistic_over_relu_per_layer"] = log_ratios.mean(0).tolist()
    metrics["log10_logistic_over_relu_first_layer"] = first
    metrics["log10_logistic_over_relu_first_layer_se"] = first_se
    metrics["log10_ratio_step_toward_input"] = [m for m, _ in step_stats]
    metrics.update({f"saturated_fraction_{a}_gain{config.large_init_gain:g}": v
                    for a, v in saturation.items()})

    verdict = Verdict([
        Check.at_most(
            f"first layer: mean log₁₀(‖∂L/∂W₁‖ logistic / ReLU) over {config.seeds} "
            "initializations (orders of magnitude: ≤ −2)",
            first, MAX_LOG10_FIRST_LAYER_RATIO, se=first_se, z=z),
        Check.every(
            "the logistic/ReLU gap grows at every layer toward the input "
            "(log₁₀ r_l − log₁₀ r_{l+1} < 0 for l = 1..depth−1)",
            [Check.compare(f"layer {layer + 1} vs {layer + 2}", mean, "<", MAX_LOG10_RATIO_STEP,
                           se=se, z=z)
             for layer, (mean, se) in enumerate(step_stats)]),
    ])
    return Result(metrics, verdict, [_figure(norms, config, run)])


def _measure(config: Config, device: torch.device):
    streams = config.streams()
    x, y, _, _ = load_split("digits", device)
    batch = torch.randperm(len(x), generator=streams.generator("batch"))[: config.batch_size]
    x, y = x[batch.to(device)].flatten(1), y[batch.to(device)]
    sizes = [x.shape[1]] + [config.width] * (config.depth - 1) + [10]
    norms: dict[str, list[list[float]]] = {}
    for activation in ACTIVATIONS:
        norms[activation] = []
        for k in range(config.seeds):
            model = build_seeded(lambda a=activation: MLP(sizes, LAYERS[a]),
                                 streams.seed(f"init/{k}"))
            norms[activation].append(layer_gradient_norms(model.to(device), x, y))

    saturation = {}
    for activation in ("logistic", "tanh"):
        model = build_seeded(lambda a=activation: MLP(sizes, LAYERS[a]), streams.seed("init/0"))
        with torch.no_grad():
            for module in model:
                if isinstance(module, torch.nn.Linear):
                    module.weight.mul_(config.large_init_gain)
        saturation[activation] = saturated_fraction(model.to(device), x, activation)
    return norms, saturation


def _figure(norms: dict[str, list[list[float]]], config: Config, run):
    fig, axes = new_figure(width=6)
    ax = axes[0]
    colors = {"logistic": "tab:purple", "tanh": "tab:green", "relu": "tab:red",
              "leaky_relu": "tab:orange"}
    layers = list(range(1, config.depth + 1))
    for activation, per_seed in norms.items():
        values = torch.tensor(per_seed)
        ax.fill_between(layers, values.min(0).values, values.max(0).values,
                        color=colors[activation], alpha=0.2, lw=0)
        ax.plot(layers, values.log().mean(0).exp(), marker="o", color=colors[activation],
                label=activation.replace("_", " "))
    ax.set(yscale="log", xlabel="layer (1 = input side)", ylabel="‖∂L/∂W_l‖ at initialization",
           title=f"{config.depth}-layer MLP, width {config.width}: geometric mean and range of "
                 f"{config.seeds} initializations")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    return save_figure(fig, run, "gradient_norm_per_layer")

