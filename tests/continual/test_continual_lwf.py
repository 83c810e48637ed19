"""LwF (issue 16): the T²-scaled distillation loss (value, gradient, large-T limit) and the
strategy's choice of old-task outputs per scenario, its frozen copy and its state."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from deepnotes.continual.lwf import LwF, distillation_loss
from deepnotes.continual.tasks import Stream, Task, split_stream
from deepnotes.continual.train import train_stream
from deepnotes.engine import Run


def scalar(value) -> float:
    """A loss as a float (detached: the test reads the value, not the graph)."""
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)

def logits_pair(n: int = 6, c: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    old = torch.randn(n, c, generator=generator, dtype=torch.float64)
    new = torch.randn(n, c, generator=generator, dtype=torch.float64)
    return new.requires_grad_(), old


def test_zero_value_and_gradient_when_new_equals_old():
    _, old = logits_pair()
    new = old.clone().requires_grad_()
    for temperature in (1.0, 2.0, 7.5):
        loss = distillation_loss(new, old, temperature)
        (grad,) = torch.autograd.grad(loss, new)
        assert abs(float(loss.detach())) < 1e-14
        assert float(grad.abs().max()) < 1e-15


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 5.0])
def test_value_is_t_squared_batch_mean_kl_and_gradient_is_closed_form(temperature):
    new, old = logits_pair()
    loss = distillation_loss(new, old, temperature)
    reference = temperature ** 2 * F.kl_div(torch.log_softmax(new / temperature, 1),
                                            torch.log_softmax(old / temperature, 1),
                                            log_target=True, reduction="batchmean")
    torch.testing.assert_close(loss, reference, rtol=1e-12, atol=1e-14)
    (grad,) = torch.autograd.grad(loss, new)
    p_old = torch.softmax(old / temperature, 1)
    p_new = torch.softmax(new.detach() / temperature, 1)
    # ∂/∂Y′ of T²·KL/N = T²·(p′ − p)/(T·N)
    torch.testing.assert_close(grad, temperature ** 2 * (p_new - p_old) / temperature / len(new),
                               rtol=1e-10, atol=1e-15)


def test_t_squared_keeps_the_gradient_independent_of_t_at_large_t():
    new, old = logits_pair()
    n, c = new.shape
    diff = new.detach() - old
    limit = (diff - diff.mean(dim=1, keepdim=True)) / (c * n)  # first order in 1/T
    grads = {}
    for temperature in (100.0, 1000.0):
        (grads[temperature],) = torch.autograd.grad(distillation_loss(new, old, temperature),
                                                    new)
        torch.testing.assert_close(grads[temperature], limit, rtol=5e-2, atol=1e-4)
    # without T² the gradient would shrink 100-fold between T = 100 and 1000; with it the
    # norms agree to < 1 %
    ratio = float(grads[1000.0].norm() / grads[100.0].norm())
    assert ratio == pytest.approx(1.0, abs=0.01)


def test_old_logits_are_constants():
    new, old = logits_pair()
    old = old.clone().requires_grad_()
    loss = distillation_loss(new, old, 2.0)
    loss.backward()
    assert old.grad is None and new.grad is not None


@pytest.mark.parametrize("args, error, word", [
    ((torch.zeros(3, 4), torch.zeros(3, 5)), ValueError, "old_logits"),
    ((torch.zeros(4), torch.zeros(4)), ValueError, "new_logits"),
    ((torch.zeros(0, 4), torch.zeros(0, 4)), ValueError, "new_logits"),
    ((torch.zeros(3, 4), [[0.0] * 4] * 3), TypeError, "old_logits"),
    ((torch.full((3, 4), float("nan")), torch.zeros(3, 4)), ValueError, "new_logits"),
    ((torch.zeros(3, 4), torch.zeros(3, 4), 0.0), ValueError, "temperature"),
    ((torch.zeros(3, 4), torch.zeros(3, 4), "2"), TypeError, "temperature"),
])
def test_distillation_bad_input_names_the_argument(args, error, word):
    with pytest.raises(error, match=word):
        distillation_loss(*args)


# ---------------------------------------------------------------------------------------------
# the strategy

def tiny_stream(scenario: str) -> Stream:
    generator = torch.Generator().manual_seed(2)
    groups = ((0, 1), (2, 3), (4, 5))
    tasks = []
    for classes in groups:
        x = torch.randn(10, 4, generator=generator)
        y = torch.tensor(classes)[torch.randint(2, (10,), generator=generator)]
        if scenario == "domain":
            y, classes = y % 2, (0, 1)
        tasks.append(Task(train=(x, y), test=(x, y), classes=classes))
    return Stream("tiny", scenario, tuple(tasks), 2 if scenario == "domain" else 6)


def model_for(stream: Stream) -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, stream.num_outputs))


def shift_output(model: nn.Module, column: int, amount: float) -> None:
    with torch.no_grad():
        model[2].bias[column] += amount


@pytest.mark.parametrize("scenario", ["task", "class", "domain"])
def test_lwf_penalty_is_zero_at_the_old_model_and_grows_when_it_moves(scenario):
    stream = tiny_stream(scenario)
    model, strategy = model_for(stream), LwF(lam_o=1.5, temperature=2.0)
    x, y = stream.tasks[2].train
    assert strategy.penalty(model, x, y, stream, 0) == 0.0
    strategy.end_task(model, stream, 0)
    strategy.end_task(model, stream, 1)
    strategy.begin_task(model, stream, 2)
    penalty = strategy.penalty(model, x, y, stream, 2)
    grads = torch.autograd.grad(penalty, list(model.parameters()))
    assert abs(scalar(penalty)) < 1e-6
    assert max(float(g.abs().max()) for g in grads) < 1e-6
    shift_output(model, 1, 2.0)  # an old class's output (task 0; domain-IL: output 1)
    moved = strategy.penalty(model, x, y, stream, 2)
    assert scalar(moved) > 1e-3
    # λ_o·T²·KL over the scenario's old outputs, computed by hand
    old_model = model_for(stream)
    new_out, old_out = model(x), old_model(x)
    if scenario == "task":
        heads = [[0, 1], [2, 3]]
        expected = sum(distillation_loss(new_out[:, h], old_out[:, h], 2.0) for h in heads) / 2
    elif scenario == "class":
        expected = distillation_loss(new_out[:, :4], old_out[:, :4], 2.0)
    else:
        expected = distillation_loss(new_out, old_out, 2.0)
    assert scalar(moved) == pytest.approx(1.5 * scalar(expected), rel=1e-5)


@pytest.mark.parametrize("scenario", ["task", "class"])
def test_lwf_ignores_the_new_task_outputs(scenario):
    stream = tiny_stream(scenario)
    model, strategy = model_for(stream), LwF(lam_o=1.0)
    strategy.end_task(model, stream, 0)
    x, y = stream.tasks[1].train
    shift_output(model, 2, 3.0)  # task 1's class: not an old output at t = 1
    assert abs(scalar(strategy.penalty(model, x, y, stream, 1))) < 1e-6


def test_lwf_old_model_is_frozen_and_survives_a_checkpoint():
    stream = tiny_stream("class")
    model, strategy = model_for(stream), LwF(lam_o=1.0, temperature=3.0)
    strategy.end_task(model, stream, 0)
    x, y = stream.tasks[1].train
    old_before = strategy.old_outputs(model, x)
    shift_output(model, 0, 1.0)
    with torch.no_grad():
        model[0].weight.mul_(1.3)
    torch.testing.assert_close(strategy.old_outputs(model, x), old_before)  # θ_{t−1} kept
    buffer = io.BytesIO()
    torch.save(strategy.state_dict(), buffer)
    buffer.seek(0)
    restored = LwF(lam_o=1.0, temperature=3.0)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    restored.begin_task(model, stream, 1)
    assert scalar(restored.penalty(model, x, y, stream, 1)) == pytest.approx(
        scalar(strategy.penalty(model, x, y, stream, 1)), rel=1e-7)
    assert model.training  # the old pass ran in eval mode and restored the mode


def test_lwf_bad_input_names_the_argument():
    stream = tiny_stream("task")
    model = model_for(stream)
    with pytest.raises(ValueError, match="lam_o"):
        LwF(lam_o=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        LwF(lam_o=1.0, temperature=0)
    with pytest.raises(ValueError, match="end_task"):
        LwF(1.0).begin_task(model, stream, 1)
    x, y = stream.tasks[1].train
    with pytest.raises(ValueError, match="end_task"):
        LwF(1.0).penalty(model, x, y, stream, 1)


class Interrupt(Exception):
    pass


class StoppingLwF(LwF):
    """LwF whose 7th penalty call during task 3 raises (a kill mid-task)."""

    calls = 0

    def penalty(self, model, x, y, stream, t):
        if t == 3:
            StoppingLwF.calls += 1
            if StoppingLwF.calls == 7:
                raise Interrupt
        return super().penalty(model, x, y, stream, t)


def test_lwf_stream_resumes_to_the_same_accuracy_matrix(tmp_path):
    def blobs(n, seed):
        g = torch.Generator().manual_seed(seed)
        y = torch.arange(n) % 10
        return torch.randn(n, 6, generator=g) + F.one_hot(y % 6, 6), y

    def mlp():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 10))

    stream = split_stream(blobs(150, 0), blobs(50, 1), "class", name="blobs-class")
    settings = dict(steps_per_task=12, batch_size=32, lr=1e-2, device="cpu", seed=3)
    whole = train_stream(mlp(), stream, LwF(1.0), run=Run.create(tmp_path, "a"), **settings)
    run = Run.create(tmp_path, "b")
    with pytest.raises(Interrupt):
        train_stream(mlp(), stream, StoppingLwF(1.0), run=run, **settings)
    again = train_stream(mlp(), stream, LwF(1.0), run=Run(run.path, resume=True), **settings)
    assert torch.equal(again.accuracy, whole.accuracy)
    for a, b in zip(again.model.parameters(), whole.model.parameters(), strict=True):
        assert torch.equal(a, b)
