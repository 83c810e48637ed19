"""continual.tasks: stream shapes, disjoint split classes, permutations, seeds, scenario rules."""

import pytest
import torch
from torch.nn import functional as F

from deepnotes.continual import (
    SCENARIOS,
    Stream,
    Task,
    permuted_stream,
    split_digits,
    split_stream,
    with_task,
)
from deepnotes.continual.tasks import SPLIT_CLASSES, permutations


def blobs(n=300, features=6, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, features, generator=g) + 3 * F.one_hot(y % features, features).float()
    return x, y


def test_permutations_are_permutations_identity_first_and_seeded():
    perms = permutations(5, 40, rng=torch.Generator().manual_seed(3))
    assert len(perms) == 5
    assert torch.equal(perms[0], torch.arange(40))
    for p in perms:
        assert torch.equal(torch.sort(p).values, torch.arange(40))
    assert all(not torch.equal(p, torch.arange(40)) for p in perms[1:])
    again = permutations(5, 40, rng=torch.Generator().manual_seed(3))
    other = permutations(5, 40, rng=torch.Generator().manual_seed(4))
    assert all(torch.equal(a, b) for a, b in zip(perms, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(perms[1:], other[1:], strict=True))
    assert not torch.equal(permutations(2, 40, rng=torch.Generator().manual_seed(3),
                                        identity_first=False)[0], torch.arange(40))


def test_permuted_stream_applies_each_permutation_to_train_and_test():
    train, test = blobs(200), blobs(100, seed=1)
    stream = permuted_stream(train, test, 4, rng=torch.Generator().manual_seed(0))
    perms = permutations(4, 6, rng=torch.Generator().manual_seed(0))
    assert stream.scenario == "domain" and len(stream) == 4 and stream.num_outputs == 10
    for task, p in zip(stream.tasks, perms, strict=True):
        assert task.train[0].shape == (200, 6) and task.test[0].shape == (100, 6)
        assert torch.equal(task.train[0], train[0][:, p])
        assert torch.equal(task.test[0], test[0][:, p])
        assert torch.equal(task.train[1], train[1]) and task.classes == tuple(range(10))
    assert torch.equal(stream.tasks[0].train[0], train[0])  # task 0 is the identity


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_split_digits_tasks_are_disjoint_and_cover_the_data(scenario):
    stream = split_digits(scenario)
    assert len(stream) == 5 and stream.scenario == scenario
    assert stream.num_outputs == (2 if scenario == "domain" else 10)
    n_train = sum(len(t.train[0]) for t in stream.tasks)
    n_test = sum(len(t.test[0]) for t in stream.tasks)
    assert (n_train, n_test) == (1347, 450)
    for task, group in zip(stream.tasks, SPLIT_CLASSES, strict=True):
        assert task.train[0].shape[1] == 64
        for _, y in (task.train, task.test):
            assert set(y.tolist()) == set(task.classes)
        assert task.classes == ((0, 1) if scenario == "domain" else group)
    if scenario != "domain":
        seen = [set(t.classes) for t in stream.tasks]
        assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1:])
        assert set().union(*seen) == set(range(10))


def test_split_domain_relabels_to_position_in_the_pair():
    x, y = blobs(200)
    klass = split_stream((x, y), (x, y), "class")
    domain = split_stream((x, y), (x, y), "domain")
    for k, (c, d) in enumerate(zip(klass.tasks, domain.tasks, strict=True)):
        assert torch.equal(c.train[0], d.train[0])
        assert torch.equal(d.train[1], c.train[1] - 2 * k)


def test_scenario_columns_and_loss():
    x, y = blobs(100)
    outputs = torch.randn(8, 10, generator=torch.Generator().manual_seed(0))
    task = split_stream((x, y), (x, y), "task")
    klass = split_stream((x, y), (x, y), "class")
    labels = torch.tensor([4, 5, 5, 4, 4, 5, 4, 5])
    # task-IL: the two columns of task 2, labels 4/5 -> 0/1
    assert torch.equal(task.logits(outputs, 2, training=True), outputs[:, 4:6])
    assert torch.allclose(task.loss(outputs, labels, 2),
                          F.cross_entropy(outputs[:, 4:6], labels - 4))
    # class-IL: training on classes 0..5, test on all ten
    assert torch.equal(klass.logits(outputs, 2, training=True), outputs[:, :6])
    assert torch.equal(klass.logits(outputs, 2, training=False), outputs)
    assert torch.allclose(klass.loss(outputs, labels, 2), F.cross_entropy(outputs[:, :6], labels))
    # (label, task) rows: in task-IL each example on its own task's classes
    mixed = torch.tensor([0, 3, 4, 1, 5, 2, 9, 8])
    rows = torch.stack([mixed, mixed // 2], 1)
    pairs = [outputs[i:i + 1, 2 * (int(c) // 2):2 * (int(c) // 2) + 2] for i, c in enumerate(mixed)]
    expected = torch.stack([F.cross_entropy(pair, (c % 2)[None])
                            for pair, c in zip(pairs, mixed, strict=True)]).mean()
    assert torch.allclose(task.loss(outputs, rows, 4), expected)
    assert torch.allclose(klass.loss(outputs, rows, 4), F.cross_entropy(outputs, mixed))
    assert torch.equal(with_task(labels, 2), torch.stack([labels, torch.full_like(labels, 2)], 1))
    with pytest.raises(ValueError, match="task 2's classes"):
        task.loss(outputs, torch.full((8,), 7), 2)
    with pytest.raises(ValueError, match="task ids"):
        task.loss(outputs, rows, 3)  # rows of task 4 while training task 3


class Oracle(torch.nn.Module):
    """Outputs a fixed score table indexed by the example's first feature (its row id)."""

    def __init__(self, scores):
        super().__init__()
        self.scores = torch.nn.Parameter(scores)

    def forward(self, x):
        return self.scores[x[:, 0].long()]


def test_accuracy_uses_the_scenarios_test_rule():
    y = torch.arange(10)
    x = torch.stack([torch.arange(10.0), torch.zeros(10)], 1)
    scores = torch.zeros(10, 10)
    scores[:, 9] = 5.0  # everything scores highest on class 9 ...
    scores[y, y] = 1.0  # ... and second-highest on its own class
    model = Oracle(scores)
    task = split_stream((x, y), (x, y), "task")
    klass = split_stream((x, y), (x, y), "class")
    # task-IL restricts to the pair: right on tasks 0-3, on task 4 only the 9 is right
    assert task.accuracies(model) == [1.0, 1.0, 1.0, 1.0, 0.5]
    # class-IL takes the argmax over all ten: only the 9
    assert klass.accuracies(model) == [0.0, 0.0, 0.0, 0.0, 0.5]
    assert model.training  # mode restored


def test_bad_input_names_the_argument():
    x, y = blobs(50)
    with pytest.raises(ValueError, match="scenario"):
        split_stream((x, y), (x, y), "instance")
    with pytest.raises(ValueError, match="tasks"):
        Stream("empty", "task", (), 10)
    with pytest.raises(ValueError, match="classes"):
        split_stream((x, y), (x, y), "task", classes=((0, 1), (1, 2)))
    with pytest.raises(ValueError, match="classes"):
        split_stream((x, y), (x, y), "task", classes=())
    with pytest.raises(ValueError, match="num_tasks"):
        permuted_stream((x, y), (x, y), 0)
    with pytest.raises(TypeError, match="train"):
        permuted_stream(x, (x, y), 2)
    stream = split_stream((x, y), (x, y), "class")
    with pytest.raises(ValueError, match="t must be a task index"):
        stream.logits(torch.zeros(2, 10), 5, training=True)
    with pytest.raises(ValueError, match="num_outputs"):
        Stream("s", "task", stream.tasks, 0)
    with pytest.raises(ValueError, match="train"):
        Task(train=(x, y[:3]), test=(x, y), classes=(0,))
