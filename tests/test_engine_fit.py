"""engine.fit: equals a plain PyTorch loop; resumes bit-identically; guards NaN; refuses
unsafe checkpoints; callbacks and the EMA; rejects bad input with the argument's name, before
(or at) the first step."""

import copy
import json
import pickle

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from deepnotes.engine import (
    EMA,
    CheckpointError,
    NonFiniteLossError,
    Run,
    fit,
    load_checkpoint,
    save_checkpoint,
)


def make_problem(n=120, d=5, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=generator)
    y = torch.randint(0, classes, (n,), generator=generator)
    return X, y


def make_model(seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))


def plain_loop(model, X, y, steps, batch_size, seed, lr=0.05):
    """Reference: the textbook loop over the order torch's DistributedSampler defines."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sampler = DistributedSampler(range(len(X)), num_replicas=1, rank=0, shuffle=True, seed=seed)
    step, epoch = 0, 0
    torch.manual_seed(seed)
    while step < steps:
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler))
        for start in range(0, len(X), batch_size):
            if step == steps:
                break
            index = order[start : start + batch_size]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X[index]), y[index]).backward()
            optimizer.step()
            step += 1
        epoch += 1
    return model


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_fit_equals_a_plain_loop_exactly():
    X, y = make_problem()
    reference = plain_loop(make_model(), X, y, steps=37, batch_size=25, seed=3)
    model = make_model()
    result = fit(model, nn.functional.cross_entropy,
                 torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), (X, y),
                 steps=37, batch_size=25, seed=3, device="cpu", progress=False)
    assert result.steps == 37
    for ours, theirs in zip(params(result.model), params(reference), strict=True):
        assert torch.equal(ours, theirs)


def test_epochs_count_partial_batches_and_eval_metrics_match_direct_computation():
    X, y = make_problem(n=100)
    model = make_model()
    accuracy = lambda out, target: (out.argmax(1) == target).float().mean()  # noqa: E731
    result = fit(model, nn.functional.cross_entropy, lambda p: torch.optim.Adam(p, 1e-2),
                 (X, y), epochs=3, batch_size=30, eval_data=(X[:70], y[:70]),
                 metrics={"accuracy": accuracy}, device="cpu", progress=False)
    assert result.steps == 3 * 4  # ceil(100 / 30) steps per epoch
    with torch.no_grad():
        expected = float(accuracy(model(X[:70]), y[:70]))
    assert result.metrics["eval_accuracy"] == pytest.approx(expected)


def test_closure_optimizers_work_lbfgs_reaches_least_squares():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(50, 4, generator=generator, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64) + 0.1 * torch.randn(
        50, generator=generator, dtype=torch.float64)
    model = nn.Linear(4, 1, bias=False, dtype=torch.float64)
    fit(model, lambda out, t: ((out.squeeze(1) - t) ** 2).mean(),
        torch.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe",
                          tolerance_grad=1e-12, tolerance_change=1e-15), (X, y),
        steps=5, batch_size=None, device="cpu", progress=False)
    solution = torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1)
    torch.testing.assert_close(model.weight.detach().squeeze(0), solution, rtol=1e-8, atol=1e-8)


def test_same_seed_same_result_even_with_dropout():
    X, y = make_problem()
    results = []
    for _ in range(2):
        model = make_model(dropout=0.3)
        fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
            (X, y), steps=20, batch_size=16, seed=11, device="cpu", progress=False)
        results.append(params(model))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


class Interrupt(Exception):
    pass


def train(run, steps, interrupt_at=None, resume=None):
    X, y = make_problem()
    model = make_model(dropout=0.2)
    calls = {"n": 0}

    def loss(out, target):
        calls["n"] += 1
        if interrupt_at is not None and calls["n"] > interrupt_at:
            raise Interrupt
        return nn.functional.cross_entropy(out, target)

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.5)
    return fit(model, loss, optimizer, (X, y), steps=steps, batch_size=16, run=run,
               name="net", seed=5, device="cpu", checkpoint_every=4, resume=resume,
               scheduler=scheduler, log_every=3, progress=False)


def test_resume_after_interruption_is_bit_identical(tmp_path):
    uninterrupted = train(Run(tmp_path / "a"), steps=30)
    with pytest.raises(Interrupt):
        train(Run(tmp_path / "b"), steps=30, interrupt_at=18)  # dies during step 19
    saved = load_checkpoint(tmp_path / "b" / "checkpoints" / "net.pt")
    assert saved["step"] == 16
    resumed = train(Run(tmp_path / "b", resume=True), steps=30)
    assert resumed.steps == 30
    # the history holds the whole fit, logged windows straddling the interruption included
    assert [r["step"] for r in resumed.history] == list(range(3, 31, 3))
    assert resumed.metrics == uninterrupted.metrics
    for a, b in zip(params(uninterrupted.model), params(resumed.model), strict=True):
        assert torch.equal(a, b)

    def losses(folder):
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        return [(r["step"], r["train_loss"]) for r in map(json.loads, lines) if "train_loss" in r]

    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_resuming_a_finished_fit_does_no_more_steps(tmp_path):
    first = train(Run(tmp_path / "c"), steps=8)
    again = train(Run(tmp_path / "c", resume=True), steps=8, interrupt_at=0)  # any step raises
    for a, b in zip(params(first.model), params(again.model), strict=True):
        assert torch.equal(a, b)


def test_nan_guard_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    X, y = make_problem()
    model = make_model()
    calls = {"n": 0}

    def loss(out, target):
        calls["n"] += 1
        value = nn.functional.cross_entropy(out, target)
        return value * float("nan") if calls["n"] == 10 else value

    with pytest.raises(NonFiniteLossError, match="step 10") as info:
        fit(model, loss, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), steps=20,
            batch_size=10, run=Run(tmp_path), name="guarded", checkpoint_every=3,
            device="cpu", progress=False)
    assert "guarded.pt" in str(info.value)
    kept = load_checkpoint(tmp_path / "checkpoints" / "guarded.pt")
    assert kept["step"] == 9
    assert all(torch.isfinite(t).all() for t in kept["model"].values())


def test_infinite_gradient_with_finite_loss_is_caught_before_checkpointing(tmp_path):
    X = torch.zeros(8, 1)
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)

    calls = []

    def loss(out, target):
        calls.append(1)
        if len(calls) <= 2:
            return ((out - target) ** 2).mean()
        return out.abs().sqrt().mean()  # value 0 at w = 0, but d/dw sqrt(|w·0|) is NaN
    with pytest.raises(NonFiniteLossError, match="parameter weight") as info:
        fit(model, loss, torch.optim.SGD(model.parameters(), lr=0.1), (X, X), steps=6,
            batch_size=8, run=Run(tmp_path), name="grad", checkpoint_every=1, device="cpu",
            progress=False)
    kept = load_checkpoint(tmp_path / "checkpoints" / "grad.pt")
    assert all(torch.isfinite(t).all() for t in kept["model"].values())
    assert f"kept at {tmp_path / 'checkpoints' / 'grad.pt'}" in str(info.value)


def test_a_checkpoint_of_another_fit_is_refused(tmp_path):
    train(Run(tmp_path), steps=4)
    X, y = make_problem()
    other = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.raises(ValueError, match="belongs to a different fit.*parameters"):
        fit(other, nn.functional.cross_entropy, torch.optim.SGD(other.parameters(), lr=0.1),
            (X, y), steps=4, batch_size=16, run=Run(tmp_path, resume=True), name="net",
            seed=5, device="cpu", progress=False)


def test_a_metrics_line_cut_short_does_not_break_resume(tmp_path):
    train(Run(tmp_path), steps=8)
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"fit": "net", "step": 9, "train_lo')
    resumed = train(Run(tmp_path, resume=True), steps=12)
    assert resumed.steps == 12
    assert [r["step"] for r in resumed.history][-2:] == [9, 12]


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoints_with_arbitrary_objects_are_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": Payload()}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil)
    pickled = tmp_path / "pickled.pt"
    pickled.write_bytes(pickle.dumps({"x": Payload()}))
    with pytest.raises(CheckpointError):
        load_checkpoint(pickled)
    truncated = tmp_path / "truncated.pt"
    save_checkpoint(truncated, {"w": torch.ones(1000)})
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.pt")
    # a plain checkpoint loads
    fine = tmp_path / "fine.pt"
    save_checkpoint(fine, {"w": torch.arange(3.0), "step": 4})
    assert load_checkpoint(fine)["step"] == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 3, "epochs": 1}, "exactly one"),
        ({}, "exactly one"),
        ({"steps": 0}, "steps"),
        ({"steps": 2, "batch_size": -4}, "batch_size"),
        ({"steps": 2, "seed": -1}, "seed"),
        ({"steps": 2, "device": "tpu9"}, "device"),
        ({"steps": 2, "log_every": 0}, "log_every"),
        ({"steps": 2, "eval_every": -1}, "eval_every"),
        ({"steps": 2, "name": "../escape"}, "name"),
        ({"steps": 2, "resume": True}, "resume=True needs run"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    X, y = make_problem()
    model = make_model()
    with pytest.raises(ValueError, match=message):
        fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
            (X, y), progress=False, **kwargs)


def test_bad_data_and_types_are_named():
    X, y = make_problem()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="train_data: tensor 1 has 119 rows"):
        fit(model, nn.functional.cross_entropy, optimizer, (X, y[:-1]), steps=1)
    with pytest.raises(TypeError, match="train_data"):
        fit(model, nn.functional.cross_entropy, optimizer, [[1, 2]], steps=1)
    with pytest.raises(TypeError, match="model"):
        fit(lambda x: x, nn.functional.cross_entropy, optimizer, (X, y), steps=1)
    with pytest.raises(TypeError, match="optimizer"):
        fit(model, nn.functional.cross_entropy, "adam", (X, y), steps=1)


# --------------------------------------------------------------------------------------------
# callbacks and EMA


def test_callbacks_see_every_step_its_loss_and_the_model():
    X, y = make_problem()
    model = make_model()
    seen = []
    result = fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
                 (X, y), steps=7, batch_size=16, log_every=50, device="cpu", progress=False,
                 callbacks=[lambda step, loss, m: seen.append((step, loss, m))])
    assert [s for s, _, _ in seen] == list(range(1, 8))
    assert all(m is model for _, _, m in seen)
    # one logged window of all 7 steps: its train_loss is the mean of the losses they saw
    assert [r["step"] for r in result.history] == [7]
    assert sum(loss for _, loss, _ in seen) / 7 == result.history[0]["train_loss"]
    with pytest.raises(TypeError, match=r"callbacks\[1\]"):
        fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
            (X, y), steps=1, device="cpu", callbacks=[print, "not callable"])


def test_ema_callback_is_the_hand_computed_average():
    """θ̄_0 = θ_0, θ̄_t = β θ̄_{t−1} + (1 − β) θ_t, computed by hand from the weights after
    every step, on a two-parameter model; and the EMA does not change training."""
    beta = 0.8
    X = torch.linspace(-1, 1, 12).unsqueeze(1)
    y = 3 * X + 1
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    plain = copy.deepcopy(model)
    expected = [p.detach().clone() for p in model.parameters()]
    ema = EMA(model, beta)
    snapshots = []
    fit(model, nn.functional.mse_loss, torch.optim.SGD(model.parameters(), lr=0.1), (X, y),
        steps=6, batch_size=4, device="cpu", progress=False,
        callbacks=[lambda s, loss, m: snapshots.append([p.detach().clone()
                                                        for p in m.parameters()]), ema])
    fit(plain, nn.functional.mse_loss, torch.optim.SGD(plain.parameters(), lr=0.1), (X, y),
        steps=6, batch_size=4, device="cpu", progress=False)
    assert len(snapshots) == 6
    for weights in snapshots:
        expected = [beta * e + (1 - beta) * w for e, w in zip(expected, weights, strict=True)]
    for ours, theirs in zip(ema.module.parameters(), expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
        assert not torch.equal(ours, snapshots[-1][0]) or ours.numel() == 0
    for p, q in zip(model.parameters(), plain.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="ema"):
        EMA(model, 1.0)


def test_a_stateful_callback_is_checkpointed_and_resumes_bit_identically(tmp_path):
    def run_with_ema(folder, interrupt_at=None, resume=False):
        X, y = make_problem()
        model = make_model()
        ema = EMA(model, 0.9)
        calls = {"n": 0}

        def loss(out, target):
            calls["n"] += 1
            if interrupt_at is not None and calls["n"] > interrupt_at:
                raise Interrupt
            return nn.functional.cross_entropy(out, target)

        fit(model, loss, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), steps=12,
            batch_size=16, run=Run(folder, resume=resume), name="ema", checkpoint_every=5,
            device="cpu", progress=False, callbacks=[ema])
        return ema

    full = run_with_ema(tmp_path / "a")
    with pytest.raises(Interrupt):
        run_with_ema(tmp_path / "b", interrupt_at=8)
    resumed = run_with_ema(tmp_path / "b", resume=True)
    for p, q in zip(full.module.parameters(), resumed.module.parameters(), strict=True):
        assert torch.equal(p, q)


# --------------------------------------------------------------------------------------------
# entry checks: counts, and the dry run of model, data, loss and optimizer


def test_numpy_and_tensor_counts_are_accepted():
    X, y = make_problem()
    model = make_model()
    result = fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
                 (X, y), steps=np.int64(5), batch_size=torch.tensor(16), log_every=np.int32(2),
                 checkpoint_every=np.int64(2), eval_every=torch.tensor(5), eval_data=(X, y),
                 device="cpu", progress=False)
    assert result.steps == 5 and isinstance(result.steps, int)


class CountingLoss:
    """cross-entropy that counts its calls: a check 'before training' must leave it at 0."""

    def __init__(self):
        self.calls = 0

    def __call__(self, out, target):
        self.calls += 1
        return nn.functional.cross_entropy(out, target)


def _fit(model=None, data=None, loss=None, **kwargs):
    X, y = make_problem()
    model = model if model is not None else make_model()
    optimizer = kwargs.pop("optimizer", None) or torch.optim.SGD(model.parameters(), lr=0.1)
    return fit(model, loss or nn.functional.cross_entropy, optimizer,
               data if data is not None else (X, y), **{"steps": 3, "batch_size": 16,
                                                        "device": "cpu", "progress": False,
                                                        **kwargs})


def test_a_feature_count_mismatch_names_the_argument_and_both_shapes():
    X, y = make_problem()
    model = make_model()
    before = params(model)
    with pytest.raises(ValueError, match=r"train_data: .*shape \(16, 4\).*expects 5 features "
                                         r"in the last dimension, the data has 4"):
        _fit(model, (X[:, :4], y))
    assert all(torch.equal(a, b) for a, b in zip(before, params(model), strict=True))


def test_eval_data_of_the_wrong_width_fails_before_the_first_step():
    X, y = make_problem()
    loss = CountingLoss()
    with pytest.raises(ValueError, match=r"eval_data: .*rows have shape \(4,\), the training "
                                         r"data's \(5,\).*expects 5 features"):
        _fit(loss=loss, eval_data=(X[:, :4], y), steps=50)
    assert loss.calls == 0


def test_a_metric_that_fails_on_eval_data_is_named_before_training():
    X, y = make_problem()
    loss = CountingLoss()
    with pytest.raises(ValueError, match=r"metrics\['bad'\] fails on eval_data"):
        _fit(loss=loss, eval_data=(X, y), metrics={"bad": lambda out, t: out @ t}, steps=50)
    assert loss.calls == 0


def test_integer_inputs_to_a_float_model_are_named():
    X, y = make_problem()
    with pytest.raises(ValueError, match=r"train_data: .*parameters are torch.float32 but the "
                                         r"inputs are torch.int64"):
        _fit(data=(X.long(), y))


@pytest.mark.parametrize("loss", [nn.functional.cross_entropy, nn.CrossEntropyLoss(),
                                  nn.NLLLoss()])
def test_labels_outside_the_model_classes_are_named(loss):
    X, y = make_problem()
    y = y.clone()
    y[-1] = 7  # not in the first batch: every label is checked before the first update
    model = make_model()
    before = params(model)
    with pytest.raises(ValueError, match=r"train_data: labels must be class indices in "
                                         r"\[0, 3\) for the model's 3 outputs, found 7"):
        _fit(model, (X, y), loss=loss)
    assert all(torch.equal(a, b) for a, b in zip(before, params(model), strict=True))
    with pytest.raises(ValueError, match=r"eval_data: labels .* found -1"):
        _fit(loss=loss, eval_data=(X, torch.full_like(y, -1)))


def test_ignored_labels_and_a_wrapped_cross_entropy_are_handled():
    X, y = make_problem()
    y = y.clone()
    y[:5] = -100  # cross-entropy's ignore_index: legitimate
    assert _fit(data=(X, y)).steps == 3
    # a lambda around cross-entropy: diagnosed when torch refuses the first batch
    order = torch.randperm(120, generator=torch.Generator().manual_seed(0))
    first_batch = order[:16]
    y[first_batch[0]] = 9
    with pytest.raises(ValueError, match="labels must be class indices.*found 9"):
        _fit(data=(X, y), loss=lambda out, t: nn.functional.cross_entropy(out, t))


@pytest.mark.parametrize(("loss", "error", "message"), [
    (lambda out, t: nn.functional.cross_entropy(out, t, reduction="none"), ValueError,
     r"loss_fn must return a scalar tensor \(one number\), got shape \(16,\)"),
    (lambda out, t: nn.functional.cross_entropy(out, t).item(), TypeError,
     "loss_fn must return a scalar tensor, got float"),
    (lambda out, t: nn.functional.cross_entropy(out, t).detach(), ValueError,
     r"without a graph \(requires_grad=False\)"),
    (lambda out, t: nn.functional.cross_entropy(out.detach(), t), ValueError,
     "without a graph"),
])
def test_a_loss_that_cannot_train_is_refused(loss, error, message):
    model = make_model()
    before = params(model)
    with pytest.raises(error, match=message):
        _fit(model, loss=loss)
    assert all(torch.equal(a, b) for a, b in zip(before, params(model), strict=True))


def test_an_elementwise_loss_on_shapes_that_broadcast_is_refused():
    X = torch.randn(40, 5)
    y = torch.randn(40)
    model = nn.Linear(5, 1)
    with pytest.raises(ValueError, match=r"outputs have shape \(16, 1\) but the targets "
                                         r"\(16,\)"):
        fit(model, nn.functional.mse_loss, torch.optim.SGD(model.parameters(), lr=0.1), (X, y),
            steps=2, batch_size=16, device="cpu", progress=False)


def test_an_optimizer_over_other_parameters_and_a_scheduler_without_step_are_refused():
    model, other = make_model(), make_model(seed=1)
    with pytest.raises(ValueError, match="optimizer holds none of the model's 4 parameters"):
        _fit(model, optimizer=torch.optim.SGD(other.parameters(), lr=0.1))
    head_only = torch.optim.SGD(model[-1].parameters(), lr=0.1)  # some of them: fine-tuning
    assert _fit(model, optimizer=head_only).steps == 3
    with pytest.raises(TypeError, match="scheduler must be an LR scheduler with a step"):
        _fit(scheduler=object())
    with pytest.raises(TypeError, match="scheduler must be an LR scheduler with a step"):
        _fit(scheduler=lambda optimizer: "no step here")
