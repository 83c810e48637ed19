"""Entry checks of the training loops: a model, data, loss and optimizer that cannot work
together are refused with one clear error before (or at) the first step, instead of a raw
error from inside torch — or silence.

- ``check_optimizer``: the optimizer must hold (some of) the model's parameters;
- ``check_scheduler``: a scheduler must have ``step()`` (and ``state_dict`` to checkpoint);
- ``forward_error``: why the model could not take a batch — shapes, feature counts, dtypes —
  naming the argument, the batch's shape and the model's first layer;
- ``check_loss_value``: the loss must be a one-element tensor carrying a graph;
- ``check_labels``: class labels of a cross-entropy-like loss must lie in [0, C) for the
  model's C outputs (torch raises ``IndexError`` on CPU and a device-side assert on CUDA);
- ``dry_evaluate``: one batch of ``eval_data`` through the model and the metrics before
  training, so a wrong ``eval_data`` fails at once, not after every training step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "check_labels",
    "check_loss_value",
    "check_optimizer",
    "check_scheduler",
    "class_index_loss",
    "dry_evaluate",
    "forward_error",
]

#: what a forward/loss raises on mismatched shapes or dtypes (other exceptions pass through)
SHAPE_ERRORS = (RuntimeError, ValueError, TypeError, IndexError)

_LAYERS = (nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
           nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Embedding, nn.EmbeddingBag, nn.RNNBase)


def check_optimizer(optimizer: torch.optim.Optimizer, model: nn.Module,
                    argument: str = "optimizer") -> None:
    """The optimizer must update at least one of ``model``'s parameters."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    own = [p for p in model.parameters()]
    if not any(id(p) in held for p in own):
        raise ValueError(
            f"{argument} holds none of the model's {len(own)} parameters: training would "
            "change nothing. Build it from this model, e.g. torch.optim.SGD(model.parameters(), "
            "lr=...), or pass a factory params -> Optimizer")


def check_scheduler(scheduler, argument: str = "scheduler", checkpointed: bool = False):
    """A learning-rate scheduler: an object with ``step()`` (and ``state_dict`` /
    ``load_state_dict`` when the run is checkpointed)."""
    if not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"{argument} must be an LR scheduler with a step() method, or a factory "
                        f"optimizer -> scheduler; got {type(scheduler).__name__}")
    if checkpointed and not (hasattr(scheduler, "state_dict")
                             and hasattr(scheduler, "load_state_dict")):
        raise TypeError(f"{argument} must have state_dict() and load_state_dict() to be "
                        f"checkpointed with the run; {type(scheduler).__name__} has not")
    return scheduler


def _first_layer(model: nn.Module) -> nn.Module | None:
    return next((m for m in model.modules() if isinstance(m, _LAYERS)), None)


def _parameter_dtype(model: nn.Module) -> torch.dtype | None:
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


def forward_error(model: nn.Module, x: torch.Tensor, argument: str, err: BaseException,
                  reference: torch.Tensor | None = None, what: str = "the model") -> ValueError:
    """A ``ValueError`` saying why ``model(x)`` failed: ``x``'s shape and dtype against what
    the model's parameters and first layer expect; ``reference`` = data the model is trained
    on (for ``eval_data``), whose row shape is shown too."""
    reasons = []
    dtype = _parameter_dtype(model)
    layer = _first_layer(model)
    embeds = isinstance(layer, (nn.Embedding, nn.EmbeddingBag))
    if dtype is not None and not embeds and not x.is_floating_point():
        reasons.append(f"{what}'s parameters are {dtype} but the inputs are {x.dtype}: convert "
                       f"them with .to({dtype})")
    elif dtype is not None and not embeds and x.dtype != dtype:
        reasons.append(f"{what}'s parameters are {dtype}, the inputs {x.dtype}: convert one to "
                       "the other")
    if isinstance(layer, nn.Linear) and x.dim() >= 1 and x.shape[-1] != layer.in_features:
        reasons.append(f"{what}'s first layer {layer} expects {layer.in_features} features in "
                       f"the last dimension, the data has {x.shape[-1]}")
    elif isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        spatial = len(layer.kernel_size)
        if x.dim() != spatial + 2 or x.shape[1] != layer.in_channels:
            reasons.append(f"{what}'s first layer {layer} expects inputs of shape (N, "
                           f"{layer.in_channels}, {', '.join(['...'] * spatial)})")
    elif embeds and x.is_floating_point():
        reasons.append(f"{what}'s first layer {layer} expects integer indices, got {x.dtype}")
    shapes = f"a batch of shape {tuple(x.shape)} and dtype {x.dtype}"
    if reference is not None:
        shapes += (f"; its rows have shape {tuple(x.shape[1:])}, the training data's "
                   f"{tuple(reference.shape[1:])}")
    detail = "; ".join(reasons) if reasons else f"{what} raised {type(err).__name__}"
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return ValueError(f"{argument}: {what} cannot take its inputs ({shapes}): {detail} "
                      f"(torch said: {first_line})")


def check_loss_value(loss, argument: str = "loss_fn") -> None:
    """A loss must be a one-element floating tensor attached to the graph."""
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"{argument} must return a scalar tensor, got {type(loss).__name__} "
                        f"{loss!r}: return the tensor itself, not .item() or a Python number")
    if loss.numel() != 1:
        raise ValueError(f"{argument} must return a scalar tensor (one number), got shape "
                         f"{tuple(loss.shape)}: reduce it, e.g. with .mean()")
    if not loss.is_floating_point():
        raise TypeError(f"{argument} must return a floating-point tensor, got {loss.dtype}")
    if not loss.requires_grad:
        raise ValueError(f"{argument} returned a tensor without a graph (requires_grad=False), "
                         "so there is nothing to backpropagate: compute it from the model's "
                         "output without .detach(), .item() or torch.no_grad()")


def class_index_loss(loss_fn: Callable) -> int | None:
    """The ``ignore_index`` of a loss that takes class indices as targets (cross-entropy,
    NLL), or None for any other loss."""
    if loss_fn in (F.cross_entropy, F.nll_loss):
        return -100
    if isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
        return loss_fn.ignore_index
    return None


def check_labels(y: torch.Tensor, classes: int, argument: str,
                 ignore_index: int | None = -100) -> None:
    """Integer labels must be class indices in [0, ``classes``) (or ``ignore_index``)."""
    if y.is_floating_point() or y.is_complex() or y.numel() == 0:
        return  # probabilities or regression targets
    bad = (y < 0) | (y >= classes)
    if ignore_index is not None:
        bad &= y != ignore_index
    if bool(bad.any()):
        values = torch.unique(y[bad])[:5].tolist()
        raise ValueError(
            f"{argument}: labels must be class indices in [0, {classes}) for the model's "
            f"{classes} outputs, found {', '.join(map(str, values))}")


def dry_evaluate(model: nn.Module, eval_data: tuple[torch.Tensor, ...],
                 metrics: Mapping[str, Callable], batch_size: int,
                 reference: torch.Tensor, ignore_index: int | None) -> None:
    """One batch of ``eval_data`` through ``model`` (eval mode, no gradients, the global
    RNG untouched) and every metric, before training."""
    x, y = eval_data[0][:batch_size], eval_data[-1][:batch_size]
    was_training = model.training
    devices = [x.device] if x.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            model.eval()
            try:
                out = model(x)
            except SHAPE_ERRORS as err:
                raise forward_error(model, x, "eval_data", err, reference) from err
            if ignore_index is not None and out.dim() >= 2:
                check_labels(eval_data[-1], out.shape[1], "eval_data", ignore_index)
            for name, fn in metrics.items():
                try:
                    value = fn(out, y)
                    float(value)
                except SHAPE_ERRORS as err:
                    raise ValueError(
                        f"metrics[{name!r}] fails on eval_data (model output of shape "
                        f"{tuple(out.shape)}, targets of shape {tuple(y.shape)}): "
                        f"{type(err).__name__}: {err}") from err
    finally:
        model.train(was_training)
