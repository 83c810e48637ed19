"""The one training loop: ``fit``.

Minibatch training of any model / loss / optimizer: the loop body is the step below and
nothing else; logging, evaluation, checkpoint/resume, the NaN/Inf guard, callbacks and the
progress bar are ``Bookkeeping``'s (the same object ``train_gan`` uses), the entry checks are
``preflight``'s. Seeded shuffling (``iterate_batches`` / ``BatchStream``) and DDP under
torchrun.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DistributedSampler

from ..core.checks import positive_int
from . import distributed
from .bookkeeping import Bookkeeping, NonFiniteLossError, Progress
from .checkpoint import parameter_shapes
from .devices import check_seed, resolve_device
from .preflight import (
    SHAPE_ERRORS,
    check_labels,
    check_loss_value,
    check_optimizer,
    check_scheduler,
    class_index_loss,
    dry_evaluate,
    forward_error,
)
from .run import Run

__all__ = ["BatchStream", "FitResult", "NonFiniteLossError", "Progress", "as_tensors",
           "epoch_permutation", "fit", "iterate_batches"]

Tensors = tuple[torch.Tensor, ...]
_NAME = re.compile(r"[A-Za-z0-9_.-]+")

#: losses that compare outputs and targets elementwise: their shapes must agree (torch
#: broadcasts (N, 1) against (N,) to (N, N) with only a warning)
_ELEMENTWISE = (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss)
_ELEMENTWISE_MODULES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)


@dataclass
class FitResult:
    """What ``fit`` returns: the trained model (unwrapped from DDP), the number of steps taken,
    the records it logged, and the final evaluation metrics (``eval_<name>``) plus the mean
    training loss of the last logging window (``train_loss``)."""

    model: nn.Module
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# data


def as_tensors(data: Any, argument: str) -> Tensors:
    """Accept ``(X, y)``, ``(X,)``, a tensor ``X`` or a ``TensorDataset``; check lengths."""
    if isinstance(data, torch.utils.data.TensorDataset):
        data = data.tensors
    if isinstance(data, torch.Tensor):
        data = (data,)
    if not isinstance(data, Sequence) or not data or not all(
        isinstance(t, torch.Tensor) for t in data
    ):
        got = type(data).__name__
        if isinstance(data, Sequence) and data and not isinstance(data, str):
            got += f" of ({', '.join(type(t).__name__ for t in data)})"
        raise TypeError(
            f"{argument} must be a tensor, a tuple of tensors (X, y) or a TensorDataset, "
            f"got {got}" + (": convert arrays with torch.as_tensor" if "ndarray" in got else "")
        )
    n = len(data[0])
    if n == 0:
        raise ValueError(f"{argument} is empty")
    for position, tensor in enumerate(data):
        if len(tensor) != n:
            raise ValueError(
                f"{argument}: tensor {position} has {len(tensor)} rows, tensor 0 has {n}"
            )
    return tuple(data)


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffling order of one epoch: ``randperm(n)`` from a generator seeded ``seed+epoch``.

    It is the order ``torch.utils.data.DistributedSampler(shuffle=True, seed=seed)`` uses, so a
    DDP run and a single-process run visit the same global batches.
    """
    generator = torch.Generator()
    generator.manual_seed(seed + epoch)
    return torch.randperm(n, generator=generator)


def iterate_batches(
    tensors: Tensors,
    batch_size: int,
    *,
    seed: int = 0,
    shuffle: bool = True,
    start_step: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[Tensors]:
    """Endless minibatches; batch number ``s`` is a pure function of ``(seed, s)``.

    With ``world_size > 1`` this rank receives its ``batch_size / world_size`` share of every
    global batch (the ``DistributedSampler`` split). Starting at ``start_step`` skips exactly
    the batches already seen, which is what makes resume bit-identical.
    """
    batch_size = positive_int(batch_size, "batch_size")
    n = len(tensors[0])
    local_batch = batch_size // world_size
    if world_size > 1:
        sampler = DistributedSampler(
            range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed
        )
        local_n = len(sampler)
    else:
        sampler, local_n = None, n
    steps_per_epoch = math.ceil(local_n / local_batch)
    epoch, offset = divmod(start_step, steps_per_epoch)
    device = tensors[0].device
    pair = len(tensors) == 2
    first, second = tensors[0], tensors[-1]
    while True:
        if sampler is not None:
            sampler.set_epoch(epoch)
            order = torch.tensor(list(iter(sampler)))
        elif shuffle:
            order = epoch_permutation(n, seed, epoch)
        else:
            order = torch.arange(n)
        order = order.to(device)
        for b in range(offset, steps_per_epoch):
            index = order[b * local_batch : (b + 1) * local_batch]
            yield (first[index], second[index]) if pair else tuple(t[index] for t in tensors)
        epoch, offset = epoch + 1, 0


class BatchStream:
    """``iterate_batches`` with a position: ``next()`` gives batch number ``position`` and
    advances it. Its ``state_dict`` (the position) goes into checkpoints, so a resume continues
    with exactly the next batch, however many batches a loop draws per step."""

    def __init__(self, tensors: Tensors, batch_size: int, *, seed: int = 0,
                 shuffle: bool = True, rank: int = 0, world_size: int = 1):
        self.tensors, self.batch_size = tensors, positive_int(batch_size, "batch_size")
        self.seed, self.shuffle, self.rank, self.world_size = seed, shuffle, rank, world_size
        self.position = 0
        self._iterator: Iterator[Tensors] | None = None

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> Tensors:
        if self._iterator is None:
            self._iterator = iterate_batches(
                self.tensors, self.batch_size, seed=self.seed, shuffle=self.shuffle,
                start_step=self.position, rank=self.rank, world_size=self.world_size)
        self.position += 1
        return next(self._iterator)

    def state_dict(self) -> dict[str, int]:
        return {"position": self.position}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.position = int(state["position"])
        self._iterator = None


# --------------------------------------------------------------------------------------------
# fit


def _evaluate(
    model: nn.Module,
    metrics: Mapping[str, Callable],
    data: Tensors,
    batch_size: int,
) -> dict[str, float]:
    """Mean of each metric over ``data`` (weighted by batch size), model in eval mode."""
    was_training = model.training
    model.eval()
    totals = dict.fromkeys(metrics, 0.0)
    n = len(data[0])
    with torch.no_grad():
        for start in range(0, n, batch_size):
            x, y = data[0][start : start + batch_size], data[-1][start : start + batch_size]
            out = model(x)
            for key, fn in metrics.items():
                totals[key] += float(fn(out, y)) * len(x)
    model.train(was_training)
    return {key: total / n for key, total in totals.items()}


def _make_optimizer(optimizer, model: nn.Module):
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        built = optimizer(model.parameters())
        if not isinstance(built, torch.optim.Optimizer):
            raise TypeError("optimizer factory must return a torch.optim.Optimizer")
        return built
    raise TypeError(
        "optimizer must be a torch.optim.Optimizer or a callable params -> Optimizer, "
        f"got {type(optimizer).__name__}"
    )


def _check_targets(loss_fn: Callable, out: torch.Tensor, y: torch.Tensor) -> None:
    """Outputs and targets of an elementwise loss must have the same shape."""
    if (loss_fn in _ELEMENTWISE or isinstance(loss_fn, _ELEMENTWISE_MODULES)) and \
            out.shape != y.shape:
        raise ValueError(
            f"train_data: the model's outputs have shape {tuple(out.shape)} but the targets "
            f"{tuple(y.shape)}; the loss would broadcast them against each other. Reshape "
            "the targets (or the model's output) to match")


def fit(
    model: nn.Module,
    loss_fn: Callable,
    optimizer,
    train_data,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = 100,
    eval_data=None,
    metrics: Mapping[str, Callable] | None = None,
    eval_every: int | None = None,
    log_every: int = 50,
    checkpoint_every: int | None = None,
    scheduler=None,
    run: Run | None = None,
    name: str = "fit",
    device: str | torch.device = "auto",
    seed: int = 0,
    resume: bool | None = None,
    shuffle: bool = True,
    progress: bool | None = None,
    callbacks: Sequence[Callable] = (),
) -> FitResult:
    """Train ``model`` by minibatch steps of ``optimizer`` on ``loss_fn``.

    One step: draw batch (x, y), ``loss = loss_fn(model(x), y)``, zero the gradients,
    backpropagate, ``optimizer.step()``, then ``scheduler.step()`` if given. Optimizers that
    re-evaluate the loss (L-BFGS, or any with ``requires_closure = True``) get
    ``optimizer.step(closure)`` with a closure doing the same. A loss object with
    ``takes_model = True`` is called ``loss_fn(model, x, y)`` instead (adversarial training).

    Arguments:
        train_data: ``(X, y)`` tensors or a ``TensorDataset``; a single tensor X trains on
            targets y = X (autoencoders).
        steps / epochs: how long; give exactly one.
        batch_size: examples per step (the global batch under DDP); None = full batch.
        optimizer: a ``torch.optim.Optimizer`` over ``model``'s parameters, or a factory
            ``params -> Optimizer``.
        scheduler: an LR scheduler (with ``step()``) or a factory ``optimizer -> scheduler``.
        eval_data, metrics: evaluated every ``eval_every`` steps and at the end; ``metrics``
            maps a name to ``fn(output, y) -> scalar`` (default: the loss itself).
        callbacks: each called ``cb(step, loss, model)`` after every step (``loss`` the step's
            loss as a float); one with ``state_dict``/``load_state_dict`` (``engine.EMA``) is
            checkpointed with the run.
        run, name: with a ``Run``, records go to ``metrics.jsonl`` tagged ``fit=name`` and the
            checkpoint to ``checkpoints/<name>.pt`` every ``checkpoint_every`` steps and at
            the end. ``resume`` (default ``run.resume``) continues from that checkpoint; the
            weights, the logged values and the returned history are bit-identical on CPU to
            an uninterrupted run's. A checkpoint of another fit (other data size, batch size,
            seed, model) is refused.
        seed: seeds the batch order and torch's global RNG (dropout). Model initialization is
            the caller's (seed it before building the model).
        device: "auto" (CUDA when present), "cpu", "cuda", ...

    Entry checks (``engine.preflight``): the optimizer must hold the model's parameters; one
    batch of ``eval_data`` goes through the model and the metrics before training; the first
    step checks the training batch (feature count, dtype; the error names the argument and
    both shapes), the class labels of a cross-entropy-like loss against the model's outputs,
    and that the loss is a one-element tensor with a graph.

    Raises ``NonFiniteLossError`` when the loss becomes NaN/Inf (the last good checkpoint is
    kept), ``CheckpointWriteError`` (an ``OSError``) when a checkpoint cannot be written (the
    previous one is kept), ``CheckpointError`` for a checkpoint that cannot be resumed from,
    and ``ValueError``/``TypeError`` naming the argument on bad input.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError("loss_fn must be callable: loss_fn(output, y) -> scalar tensor")
    seed = check_seed(seed)
    train = as_tensors(train_data, "train_data")
    if len(train) == 1:
        train = (train[0], train[0])
    n = len(train[0])
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps= or epochs=")
    batch_size = n if batch_size is None else positive_int(batch_size, "batch_size")
    log_every = positive_int(log_every, "log_every")
    if eval_every is not None:
        eval_every = positive_int(eval_every, "eval_every")
    if metrics is not None and not isinstance(metrics, Mapping):
        raise TypeError("metrics must map a name to fn(output, y) -> scalar, "
                        f"got {type(metrics).__name__}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name must be letters, digits, '-', '_' or '.' (it names the "
                         f"checkpoint file), got {name!r}")
    if callable(callbacks) or not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks must be a list of callables cb(step, loss, model), got "
                        f"{type(callbacks).__name__}")
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}] must be callable cb(step, loss, model), got "
                            f"{type(callback).__name__}")
    takes_model = getattr(loss_fn, "takes_model", False)

    device = resolve_device(device)
    is_distributed = distributed.launched_distributed()
    rank, world_size = 0, 1
    if is_distributed:
        device = distributed.setup(device)
        rank, world_size = distributed.world()
        if batch_size % world_size:
            raise ValueError(
                f"batch_size (global, {batch_size} here) must be divisible by the world size "
                f"{world_size}"
            )

    local_n = math.ceil(n / world_size)
    steps_per_epoch = math.ceil(local_n / (batch_size // world_size))
    total = positive_int(steps, "steps") if steps is not None else (
        positive_int(epochs, "epochs") * steps_per_epoch
    )
    checkpoint_every = (positive_int(checkpoint_every, "checkpoint_every")
                        if checkpoint_every is not None else max(1, total // 10))

    model.to(device)
    optimizer = _make_optimizer(optimizer, model)
    check_optimizer(optimizer, model)
    if scheduler is not None:
        if callable(scheduler) and not hasattr(scheduler, "step"):
            scheduler = scheduler(optimizer)
        check_scheduler(scheduler, checkpointed=run is not None)
    train = tuple(t.to(device) for t in train)
    evaluation = None
    if eval_data is not None:
        evaluation = tuple(t.to(device) for t in as_tensors(eval_data, "eval_data"))
        if len(evaluation) == 1:
            evaluation = (evaluation[0], evaluation[0])
    if metrics is None:
        metrics = {} if takes_model else {"loss": loss_fn}
    ignore_index = None if takes_model else class_index_loss(loss_fn)
    if evaluation is not None and metrics:
        dry_evaluate(model, evaluation, metrics, batch_size, train[0], ignore_index)

    batches = BatchStream(train, batch_size, seed=seed, shuffle=shuffle, rank=rank,
                          world_size=world_size)
    fingerprint = {
        "n": n, "batch_size": batch_size, "seed": seed, "world_size": world_size,
        "parameters": parameter_shapes(model),
    }
    evaluate = None
    if evaluation is not None and metrics:
        eval_batch = max(batch_size, 1000)

        def evaluate() -> dict[str, float]:
            return _evaluate(model, metrics, evaluation, eval_batch)

    book = Bookkeeping(
        name, total=total, run=run,
        resume=run.resume if (resume is None and run is not None) else bool(resume),
        states={"model": model, "optimizer": optimizer, "scheduler": scheduler,
                "batches": batches},
        fingerprint=fingerprint, log_every=log_every, eval_every=eval_every,
        checkpoint_every=checkpoint_every, evaluate=evaluate, callbacks=callbacks,
        guard={"train_loss": "the loss"}, rate=("samples_per_s", batch_size),
        progress=progress, seed=seed,
    )

    # optimizers that re-evaluate the loss inside step() (L-BFGS) get a closure
    needs_closure = getattr(optimizer, "requires_closure",
                            isinstance(optimizer, torch.optim.LBFGS))
    net = distributed.wrap(model, device) if is_distributed else model

    def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_fn(net, x, y) if takes_model else loss_fn(net(x), y)

    def checked_loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The first step's loss, with every failure diagnosed (preflight)."""
        if takes_model:
            loss = loss_fn(net, x, y)
        else:
            try:
                out = net(x)
            except SHAPE_ERRORS as err:
                raise forward_error(model, x, "train_data", err) from err
            if ignore_index is not None and out.dim() >= 2:
                check_labels(train[-1], out.shape[1], "train_data", ignore_index)
            _check_targets(loss_fn, out, y)
            try:
                loss = loss_fn(out, y)
            except (IndexError, RuntimeError) as err:
                if "out of bounds" in str(err) and out.dim() >= 2:
                    check_labels(y, out.shape[1], "train_data", -100)
                raise
        check_loss_value(loss)
        return loss

    compute = checked_loss_of
    with book:
        net.train()
        while not book.done:
            x, y = next(batches)
            if needs_closure:

                def closure(x=x, y=y, compute=compute):
                    optimizer.zero_grad(set_to_none=True)
                    loss = compute(x, y)
                    loss.backward()
                    return loss

                loss = optimizer.step(closure)
            else:
                loss = compute(x, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            compute = loss_of
            if scheduler is not None:
                scheduler.step()
            value = distributed.mean_over_ranks(loss) if is_distributed else loss.item()
            book.end_step({"train_loss": value}, loss=value, model=model,
                          info=f"loss {value:.4g}")
        final = {"train_loss": float("nan"), **book.finish()}
    return FitResult(model=model, steps=book.step, history=book.history, metrics=final)
