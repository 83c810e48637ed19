"""The one training loop: ``fit``.

Minibatch training of any model / loss / optimizer, with logging to the run folder,
checkpoint and bit-identical resume, a NaN/Inf guard, seeded shuffling, and DDP under torchrun.
Topic code that needs a different loop (GAN alternation, task sequences) composes the pieces
exported here (``iterate_batches``, ``Checkpointer``, ``Progress``) instead of copying it.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .devices import check_seed, resolve_device
from .run import Run

Tensors = tuple[torch.Tensor, ...]
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


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
        raise TypeError(
            f"{argument} must be a tensor, a tuple of tensors (X, y) or a TensorDataset, "
            f"got {type(data).__name__}"
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
    n = len(tensors[0])
    local_batch = batch_size // world_size
    if world_size > 1:
        from torch.utils.data import DistributedSampler

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


# --------------------------------------------------------------------------------------------
# pieces shared with the other loops


class Progress:
    """A rich progress bar on stderr, refreshed at most every ``interval`` seconds."""

    def __init__(self, total: int, description: str, enabled: bool | None, interval=0.25,
                 unit: str = "samples", per_step: int = 1):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.enabled = enabled and distributed.world()[0] == 0
        self.interval = interval
        self.unit, self.per_step = unit, per_step
        self._last, self._last_completed = time.perf_counter(), None
        self._bar = None
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._task = self._bar.add_task(description, total=total, info="")
            self._bar.start()

    def update(self, completed: int, info: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if force or now - self._last >= self.interval:
            if self._last_completed is not None and completed > self._last_completed:
                rate = (completed - self._last_completed) * self.per_step / (now - self._last)
                info = f"{info} · {rate:,.0f} {self.unit}/s"
            self._last, self._last_completed = now, completed
            self._bar.update(self._task, completed=completed, info=info)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class Checkpointer:
    """Saves and restores everything a bit-identical resume needs, under ``run``.

    State: the model's and optimizer's (and scheduler's) ``state_dict``, torch's global RNG
    state (and CUDA's), the step, plus any ``extra`` tensors/numbers the caller adds.
    """

    def __init__(self, run: Run | None, name: str):
        self.run = run
        self.path = run.checkpoint_dir / f"{name}.pt" if run is not None else None

    @property
    def exists(self) -> bool:
        return self.path is not None and self.path.is_file()

    def save(self, step: int, model: nn.Module, optimizer, scheduler=None, **extra) -> None:
        if self.run is None or not self.run.writes:
            return
        state = {
            "step": step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            **extra,
        }
        if scheduler is not None:
            state["scheduler"] = scheduler.state_dict()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        save_checkpoint(self.path, state)

    def load(self, model: nn.Module, optimizer, scheduler=None,
             fingerprint: dict | None = None) -> dict[str, Any]:
        """Restore the states; refuse a checkpoint whose ``fingerprint`` (data size, batch,
        seed, parameter shapes) differs from this fit's: it belongs to another fit."""
        state = load_checkpoint(self.path)
        if fingerprint is not None and state.get("fingerprint", fingerprint) != fingerprint:
            saved = state["fingerprint"]
            differs = sorted(k for k in fingerprint.keys() | saved.keys()
                             if fingerprint.get(k) != saved.get(k))
            raise ValueError(
                f"checkpoint {self.path} belongs to a different fit (differs in "
                f"{', '.join(differs)}); give this fit another name= or start a new run"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and "scheduler" in state:
            scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return state


def check_finite(value: float, step: int, name: str, checkpointer: Checkpointer) -> None:
    """The NaN/Inf guard: stop with a message naming the step and the kept checkpoint."""
    if math.isfinite(value):
        return
    kept = (
        f"the last good checkpoint is kept at {checkpointer.path}"
        if checkpointer.exists
        else "no checkpoint was written before it"
    )
    raise NonFiniteLossError(
        f"{name}: the loss became {value} at step {step}; training stopped and {kept}. "
        "Lower the learning rate or check the data for NaN/Inf."
    )


def check_parameters_finite(model: nn.Module, step: int, name: str,
                            checkpointer: Checkpointer) -> None:
    """Refuse to checkpoint NaN/Inf parameters (a finite loss can hide an infinite gradient)."""
    for key, parameter in model.named_parameters():
        if not bool(torch.isfinite(parameter).all()):
            kept = (f"the last good checkpoint is kept at {checkpointer.path}"
                    if checkpointer.exists else "no checkpoint was written before it")
            raise NonFiniteLossError(
                f"{name}: parameter {key} became NaN/Inf by step {step}; training stopped and "
                f"{kept}. Lower the learning rate or check the loss's gradient."
            )


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


def _positive_int(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{argument} must be a positive int, got {value!r}")
    return value


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
        eval_data, metrics: evaluated every ``eval_every`` steps and at the end; ``metrics``
            maps a name to ``fn(output, y) -> scalar`` (default: the loss itself).
        run, name: with a ``Run``, records go to ``metrics.jsonl`` tagged ``fit=name`` and the
            checkpoint to ``checkpoints/<name>.pt`` every ``checkpoint_every`` steps and at
            the end. ``resume`` (default ``run.resume``) continues from that checkpoint; the
            result is bit-identical on CPU to an uninterrupted run.
        seed: seeds the batch order and torch's global RNG (dropout). Model initialization is
            the caller's (seed it before building the model).
        device: "auto" (CUDA when present), "cpu", "cuda", ...

    Raises ``NonFiniteLossError`` when the loss becomes NaN/Inf (the last good checkpoint is
    kept) and ``ValueError``/``TypeError`` naming the argument on bad input.
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
    batch_size = n if batch_size is None else _positive_int(batch_size, "batch_size")
    log_every = _positive_int(log_every, "log_every")
    if eval_every is not None:
        eval_every = _positive_int(eval_every, "eval_every")
    if metrics is not None and not isinstance(metrics, Mapping):
        raise TypeError("metrics must map a name to fn(output, y) -> scalar, "
                        f"got {type(metrics).__name__}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name must be letters, digits, '-', '_' or '.' (it names the "
                         f"checkpoint file), got {name!r}")
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
    total = _positive_int(steps, "steps") if steps is not None else (
        _positive_int(epochs, "epochs") * steps_per_epoch
    )
    checkpoint_every = (
        _positive_int(checkpoint_every, "checkpoint_every")
        if checkpoint_every is not None
        else max(1, total // 10)
    )

    model.to(device)
    optimizer = _make_optimizer(optimizer, model)
    if callable(scheduler) and not hasattr(scheduler, "step"):
        scheduler = scheduler(optimizer)
    train = tuple(t.to(device) for t in train)
    evaluation = None
    if eval_data is not None:
        evaluation = tuple(t.to(device) for t in as_tensors(eval_data, "eval_data"))
        if len(evaluation) == 1:
            evaluation = (evaluation[0], evaluation[0])
    if metrics is None:
        metrics = {} if takes_model else {"loss": loss_fn}

    checkpointer = Checkpointer(run, name)
    resume = run.resume if (resume is None and run is not None) else bool(resume)
    if resume and run is None:
        raise ValueError("resume=True needs run= (the run folder holding the checkpoint)")
    fingerprint = {
        "n": n, "batch_size": batch_size, "seed": seed, "world_size": world_size,
        "parameters": [[key, list(p.shape)] for key, p in model.named_parameters()],
    }
    start = 0
    window_loss, window_steps = 0.0, 0
    if resume and checkpointer.exists:
        state = checkpointer.load(model, optimizer, scheduler, fingerprint=fingerprint)
        start = int(state["step"])
        window_loss, window_steps = float(state["window_loss"]), int(state["window_steps"])
    else:
        torch.manual_seed(seed)
    history: list[dict[str, Any]] = []
    if run is not None and resume:  # drop records past the checkpoint; keep the ones before
        run.truncate_metrics(lambda r: r.get("fit") != name or r.get("step", 0) <= start)
        history = [r for r in run.read_metrics() if r.get("fit") == name]
    logged_losses = [r["train_loss"] for r in history if "train_loss" in r]
    last_train_loss = logged_losses[-1] if logged_losses else float("nan")
    evaluated_at = max((r["step"] for r in history if any(k.startswith("eval_") for k in r)),
                       default=None)

    # optimizers that re-evaluate the loss inside step() (L-BFGS) get a closure
    needs_closure = getattr(optimizer, "requires_closure",
                            isinstance(optimizer, torch.optim.LBFGS))
    net = distributed.wrap(model, device) if is_distributed else model

    def record(entry: dict[str, Any]) -> None:
        entry = {"fit": name, **entry}
        history.append(entry)
        if run is not None:
            run.log(entry)

    def evaluate_and_record() -> dict[str, float]:
        nonlocal evaluated_at
        scores = _evaluate(model, metrics, evaluation, max(batch_size, 1000))
        scores = {f"eval_{k}": v for k, v in scores.items()}
        record({"step": step, **scores})
        evaluated_at = step
        return scores

    batches = iterate_batches(
        train, batch_size, seed=seed, shuffle=shuffle, start_step=start,
        rank=rank, world_size=world_size,
    )
    bar = Progress(total, name, progress, per_step=batch_size)
    window_start = time.perf_counter()
    net.train()
    step = start
    try:
        while step < total:
            x, y = next(batches)
            if needs_closure:

                def closure(x=x, y=y):
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_fn(net, x, y) if takes_model else loss_fn(net(x), y)
                    loss.backward()
                    return loss

                loss = optimizer.step(closure)
            else:
                loss = loss_fn(net, x, y) if takes_model else loss_fn(net(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            value = distributed.mean_over_ranks(loss) if is_distributed else loss.item()
            step += 1
            check_finite(value, step, name, checkpointer)
            window_loss += value
            window_steps += 1
            if step % log_every == 0 or step == total:
                elapsed = time.perf_counter() - window_start
                last_train_loss = window_loss / window_steps
                record({
                    "step": step,
                    "train_loss": last_train_loss,
                    "samples_per_s": window_steps * batch_size / max(elapsed, 1e-9),
                })
                window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
            if evaluation is not None and metrics and eval_every and step % eval_every == 0:
                evaluate_and_record()
            if step % checkpoint_every == 0 or step == total:
                check_parameters_finite(model, step, name, checkpointer)
                checkpointer.save(step, model, optimizer, scheduler, fingerprint=fingerprint,
                                  window_loss=window_loss, window_steps=window_steps)
            bar.update(step, f"loss {value:.4g}")
    finally:
        bar.close()

    final: dict[str, float] = {"train_loss": last_train_loss}
    if evaluation is not None and metrics:
        if evaluated_at == step:
            final.update({k: v for r in history if r["step"] == step for k, v in r.items()
                          if k.startswith("eval_")})
        else:
            final.update(evaluate_and_record())
    return FitResult(model=model, steps=step, history=history, metrics=final)
