"""Task streams: a sequence of classification tasks and the scenario they are learned in.

van de Ven & Tolias (2019, "Three scenarios for continual learning") distinguish, for the same
sequence of tasks, what the model is asked at test time:

- **task-incremental** (``"task"``): the task identity is given; the model answers among the
  classes of that task only. Here one shared output layer of ``num_outputs`` units, restricted
  per task to that task's classes (a "multi-head" network whose heads share one layer);
- **domain-incremental** (``"domain"``): the task identity is not given and need not be
  inferred: every task has the same label set (permuted MNIST-1D's ten digits; split MNIST's
  "first or second class of the pair"), all outputs are used;
- **class-incremental** (``"class"``): the task identity is not given and must be inferred:
  one head over every class seen so far. Training on task t uses the outputs of the classes of
  tasks 0..t (the classes not yet seen are left out of the softmax); testing uses all of them.

Streams here:

- ``permuted_mnist1d(num_tasks)``: domain-IL; task k feeds MNIST-1D's 40 inputs through a fixed
  permutation π_k (x'_i = x_{π_k(i)}); task 0 is the identity, the others are drawn from
  ``rng``. (Goodfellow et al. 2013; Kirkpatrick et al. 2017 on MNIST.)
- ``split_digits(scenario)`` / ``split_mnist1d(scenario)``: the ten classes in five tasks of
  two, (0, 1), (2, 3), ..., (8, 9) (Zenke et al. 2017), in any of the three scenarios. For
  domain-IL the labels become 0 / 1 (first or second class of the pair) and the model has two
  outputs. scikit-learn's 8×8 digits are flattened to 64 features.

Targets: ``Stream.loss(outputs, y, t)`` takes either the labels ``y`` (N,) of task t, or
``with_task``-style rows (N, 2) = (label, task id) for batches that mix tasks (joint training,
replay): each example is then scored by its own task's rule (task-IL: its own task's classes;
class-IL: the classes seen up to t; domain-IL: all outputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..core import checks
from ..data import datasets

__all__ = ["SCENARIOS", "Stream", "Task", "permuted_mnist1d", "permuted_stream", "split_digits",
           "split_mnist1d", "split_stream"]

#: the three scenarios of van de Ven & Tolias (2019)
SCENARIOS = ("task", "domain", "class")

#: split streams: the ten classes in five tasks of two, in label order (Zenke et al. 2017)
SPLIT_CLASSES = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


@dataclass(frozen=True, eq=False)
class Task:
    """One task: ``train`` = (X, y) and ``test`` = (X, y) tensors, ``classes`` = the label values
    its data holds (for domain-IL split streams: (0, 1))."""

    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    classes: tuple[int, ...]

    def __post_init__(self) -> None:
        for label in ("train", "test"):
            pair = getattr(self, label)
            if (not isinstance(pair, tuple) or len(pair) != 2
                    or not all(isinstance(t, Tensor) for t in pair)):
                raise TypeError(f"{label} must be a tuple (X, y) of tensors, got {pair!r:.80}")
            x, y = pair
            if len(x) == 0:
                raise ValueError(f"{label}: a task needs at least one example")
            if len(x) != len(y):
                raise ValueError(f"{label}: X has {len(x)} rows, y has {len(y)}")
            if y.dim() != 1 or y.dtype != torch.int64:
                raise ValueError(f"{label}: y must be int64 labels of shape (N,), got "
                                 f"{y.dtype} {tuple(y.shape)}")
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be distinct labels, got {self.classes!r}")


@dataclass(frozen=True, eq=False)
class Stream:
    """A sequence of tasks learned in one scenario, by a model with ``num_outputs`` outputs.

    ``logits(outputs, t, training=...)`` are the columns of ``outputs`` the scenario's rule
    uses for task t (module docstring); ``loss`` is their cross-entropy; ``accuracy`` scores a
    model on task t's test set by the same rule (prediction = argmax over those columns).
    """

    name: str
    scenario: str
    tasks: tuple[Task, ...]
    num_outputs: int
    _columns: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checks.choice(self.scenario, "scenario", SCENARIOS)
        if not isinstance(self.tasks, tuple) or not all(isinstance(t, Task) for t in self.tasks):
            raise TypeError("tasks must be a tuple of Task")
        if not self.tasks:
            raise ValueError("tasks: a stream needs at least one task (got an empty stream)")
        outputs = checks.positive_int(self.num_outputs, "num_outputs")
        for t, task in enumerate(self.tasks):
            if min(task.classes) < 0 or max(task.classes) >= outputs:
                raise ValueError(f"tasks[{t}].classes {task.classes} must lie in "
                                 f"[0, num_outputs={outputs})")
        # per task: (columns used in training, columns used at test); None = all outputs
        columns = []
        seen: set[int] = set()
        for task in self.tasks:
            seen |= set(task.classes)
            if self.scenario == "task":
                own = torch.tensor(sorted(task.classes))
                columns.append((own, own))
            elif self.scenario == "class":
                columns.append((torch.tensor(sorted(seen)), None))
            else:
                columns.append((None, None))
        object.__setattr__(self, "_columns", tuple(columns))
        masks = torch.zeros(len(self.tasks), outputs, dtype=torch.bool)
        for t, task in enumerate(self.tasks):
            masks[t, list(task.classes)] = True
        object.__setattr__(self, "_masks", masks)

    def __len__(self) -> int:
        return len(self.tasks)

    def _task_index(self, t) -> int:
        t = checks.integer(t, "t")
        if not 0 <= t < len(self.tasks):
            raise ValueError(f"t must be a task index in [0, {len(self.tasks)}), got {t}")
        return t

    def columns(self, t: int, *, training: bool) -> Tensor | None:
        """The output columns task t is scored on (sorted class labels), None for all."""
        return self._columns[self._task_index(t)][0 if training else 1]

    def logits(self, outputs: Tensor, t: int, *, training: bool) -> Tensor:
        """The scenario's logits for task t: task-IL ``outputs[:, classes of t]``; domain-IL
        ``outputs``; class-IL ``outputs`` at test, ``outputs[:, classes of tasks 0..t]`` in
        training. Columns are in increasing class order (``columns(t, training=...)``)."""
        columns = self.columns(t, training=training)
        return outputs if columns is None else outputs[:, columns.to(outputs.device)]

    def targets(self, y: Tensor, t: int, *, training: bool) -> Tensor:
        """Labels ``y`` as indices into ``logits(..., t, training=training)``'s columns; a label
        outside them raises ValueError."""
        columns = self.columns(t, training=training)
        if columns is None:
            return y
        table = torch.full((self.num_outputs,), -1, dtype=torch.int64)
        table[columns] = torch.arange(len(columns))
        table = table.to(y.device)
        if bool(((y < 0) | (y >= self.num_outputs)).any()):
            raise ValueError(f"y holds labels outside [0, {self.num_outputs})")
        index = table[y]
        if bool((index < 0).any()):
            raise ValueError(f"y holds labels outside task {t}'s classes "
                             f"{columns.tolist()} ({self.scenario}-incremental)")
        return index

    def loss(self, outputs: Tensor, y: Tensor, t: int) -> Tensor:
        """Mean cross-entropy of ``logits(outputs, t, training=True)`` against ``y``.

        ``y`` is (N,) labels of task t, or (N, 2) rows (label, task id) (``with_task``): then in
        task-IL each example is scored on its own task's classes (its row's other outputs masked
        to −∞, which gives the same softmax as slicing), in class-IL on the classes of tasks
        0..t, in domain-IL on all outputs."""
        t = self._task_index(t)
        if y.dim() == 2 and y.shape[1] == 2:
            labels, task_ids = y[:, 0], y[:, 1]
            if bool(((task_ids < 0) | (task_ids > t)).any()):
                raise ValueError(f"y: task ids must lie in [0, t={t}]")
            if self.scenario == "task":
                allowed = self._masks.to(outputs.device)[task_ids]
                if bool((~allowed.gather(1, labels[:, None])).any()):
                    raise ValueError("y holds labels outside their own task's classes")
                return F.cross_entropy(outputs.masked_fill(~allowed, float("-inf")), labels)
            y = labels
        elif y.dim() != 1:
            raise ValueError(f"y must be labels (N,) or (label, task) rows (N, 2), got shape "
                             f"{tuple(y.shape)}")
        return F.cross_entropy(self.logits(outputs, t, training=True),
                               self.targets(y, t, training=True))

    def predict(self, outputs: Tensor, t: int) -> Tensor:
        """Predicted class labels for task t at test time: argmax over the scenario's test
        columns, mapped back to labels."""
        columns = self.columns(t, training=False)
        best = outputs.argmax(dim=1) if columns is None else \
            columns.to(outputs.device)[self.logits(outputs, t, training=False).argmax(dim=1)]
        return best

    def accuracy(self, model: nn.Module, t: int, *, batch_size: int = 4096) -> float:
        """Fraction of task t's test examples ``model`` classifies correctly (the scenario's
        test rule, ``predict``), in eval mode without gradients; the model's mode is restored."""
        t = self._task_index(t)
        x, y = self.tasks[t].test
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb = x[start:start + batch_size].to(device)
                yb = y[start:start + batch_size].to(device)
                correct += int((self.predict(model(xb), t) == yb).sum())
        model.train(was_training)
        return correct / len(x)

    def accuracies(self, model: nn.Module) -> list[float]:
        """``accuracy(model, j)`` for every task j (one row of the accuracy matrix)."""
        return [self.accuracy(model, j) for j in range(len(self.tasks))]

    def to(self, device) -> Stream:
        """The same stream with every tensor on ``device``."""
        moved = tuple(Task(train=tuple(a.to(device) for a in task.train),
                           test=tuple(a.to(device) for a in task.test), classes=task.classes)
                      for task in self.tasks)
        return Stream(self.name, self.scenario, moved, self.num_outputs)


# ---------------------------------------------------------------------------------------------
# builders


def _pair(data, name: str) -> tuple[Tensor, Tensor]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y) of tensors")
    x = checks.tensor(data[0], f"{name}[0]")
    y = checks.tensor(data[1], f"{name}[1]", ndim=1, floating=False)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{name}: X and y must have the same non-zero number of rows, got "
                         f"{len(x)} and {len(y)}")
    return x, y.long()


def permutations(num_tasks: int, size: int, *, rng: torch.Generator | None = None,
                 identity_first: bool = True) -> list[Tensor]:
    """``num_tasks`` permutations of ``range(size)``: the first is the identity when
    ``identity_first`` (the original task), the rest ``torch.randperm(size)`` from ``rng``."""
    num_tasks = checks.positive_int(num_tasks, "num_tasks")
    size = checks.positive_int(size, "size")
    rng = checks.generator(rng, "rng")
    found = [torch.arange(size)] if identity_first else []
    while len(found) < num_tasks:
        found.append(torch.randperm(size, generator=rng))
    return found


def permuted_stream(train, test, num_tasks: int = 5, *, rng: torch.Generator | None = None,
                    identity_first: bool = True, name: str = "permuted") -> Stream:
    """Domain-incremental stream: task k = (X[:, π_k], y) for train and test, with π_k from
    ``permutations(num_tasks, features, rng=rng, identity_first=...)`` (X flattened to
    (N, features)). Every task has all the labels; ``num_outputs`` = max label + 1."""
    x_train, y_train = _pair(train, "train")
    x_test, y_test = _pair(test, "test")
    x_train, x_test = x_train.flatten(1), x_test.flatten(1)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train has {x_train.shape[1]} features, test {x_test.shape[1]}")
    orders = permutations(num_tasks, x_train.shape[1], rng=rng, identity_first=identity_first)
    classes = tuple(sorted(set(y_train.tolist()) | set(y_test.tolist())))
    tasks = tuple(Task(train=(x_train[:, p], y_train), test=(x_test[:, p], y_test),
                       classes=classes) for p in orders)
    return Stream(name, "domain", tasks, max(classes) + 1)


def split_stream(train, test, scenario: str, *,
                 classes: Sequence[Sequence[int]] = SPLIT_CLASSES,
                 name: str = "split") -> Stream:
    """Split stream: task k holds the examples whose label is in ``classes[k]`` (X flattened).

    task-IL and class-IL keep the labels and use ``1 + max label`` outputs; domain-IL relabels
    each task's classes to 0, 1, ... (position in ``classes[k]``) and uses ``max |classes[k]|``
    outputs."""
    scenario = checks.choice(scenario, "scenario", SCENARIOS)
    x_train, y_train = _pair(train, "train")
    x_test, y_test = _pair(test, "test")
    groups = [tuple(int(c) for c in group) for group in classes]
    if not groups:
        raise ValueError("classes: a split stream needs at least one task (got none)")
    flat = [c for group in groups for c in group]
    if any(not group for group in groups) or len(set(flat)) != len(flat):
        raise ValueError(f"classes must be non-empty, disjoint groups, got {classes!r}")
    tasks = []
    for k, group in enumerate(groups):
        parts = []
        for label, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
            keep = torch.isin(y, torch.tensor(group))
            if not bool(keep.any()):
                raise ValueError(f"classes[{k}] = {group}: no {label} example has those labels")
            xs, ys = x[keep].flatten(1), y[keep]
            if scenario == "domain":
                # position in the group as given (not sorted) so (3, 2) maps 3 → 0
                ys = torch.tensor([group.index(v) for v in y[keep].tolist()])
            parts.append((xs, ys))
        task_classes = tuple(range(len(group))) if scenario == "domain" else group
        tasks.append(Task(train=parts[0], test=parts[1], classes=task_classes))
    outputs = max(len(g) for g in groups) if scenario == "domain" else max(flat) + 1
    return Stream(name, scenario, tuple(tasks), outputs)


def permuted_mnist1d(num_tasks: int = 5, *, rng: torch.Generator | None = None) -> Stream:
    """Permuted MNIST-1D (domain-IL): ``num_tasks`` tasks over MNIST-1D's 40 inputs (4,000
    train / 1,000 test each), task 0 the original order, tasks 1.. a permutation each drawn
    from ``rng``; ten outputs."""
    return permuted_stream(datasets.mnist1d("train"), datasets.mnist1d("test"), num_tasks,
                           rng=rng, name="permuted-mnist1d")


def split_mnist1d(scenario: str = "class") -> Stream:
    """Split MNIST-1D: five tasks of two digits (0/1, 2/3, ..., 8/9) in ``scenario``."""
    return split_stream(datasets.mnist1d("train"), datasets.mnist1d("test"), scenario,
                        name=f"split-mnist1d-{scenario}")


def split_digits(scenario: str = "class") -> Stream:
    """Split digits (scikit-learn's 8×8 digits, flattened to 64 inputs): five tasks of two
    digits in ``scenario``."""
    return split_stream(datasets.digits("train"), datasets.digits("test"), scenario,
                        name=f"split-digits-{scenario}")
