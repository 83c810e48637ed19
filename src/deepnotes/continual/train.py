"""``train_stream``: one model, one stream, one strategy, task after task through ``engine.fit``.

For each task t of the stream:

    strategy.begin_task(model, stream, t)
    engine.fit(model, loss = stream.loss(model(x), y, t) + strategy.penalty(model, x, y, ...),
               fresh optimizer, strategy.train_data(stream, t), steps=steps_per_task,
               run=run, name=f"task{t}")
    strategy.end_task(model, stream, t)
    R[t, j] = stream.accuracy(model, j) for every task j

The accuracy matrix R (``metrics``) is the result. With a run folder, ``fit`` checkpoints each
task's training (``checkpoints/task<t>.pt``, the strategy's state included as a stateful
callback) and after each task the stream's own state (``checkpoints/stream.pt``: tasks done,
R so far, model and strategy) is written atomically; a resumed run continues at the task it
was in, from fit's last checkpoint, and ends with the same R, bit for bit on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..core import checks
from ..core.rng import RandomStreams, check_seed
from ..engine import fit
from ..engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..engine.devices import resolve_device
from ..engine.run import Run
from . import metrics
from .strategies import Strategy
from .tasks import Stream

__all__ = ["OPTIMIZERS", "STREAM_CHECKPOINT", "ContinualResult", "train_stream"]

#: the optimizers ``train_stream`` builds afresh for every task
OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}

#: the stream's own checkpoint in the run's checkpoint folder
STREAM_CHECKPOINT = "stream.pt"
_FORMAT = "deepnotes-continual-stream/1"


@dataclass
class ContinualResult:
    """What ``train_stream`` returns: the accuracy matrix ``accuracy`` (T×T float64, R[i, j]
    = accuracy on task j after training on task i), the trained ``model``, the strategy's and
    the stream's names, and each task's ``fit`` history."""

    accuracy: Tensor
    model: nn.Module
    strategy: str
    scenario: str
    histories: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def average_accuracy(self) -> float:
        return metrics.average_accuracy(self.accuracy)

    @property
    def average_forgetting(self) -> float | None:
        """None for a single task (forgetting is undefined)."""
        return metrics.average_forgetting(self.accuracy) if len(self.accuracy) > 1 else None

    @property
    def backward_transfer(self) -> float | None:
        return metrics.backward_transfer(self.accuracy) if len(self.accuracy) > 1 else None


class _StrategyState:
    """A do-nothing ``fit`` callback whose state is the strategy's: ``fit`` checkpoints it with
    the task's training state and restores it on resume (replay's generator moves every
    step)."""

    def __init__(self, strategy: Strategy):
        self.strategy = strategy

    def __call__(self, step: int, loss: float, model: nn.Module) -> None:
        pass

    def state_dict(self) -> dict:
        return self.strategy.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.strategy.load_state_dict(state)


class _StreamLoss:
    """``fit``'s loss for task t: ``stream.loss(model(x), y, t) + strategy.penalty(...)``."""

    takes_model = True

    def __init__(self, stream: Stream, strategy: Strategy, t: int):
        self.stream, self.strategy, self.t = stream, strategy, t

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        loss = self.stream.loss(model(x), y, self.t)
        return loss + self.strategy.penalty(model, x, y, self.stream, self.t)


def train_stream(model: nn.Module, stream: Stream, strategy: Strategy, *, steps_per_task: int,
                 batch_size: int, lr: float, optimizer: str = "adam", run: Run | None = None,
                 device: str | torch.device = "auto", seed: int = 0,
                 resume: bool | None = None) -> ContinualResult:
    """Train ``model`` on ``stream``'s tasks in order with ``strategy`` (module docstring).

    Arguments:
        steps_per_task, batch_size: each task's ``fit``: that many minibatch steps.
        lr, optimizer: a fresh ``"adam"`` or ``"sgd"`` optimizer with learning rate ``lr`` for
            every task (no optimizer state crosses a task boundary).
        run, resume: checkpoints and records in the run folder (records tagged
            ``fit=task<t>``; after each task one record ``{"fit": "stream", "task": t,
            "accuracy": R[t]}``); ``resume`` (default ``run.resume``) continues an interrupted
            stream.
        seed: task t's fit is seeded ``RandomStreams(seed).seed(f"task{t}")`` (batch order,
            torch's global RNG), and torch's global RNG is reseeded from
            ``f"begin{t}"`` before ``begin_task``. Model initialization is the caller's.
        device: "auto" (CUDA when present), "cpu", ...

    Raises ``CheckpointError`` when resuming from a stream checkpoint of another stream,
    strategy or configuration, ValueError/TypeError naming the argument on bad input.
    """
    model = checks.module(model, "model")
    if not isinstance(stream, Stream):
        raise TypeError(f"stream must be a continual.Stream, got {type(stream).__name__}")
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be a continual.Strategy, got {type(strategy).__name__}")
    steps_per_task = checks.positive_int(steps_per_task, "steps_per_task")
    batch_size = checks.positive_int(batch_size, "batch_size")
    lr = checks.positive_number(lr, "lr")
    optimizer = checks.choice(optimizer, "optimizer", OPTIMIZERS)
    seed = check_seed(seed)
    if run is not None and not isinstance(run, Run):
        raise TypeError(f"run must be an engine.Run or None, got {type(run).__name__}")
    resume = run.resume if (resume is None and run is not None) else bool(resume)
    if resume and run is None:
        raise ValueError("resume=True needs run= (the run folder holding the checkpoints)")

    device = resolve_device(device)
    model.to(device)
    if device.type != "cpu":
        stream = stream.to(device)
    streams = RandomStreams(seed)
    T = len(stream)
    R = torch.zeros(T, T, dtype=torch.float64)
    fingerprint = {"stream": stream.name, "scenario": stream.scenario, "tasks": T,
                   "strategy": strategy.name, "steps_per_task": steps_per_task,
                   "batch_size": batch_size, "lr": lr, "optimizer": optimizer, "seed": seed}
    path = run.checkpoint_dir / STREAM_CHECKPOINT if run is not None else None
    start = 0
    if resume and path.is_file():
        start = _restore(path, fingerprint, model, strategy, R)
    if run is not None and resume:
        run.truncate_metrics(lambda r: r.get("fit") != "stream" or r.get("task", 0) < start)
    histories: list[list[dict[str, Any]]] = []
    if run is not None:
        logged = run.read_metrics()
        histories = [[r for r in logged if r.get("fit") == f"task{t}"] for t in range(start)]
    factory = OPTIMIZERS[optimizer]

    for t in range(start, T):
        torch.manual_seed(streams.seed(f"begin{t}"))
        strategy.begin_task(model, stream, t)
        fitted = fit(model, _StreamLoss(stream, strategy, t),
                     lambda parameters: factory(parameters, lr=lr),
                     strategy.train_data(stream, t), steps=steps_per_task,
                     batch_size=batch_size, log_every=max(1, steps_per_task // 10), run=run,
                     name=f"task{t}", device=device, seed=streams.seed(f"task{t}"),
                     resume=resume, progress=False, callbacks=[_StrategyState(strategy)])
        histories.append(fitted.history)
        strategy.end_task(model, stream, t)
        R[t] = torch.tensor(stream.accuracies(model), dtype=torch.float64)
        if run is not None:
            run.log({"fit": "stream", "task": t, "accuracy": R[t].tolist()})
            if run.writes:
                save_checkpoint(path, {
                    "format": _FORMAT, "completed": t + 1, "fingerprint": fingerprint,
                    "accuracy": R.clone(), "model": model.state_dict(),
                    "strategy": strategy.state_dict()})
    return ContinualResult(accuracy=R, model=model, strategy=strategy.name,
                           scenario=stream.scenario, histories=histories)


def _restore(path, fingerprint: dict, model: nn.Module, strategy: Strategy, R: Tensor) -> int:
    """Load the stream checkpoint into ``model``, ``strategy`` and ``R``; the tasks done."""
    state = load_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise CheckpointError(f"checkpoint {path}: foreign, not a continual stream checkpoint")
    saved = state.get("fingerprint", {})
    differ = sorted(k for k in fingerprint if saved.get(k) != fingerprint[k])
    if differ:
        raise CheckpointError(
            f"checkpoint {path}: incompatible, written by another stream run ("
            + ", ".join(f"{k}: {saved.get(k)!r} there, {fingerprint[k]!r} here" for k in differ)
            + ")")
    try:
        model.load_state_dict(state["model"])
        strategy.load_state_dict(state["strategy"])
        R.copy_(state["accuracy"])
        return int(state["completed"])
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"checkpoint {path}: incompatible or corrupt "
                              f"({type(err).__name__}: {err})") from err
