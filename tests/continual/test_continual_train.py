"""continual.strategies and continual.train: the reservoir's inclusion probability, joint and
replay data, and a stream interrupted during task 3 that resumes to the same accuracy matrix."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from deepnotes.continual import (
    Finetune,
    Joint,
    Replay,
    Reservoir,
    Strategy,
    split_stream,
    train_stream,
    with_task,
)
from deepnotes.continual.train import STREAM_CHECKPOINT
from deepnotes.engine import CheckpointError, Run


def blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    sign = 1.0 - 2.0 * (y >= 8).float()[:, None]  # classes 8, 9 on the negative axes 0, 1
    x = torch.randn(n, 8, generator=g) + 3.0 * sign * F.one_hot(y % 8, 8).float()
    return x, y


def small_stream(scenario="task"):
    return split_stream(blobs(200, 0), blobs(100, 1), scenario, name=f"blobs-{scenario}")


def mlp(outputs=10):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, outputs))


# --- the reservoir ------------------------------------------------------------------------------

def test_reservoir_keeps_every_example_with_probability_k_over_n():
    """Algorithm R: after N offers each example is in the buffer w.p. K/N, whatever its
    position and however the offers are chunked."""
    N, K, trials = 20, 5, 2000
    rng = torch.Generator().manual_seed(0)
    counts = torch.zeros(N)
    for _ in range(trials):
        buffer = Reservoir(K, rng=rng)
        ids = torch.arange(N)
        buffer.add(ids[:7, None].float(), ids[:7])
        buffer.add(ids[7:, None].float(), ids[7:])
        assert len(buffer) == K and buffer.seen == N
        kept = buffer.y.tolist()
        assert len(set(kept)) == K  # no duplicates
        assert torch.equal(buffer.x[:, 0].long(), buffer.y)  # rows stay paired
        counts[kept] += 1
    p = K / N
    sd = (trials * p * (1 - p)) ** 0.5
    # each count ~ Binomial(trials, K/N); 4 sd two-sided over 20 counts: false alarm < 0.2%
    assert (counts - trials * p).abs().max() < 4 * sd, counts.tolist()
    # the first K are not privileged (an off-by-one K/n rule keeps them more often)
    assert abs(counts[:K].mean() - counts[K:].mean()) < 4 * sd / K ** 0.5


def test_reservoir_fills_in_order_then_samples_and_round_trips():
    buffer = Reservoir(4, rng=torch.Generator().manual_seed(1))
    buffer.add(torch.arange(3.0)[:, None], torch.arange(3))
    assert len(buffer) == 3 and buffer.y[:3].tolist() == [0, 1, 2]
    state = buffer.state_dict()
    other = Reservoir(4, rng=torch.Generator().manual_seed(99))
    other.load_state_dict(state)
    assert torch.equal(buffer.sample(6)[1], other.sample(6)[1])
    assert set(buffer.sample(50)[1].tolist()) <= {0, 1, 2}
    with pytest.raises(ValueError, match="capacity"):
        Reservoir(5).load_state_dict(state)


def test_joint_and_replay_data():
    stream = small_stream("task")
    x, y = Joint().train_data(stream, 2)
    assert len(x) == sum(len(stream.tasks[s].train[0]) for s in range(3))
    assert y.shape == (len(x), 2) and set(y[:, 1].tolist()) == {0, 1, 2}
    assert torch.equal(y[:, 0] // 2, y[:, 1])  # each label with its own task
    replay = Replay(30, seed=0)
    model = mlp()
    assert replay.penalty(model, x, y, stream, 0) == 0.0  # empty buffer
    replay.end_task(model, stream, 0)
    replay.end_task(model, stream, 1)
    assert len(replay.buffer) == 30 and set(replay.buffer.y[:, 1].tolist()) <= {0, 1}
    xb = stream.tasks[2].train[0][:10]
    loss = replay.penalty(model, xb, stream.tasks[2].train[1][:10], stream, 2)
    assert loss.requires_grad and loss.item() > 0


# --- train_stream -------------------------------------------------------------------------------

class Interrupt(Exception):
    pass


class Stopping(Replay):
    """Replay that raises at its n-th penalty call during task ``task`` (a kill mid-task)."""

    def __init__(self, *args, task, call, **kwargs):
        super().__init__(*args, **kwargs)
        self.task, self.call, self.calls = task, call, 0

    def penalty(self, model, x, y, stream, t):
        if t == self.task:
            self.calls += 1
            if self.calls == self.call:
                raise Interrupt
        return super().penalty(model, x, y, stream, t)


SETTINGS = dict(steps_per_task=20, batch_size=32, lr=1e-2, device="cpu", seed=3)


@pytest.mark.parametrize("call", [1, 14])  # before task 3's first step / after checkpoint 12
def test_interrupted_stream_resumes_to_the_same_accuracy_matrix(tmp_path, call):
    stream = small_stream("class")
    whole = train_stream(mlp(), stream, Replay(40, seed=5), run=Run.create(tmp_path, "a"),
                         **SETTINGS)
    run = Run.create(tmp_path, "b")
    with pytest.raises(Interrupt):
        train_stream(mlp(), stream, Stopping(40, seed=5, task=3, call=call), run=run,
                     **SETTINGS)
    assert torch.load(run.checkpoint_dir / STREAM_CHECKPOINT)["completed"] == 3
    again = train_stream(mlp(), stream, Replay(40, seed=5), run=Run(run.path, resume=True),
                         **SETTINGS)
    assert torch.equal(again.accuracy, whole.accuracy)
    for a, b in zip(again.model.parameters(), whole.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [len(h) for h in again.histories] == [len(h) for h in whole.histories]
    rows = [r for r in run.read_metrics() if r.get("fit") == "stream"]
    assert [r["task"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[-1]["accuracy"] == whole.accuracy[-1].tolist()
    # a finished run resumes to the same matrix without training
    done = train_stream(mlp(), stream, Replay(40, seed=5), run=Run(run.path, resume=True),
                        **SETTINGS)
    assert torch.equal(done.accuracy, whole.accuracy)
    # a stream checkpoint of another strategy is refused
    with pytest.raises(CheckpointError, match="strategy"):
        train_stream(mlp(), stream, Finetune(), run=Run(run.path, resume=True), **SETTINGS)


def test_finetune_fills_the_accuracy_matrix_and_forgets_in_class_il():
    stream = small_stream("class")
    result = train_stream(mlp(), stream, Finetune(), **SETTINGS)
    R = result.accuracy
    assert R.shape == (5, 5) and R.dtype == torch.float64
    assert torch.all(R.diagonal() > 0.8)  # each new pair is learned
    # class-IL finetune: the last task's two classes take every earlier prediction
    assert torch.all(R[-1, :-1] == 0.0)
    assert result.average_accuracy == pytest.approx(float(R[-1].mean()))


class Counting(Strategy):
    name = "counting"

    def __init__(self):
        self.events = []

    def begin_task(self, model, stream, t):
        self.events.append(("begin", t))

    def penalty(self, model, x, y, stream, t):
        return 0.0 * sum(p.sum() for p in model.parameters())

    def end_task(self, model, stream, t):
        self.events.append(("end", t))


def test_hooks_are_called_in_order_around_each_task():
    strategy = Counting()
    train_stream(mlp(), small_stream("task"), strategy, **{**SETTINGS, "steps_per_task": 2})
    assert strategy.events == [(e, t) for t in range(5) for e in ("begin", "end")]


def test_bad_input_names_the_argument():
    stream, model = small_stream(), mlp()
    with pytest.raises(ValueError, match="steps_per_task"):
        train_stream(model, stream, Finetune(), **{**SETTINGS, "steps_per_task": 0})
    with pytest.raises(ValueError, match="optimizer"):
        train_stream(model, stream, Finetune(), optimizer="rmsprop", **SETTINGS)
    with pytest.raises(ValueError, match="lr"):
        train_stream(model, stream, Finetune(), **{**SETTINGS, "lr": -1.0})
    with pytest.raises(TypeError, match="stream"):
        train_stream(model, [stream], Finetune(), **SETTINGS)
    with pytest.raises(TypeError, match="strategy"):
        train_stream(model, stream, "replay", **SETTINGS)
    with pytest.raises(ValueError, match="resume"):
        train_stream(model, stream, Finetune(), resume=True, **SETTINGS)
    with pytest.raises(ValueError, match="buffer_size"):
        Replay(-5)
    with pytest.raises(ValueError, match="buffer_size"):
        Replay(0)
    with pytest.raises(ValueError, match="capacity"):
        Reservoir(0)
    with pytest.raises(ValueError, match="t"):
        with_task(torch.tensor([1, 2]), -1)
