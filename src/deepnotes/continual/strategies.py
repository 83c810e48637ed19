"""Continual-learning strategies: hooks around ``engine.fit``, never a loop of their own.

``train.train_stream`` trains task t as

    strategy.begin_task(model, stream, t)
    fit(model, loss = stream.loss(model(x), y, t) + strategy.penalty(model, x, y, stream, t),
        data = strategy.train_data(stream, t))
    strategy.end_task(model, stream, t)

so a strategy changes what is trained on (``train_data``: joint training), what is added to
the loss (``penalty``: replay, EWC, LwF) and what it remembers between tasks (``end_task``).
Its memory goes in ``state_dict`` (tensors and numbers only, so checkpoints load with
``weights_only=True``); ``train_stream`` checkpoints it mid-task and between tasks.

Baselines (van de Ven & Tolias 2019, section 4):

- ``Finetune``: plain training on each task in turn (the lower bound: nothing protects the old
  tasks);
- ``Joint``: task t trains on the union of tasks 0..t (the upper bound of a sequential learner
  with all the data);
- ``Replay(buffer_size)``: experience replay with a reservoir buffer (``Reservoir``, Vitter's
  algorithm R) holding a uniform sample of every training example seen so far; each step adds
  the loss on a batch drawn from the buffer (Chaudhry et al. 2019, "On tiny episodic memories
  in continual learning").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..core import checks
from ..core.rng import make_generator
from .tasks import Stream

__all__ = ["Finetune", "Joint", "Replay", "Reservoir", "Strategy", "with_task"]


def with_task(y: Tensor, t: int) -> Tensor:
    """Labels ``y`` (N,) as rows (label, t) of an (N, 2) int64 tensor: the targets of a batch
    that mixes tasks (``Stream.loss`` scores each row by its own task's rule)."""
    y = checks.tensor(y, "y", ndim=1, floating=False)
    t = checks.nonnegative_int(t, "t")
    return torch.stack([y.long(), torch.full_like(y, t, dtype=torch.long)], dim=1)


class Strategy:
    """Hooks around ``engine.fit``; a strategy never writes its own loop.

    The default is fine-tuning: train on task t's data, no penalty, nothing remembered.
    """

    name: str = "finetune"

    def train_data(self, stream: Stream, t: int) -> tuple[Tensor, Tensor]:
        """The (X, y) ``fit`` trains task t on: ``stream.tasks[t].train``."""
        return stream.tasks[t].train

    def begin_task(self, model: nn.Module, stream: Stream, t: int) -> None:
        """Called before task t's fit."""

    def penalty(self, model: nn.Module, x: Tensor, y: Tensor, stream: Stream,
                t: int) -> Tensor | float:
        """Added to ``stream.loss(model(x), y, t)`` at every step; default 0."""
        return 0.0

    def end_task(self, model: nn.Module, stream: Stream, t: int) -> None:
        """Called after task t's fit, before the accuracies are measured."""

    def state_dict(self) -> dict:
        """What the strategy remembers (tensors and numbers only)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got keys {sorted(state)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Finetune(Strategy):
    """Train on each task in turn, nothing else (the lower bound)."""

    name = "finetune"


class Joint(Strategy):
    """Task t trains on the union of the training sets of tasks 0..t (the upper bound).

    The targets are ``with_task`` rows, so in task-IL each example is scored on its own task's
    classes; ``steps_per_task`` stays the same, so later tasks see each example less often."""

    name = "joint"

    def train_data(self, stream: Stream, t: int) -> tuple[Tensor, Tensor]:
        xs = [stream.tasks[s].train[0] for s in range(t + 1)]
        ys = [with_task(stream.tasks[s].train[1], s) for s in range(t + 1)]
        return torch.cat(xs), torch.cat(ys)


class Reservoir:
    """A fixed-capacity uniform sample of a stream of examples (Vitter 1985, algorithm R).

    The n-th example offered (n = 0, 1, ...) fills slot n while n < K = ``capacity``; after that
    it replaces slot j = ⌊u·(n+1)⌋, u ~ U[0, 1) (``rng``), when j < K, i.e. with probability
    K/(n+1). After N ≥ K examples every one of them is in the buffer with probability K/N:
    example n is taken w.p. min(1, K/(n+1)) and then survives each later arrival m (which
    overwrites its slot w.p. 1/(m+1)), so P = min(1, K/(n+1)) · Π_{m=max(n+1, K)}^{N−1}
    m/(m+1) = K/N.

    ``x`` and ``y`` hold the ``len(self)`` stored examples (rows of whatever was offered).
    """

    def __init__(self, capacity: int, *, rng: torch.Generator | None = None):
        self.capacity = checks.positive_int(capacity, "capacity")
        self.rng = checks.generator(rng, "rng")
        self.seen = 0
        self.x: Tensor | None = None
        self.y: Tensor | None = None

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def add(self, x: Tensor, y: Tensor) -> None:
        """Offer the examples (x[i], y[i]) in order."""
        x = checks.tensor(x, "x")
        y = checks.tensor(y, "y")
        m = len(x)
        if len(y) != m:
            raise ValueError(f"x has {m} rows, y has {len(y)}")
        if m == 0:
            return
        if self.x is None:
            self.x = x.new_zeros((self.capacity, *x.shape[1:]))
            self.y = y.new_zeros((self.capacity, *y.shape[1:]))
        elif x.shape[1:] != self.x.shape[1:] or y.shape[1:] != self.y.shape[1:]:
            raise ValueError(f"x, y rows of shape {tuple(x.shape[1:])}, {tuple(y.shape[1:])} "
                             f"do not match the buffer's {tuple(self.x.shape[1:])}, "
                             f"{tuple(self.y.shape[1:])}")
        n = self.seen + torch.arange(m, dtype=torch.float64)
        u = torch.rand(m, dtype=torch.float64, generator=self.rng)
        slot = torch.where(n < self.capacity, n, torch.floor(u * (n + 1))).long()
        accepted = torch.nonzero(slot < self.capacity).flatten().tolist()
        source: dict[int, int] = {}
        slots = slot.tolist()
        for i in accepted:  # in arrival order: a later example overwrites an earlier one
            source[slots[i]] = i
        if source:
            targets = torch.tensor(list(source.keys()), device=self.x.device)
            rows = torch.tensor(list(source.values()), device=x.device)
            self.x[targets] = x[rows].to(self.x.device)
            self.y[targets] = y[rows].to(self.y.device)
        self.seen += m

    def sample(self, size: int) -> tuple[Tensor, Tensor]:
        """``size`` stored examples drawn uniformly with replacement (``rng``)."""
        size = checks.positive_int(size, "size")
        if len(self) == 0:
            raise ValueError("the reservoir is empty: nothing to sample")
        index = torch.randint(len(self), (size,), generator=self.rng)
        index = index.to(self.x.device)
        return self.x[index], self.y[index]

    def state_dict(self) -> dict:
        state = {"seen": self.seen, "capacity": self.capacity}
        if self.x is not None:
            state.update(x=self.x.clone(), y=self.y.clone())
        if self.rng is not None:
            state["rng"] = self.rng.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"state holds a reservoir of capacity {int(state['capacity'])}, "
                             f"this one has {self.capacity}")
        self.seen = int(state["seen"])
        self.x = state["x"].clone() if "x" in state else None
        self.y = state["y"].clone() if "y" in state else None
        if "rng" in state:
            if self.rng is None:
                raise ValueError("state holds a generator state but this reservoir has rng=None")
            self.rng.set_state(state["rng"])


class Replay(Strategy):
    """Experience replay from a reservoir buffer of ``buffer_size`` examples.

    ``end_task`` offers task t's training examples, with their task id (``with_task``), to a
    ``Reservoir``; so after tasks 0..t the buffer is a uniform sample of all of them. At each
    step of a later task the penalty is the loss on ``batch_size`` buffered examples (default:
    as many as the step's batch) drawn uniformly, each scored by its own task's rule
    (``Stream.loss`` with (label, task) rows; class-IL: over the classes seen so far):

        loss = L_new(batch) + L(buffer batch)

    = twice the mean loss of the mixed batch, new and replayed examples weighted equally.
    ``rng`` (or a generator seeded ``seed``) draws both the reservoir's slots and the batches;
    its state is in ``state_dict``.
    """

    name = "replay"

    def __init__(self, buffer_size: int, *, batch_size: int | None = None,
                 rng: torch.Generator | None = None, seed: int = 0):
        self.buffer_size = checks.positive_int(buffer_size, "buffer_size")
        self.batch_size = (None if batch_size is None
                           else checks.positive_int(batch_size, "batch_size"))
        rng = checks.generator(rng, "rng")
        self.buffer = Reservoir(self.buffer_size,
                                rng=rng if rng is not None else make_generator(seed))

    def penalty(self, model, x, y, stream, t):
        if len(self.buffer) == 0:
            return 0.0
        xb, yb = self.buffer.sample(self.batch_size or len(x))
        device = x.device
        return stream.loss(model(xb.to(device)), yb.to(device), t)

    def end_task(self, model, stream, t):
        x, y = stream.tasks[t].train
        self.buffer.add(x, with_task(y, t))

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.buffer.load_state_dict(state["buffer"])

    def __repr__(self) -> str:
        return f"Replay(buffer_size={self.buffer_size})"
