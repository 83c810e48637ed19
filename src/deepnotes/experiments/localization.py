"""Classification with localization: one loss, derived from the likelihood, learns presence,
class and box, and each of its terms does its own job (generated shapes).

The course's target is y = (p_c, b_x, b_y, b_w, b_h, c_1..c_k) and its loss
−log p̂_c or −log(1 − p̂_c), plus, only when an object is present, the cross-entropy over the
classes and the squared error of the box (``losses.localization_loss``, the negative
log-likelihood of Bernoulli presence × categorical class × Gaussian box). We train
``nn.LocalizationCNN`` (conv trunk, flattened last map → presence logit, box, class logits)
with ``engine.fit`` and Adam on freshly generated ``data.shapes`` images (32×32, circle /
square / triangle, 20 % empty), and score it on the held-out test split of ``data.shapes``
(1,000 images, seed 2000, the same 20 % empty rate): presence accuracy, class accuracy given an
object and mean IoU of the predicted box (over images with an object).

The ablation trains the same model from the same initialization on the same batches with the
box weight set to 0: nothing then teaches the box outputs, and its IoU collapses, while the
presence and class terms still do their job (their accuracies are reported too).

Two units (``full``, ``no-box``), paired by design: both draw their data, initialization and
batch order from the same named streams (``data``, ``init``, ``batches``), so they differ only
in the loss, and neither depends on the other or on the order they run in. Standard errors are
over the test images (one training seed): Agresti–Coull for the accuracies, s/√M for the mean
IoU. A preset that trains fewer steps than the full preset can pass the three "reaches"
checks but not fail them (``short_run``); the ablation check is decided in every preset (a
shorter run only makes an untrained box worse).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from .. import data
from ..engine import fit, resolve_device
from ..losses import localization_loss
from ..nn.models import LocalizationCNN, build_seeded
from ..vision.localization import (
    class_accuracy,
    decode_localization,
    localization_ious,
    localization_target,
    paired_iou,
    presence_accuracy,
)
from .base import (
    Z_95,
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    new_figure,
    save_figure,
    short_run,
    unit_run,
)

CLAIM = ("Classification with localization: one network trained with the course's loss "
         "(BCE on presence; cross-entropy and squared box error only when an object is present) "
         "detects, classifies and boxes single shapes on held-out images with 20 % empty ones "
         "(presence ≥ 98 %, class given an object ≥ 95 %, mean IoU ≥ 0.75), and without the box "
         "term its IoU collapses.")
SECTION = 4
IMPLEMENTS = ("deepnotes.losses", "deepnotes.vision.localization", "deepnotes.nn.models")
FORMULA = ("ℓ = −p_c log p̂_c − (1 − p_c) log(1 − p̂_c) + p_c·[−Σ_i c_i log ĉ_i + w_b Σ_j "
           "(b_j − b̂_j)²],  w_b = 1/(2σ²);  IoU = |B ∩ B̂| / |B ∪ B̂|")

# Issue 14, experiment 1 ("localization"): the bars of the full preset, the same in every preset.
MIN_PRESENCE_ACCURACY = 0.98  # presence accuracy ≥ 98 %
MIN_CLASS_ACCURACY = 0.95  # class accuracy given an object ≥ 95 %
MIN_MEAN_IOU = 0.75  # mean IoU ≥ 0.75
P_EMPTY = 0.2  # "held-out shapes with 20 % empty images"
# "Without the box term IoU collapses": the ablated mean IoU is at most a third of the 0.75
# bar. Fixed before running; for scale, a position-blind predictor that outputs the training
# set's mean box for every image scores about 0.29 here (reported as ``mean_box_iou``).
MAX_ABLATED_IOU = 0.25
CLASSES = ("circle", "square", "triangle")  # data.shapes' default classes
IMAGE_SIZE = 32  # the fixed split of data.shapes
GRID = 16  # test images in the figure
FULL_STEPS = 4000  # the full preset's training steps (the budget ``short_run`` compares with)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    train_size: int = 10_000  # freshly generated training images (20 % empty)
    steps: int = FULL_STEPS
    batch_size: int = 64
    lr: float = 3e-3  # Adam
    channels: tuple[int, ...] = (16, 32, 32)  # conv blocks of the trunk
    hidden: int = 64  # units of the head's hidden layer
    box_weight: float = 1.0  # w_b = 1/(2σ²): 1 is the course's unweighted loss, σ = 1/√2

    @classmethod
    def quick(cls) -> Config:
        return cls(train_size=1000, steps=100, batch_size=32, channels=(8, 16, 16), hidden=32)


def units(config: Config) -> list[dict[str, Any]]:
    """The full loss and the ablation without the box term."""
    return [{"key": "full", "box_weight": config.box_weight},
            {"key": "no-box", "box_weight": 0.0}]


def _test_set() -> data.Shapes:
    return data.shapes_split("test", IMAGE_SIZE, CLASSES, p_empty=P_EMPTY)


def _proportion_se(value: float, n: int) -> float:
    """Agresti–Coull standard error of a proportion ``value`` of ``n`` trials (positive even at
    0 or 1): p̃ = (k + z²/2) / (n + z²), se = √(p̃(1 − p̃) / (n + z²))."""
    if n == 0:
        return math.inf
    z2 = Z_95 * Z_95
    tilde = (value * n + z2 / 2) / (n + z2)
    return math.sqrt(tilde * (1 - tilde) / (n + z2))


def run_unit(config: Config, unit: dict[str, Any]) -> dict[str, Any]:
    """Train one model with box weight ``unit["box_weight"]`` and score it on the test split."""
    device = resolve_device(config.device)
    streams = config.streams()
    train = data.shapes(config.train_size, IMAGE_SIZE, CLASSES, p_empty=P_EMPTY,
                        rng=streams.generator("data"))
    test = _test_set()
    model = build_seeded(lambda: LocalizationCNN(IMAGE_SIZE, 1, len(CLASSES), config.channels,
                                                 config.hidden), streams.seed("init"))
    loss = functools.partial(localization_loss, weights={"box": unit["box_weight"]})
    start = time.perf_counter()
    fit(model, loss, lambda parameters: torch.optim.Adam(parameters, lr=config.lr),
        (train.images, localization_target(train)), steps=config.steps,
        batch_size=config.batch_size, log_every=max(1, config.steps // 20), run=None,
        name=f"localization-{unit['key']}", device=device, seed=streams.seed("batches"))
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        outputs = torch.cat([model(x.to(device)).cpu() for x in test.images.split(500)])
    target = localization_target(test)
    ious = localization_ious(outputs, target)
    decoded = decode_localization(outputs[:GRID])
    return {
        "presence_accuracy": float(presence_accuracy(outputs, target)),
        "class_accuracy": float(class_accuracy(outputs, target)),
        "mean_iou": float(ious.mean()),
        "mean_iou_se": float(ious.std() / math.sqrt(len(ious))),
        "ious": ious.tolist(),
        "images": len(test), "objects": len(ious),
        "grid": {"presence": decoded.presence.tolist(), "boxes": decoded.boxes.tolist(),
                 "labels": decoded.labels.tolist()},
        "train_seconds": seconds,
    }


def _mean_box_iou(config: Config, test: data.Shapes) -> float:
    """Mean IoU of a position-blind predictor: the training set's mean box for every image."""
    train = data.shapes(config.train_size, IMAGE_SIZE, CLASSES, p_empty=P_EMPTY,
                        rng=config.streams().generator("data"))
    mean_box = train.boxes[train.present].mean(0)
    true = test.boxes[test.present]
    return float(paired_iou(mean_box.expand_as(true), true).mean())


def summarize(config: Config, results: list[dict[str, Any]], run) -> Result:
    """Metrics, the four checks and the two figures from the units' results."""
    full, ablated = results
    test = _test_set()
    metrics: dict[str, Any] = {}
    for prefix, result in (("", full), ("no_box_", ablated)):
        metrics.update({f"{prefix}{key}": result[key] for key in (
            "presence_accuracy", "class_accuracy", "mean_iou", "mean_iou_se", "train_seconds")})
    metrics.update(mean_box_iou=_mean_box_iou(config, test), test_images=full["images"],
                   test_objects=full["objects"], steps=config.steps,
                   box_weight=config.box_weight, box_sigma=(
                       math.sqrt(1 / (2 * config.box_weight)) if config.box_weight > 0
                       else None))

    def trained(check: Check) -> Check:
        return short_run(check, config.steps, FULL_STEPS)

    checks = [
        trained(Check.at_least(
            f"presence accuracy on {full['images']} held-out images (20 % empty)",
            full["presence_accuracy"], MIN_PRESENCE_ACCURACY,
            se=_proportion_se(full["presence_accuracy"], full["images"]))),
        trained(Check.at_least(
            f"class accuracy given an object ({full['objects']} objects)",
            full["class_accuracy"], MIN_CLASS_ACCURACY,
            se=_proportion_se(full["class_accuracy"], full["objects"]))),
        trained(Check.at_least("mean IoU of the predicted box", full["mean_iou"],
                               MIN_MEAN_IOU, se=full["mean_iou_se"])),
        Check.at_most("without the box term the mean IoU collapses (≤ a third of the 0.75 bar)",
                      ablated["mean_iou"], MAX_ABLATED_IOU, se=ablated["mean_iou_se"]),
    ]
    figures = [_grid_figure(test, full, run), _histogram_figure(full, ablated, metrics, run)]
    return Result(metrics, Verdict(checks), figures)


def _draw_box(ax, box, size: int, color: str, style: str = "-") -> None:
    import matplotlib.patches as patches  # deferred: only figures need matplotlib

    cx, cy, w, h = (v * size for v in box)
    ax.add_patch(patches.Rectangle((cx - w / 2 - 0.5, cy - h / 2 - 0.5), w, h, fill=False,
                                   edgecolor=color, linewidth=1.5, linestyle=style))


def _grid_figure(test: data.Shapes, full: dict[str, Any], run):
    """Test images with the true box (green) and the predicted one (red; dashed when the
    model says "no object")."""
    side = math.isqrt(GRID)
    fig, axes = new_figure(ncols=side, nrows=side, width=2.0, height=2.1)
    grid = full["grid"]
    for i, ax in enumerate(axes):
        ax.imshow(test.images[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        if bool(test.present[i]):
            _draw_box(ax, test.boxes[i].tolist(), IMAGE_SIZE, "lime")
            truth = CLASSES[int(test.labels[i])]
        else:
            truth = "empty"
        said_present = grid["presence"][i] > 0.5
        _draw_box(ax, grid["boxes"][i], IMAGE_SIZE, "red", "-" if said_present else ":")
        guess = CLASSES[grid["labels"][i]] if said_present else "empty"
        ax.set_title(f"{truth} → {guess} (p̂={grid['presence'][i]:.2f})", fontsize=7)
        ax.set(xticks=[], yticks=[])
    fig.suptitle("held-out shapes: true box green, predicted red (dotted: predicted empty); "
                 "title: true → predicted", fontsize=9)
    return save_figure(fig, run, "localization_boxes")


def _histogram_figure(full: dict[str, Any], ablated: dict[str, Any], metrics, run):
    fig, (ax,) = new_figure(width=5.5)
    bins = [i / 25 for i in range(26)]
    ax.hist(full["ious"], bins=bins, alpha=0.7, color="tab:blue",
            label=f"full loss (mean {full['mean_iou']:.3f})")
    ax.hist(ablated["ious"], bins=bins, alpha=0.7, color="tab:gray",
            label=f"no box term (mean {ablated['mean_iou']:.3f})")
    ax.axvline(MIN_MEAN_IOU, color="tab:green", ls="--", label=f"bar {MIN_MEAN_IOU}")
    ax.axvline(MAX_ABLATED_IOU, color="tab:red", ls=":",
               label=f"collapse ≤ {MAX_ABLATED_IOU}")
    ax.axvline(metrics["mean_box_iou"], color="black", ls="-.",
               label=f"mean box ({metrics['mean_box_iou']:.2f})")
    ax.set(xlabel="IoU of predicted vs true box (test images with an object)",
           ylabel="images", title="IoU on held-out shapes")
    ax.legend(fontsize=8)
    return save_figure(fig, run, "localization_iou")


run = unit_run(units, run_unit, summarize)
