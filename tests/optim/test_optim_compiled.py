"""The compiled fast path gives the single-tensor reference's numbers; the default-form rule.

Compiling costs ~10–20 s per graph, so the default run compiles one tiny Adam graph; the other
algorithms' compiled paths are marked slow."""

from __future__ import annotations

import pytest
import torch

from deepnotes import optim

SHAPES = ((6, 5), (11,))


def trajectories(make, steps=30, lr_change_at=10):
    g = torch.Generator().manual_seed(0)
    values = [torch.randn(s, generator=g) for s in SHAPES]
    grads = [[torch.randn(s, generator=g) for s in SHAPES] for _ in range(steps)]
    out = {}
    for form, kwargs in {"compiled": {"fused": True},
                         "single": {"fused": False, "foreach": False}}.items():
        params = [torch.nn.Parameter(v.clone()) for v in values]
        opt = make(params, **kwargs)
        assert opt.form(opt.param_groups[0]) == form
        for k, step_grads in enumerate(grads):
            if k == lr_change_at:  # a new lr must reuse the compiled graph (lr is a tensor)
                opt.param_groups[0]["lr"] *= 0.5
            for p, gi in zip(params, step_grads, strict=True):
                p.grad = gi.clone()
            opt.step()
        out[form] = [p.detach() for p in params]
    return out


def assert_forms_agree(out, atol):
    for x, y in zip(out["compiled"], out["single"], strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=atol)


def test_compiled_adam_equals_single_tensor_reference():
    torch._dynamo.reset()
    out = trajectories(lambda p, **k: optim.Adam(p, lr=0.01, weight_decay=0.01, **k))
    assert_forms_agree(out, atol=1e-6)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1  # no recompiles


@pytest.mark.slow
@pytest.mark.parametrize("make", [
    lambda p, **k: optim.SGD(p, lr=0.05, momentum=0.9, **k),
    lambda p, **k: optim.SGD(p, lr=0.05, **k),
    lambda p, **k: optim.AdaGrad(p, lr=0.1, lr_decay=0.01, **k),
    lambda p, **k: optim.RMSProp(p, lr=0.01, **k),
    lambda p, **k: optim.RMSProp(p, lr=0.01, eps_inside_sqrt=False, **k),
])
def test_compiled_equals_single_tensor_reference_slow(make):
    assert_forms_agree(trajectories(make), atol=1e-5)


def test_default_form_rule():
    small = [torch.nn.Parameter(torch.zeros(10))]
    large = [torch.nn.Parameter(torch.zeros(optim.COMPILE_MIN_NUMEL))]
    assert optim.choose_form(small, None, None) == "foreach"
    assert optim.choose_form(large, None, None) == "compiled"
    assert optim.choose_form(large, False, None) == "single"
    assert optim.choose_form(small, None, True) == "foreach"
    assert optim.choose_form(small, True, None) == "compiled"
    assert optim.choose_form(small, False, None) == "single"
    adam = optim.Adam(small)
    assert adam.form(adam.param_groups[0]) == "foreach"


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_textbook_momentum_on_torchs_fused_kernel_equals_the_reference(weight_decay):
    """The fast SGD-momentum form (torch's fused SGD kernel with lr = −1, dampening = 1 + ε)
    keeps the textbook velocity, also across learning-rate changes, and leaves the gradients
    as they were."""
    from deepnotes.optim import functional as F

    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(300, generator=generator) for _ in range(3)]
    reference = [p.clone() for p in start]
    native = [p.clone() for p in start]
    v_reference = [torch.zeros(300) for _ in start]
    v_native = [torch.zeros(300) for _ in start]
    for lr in (0.1, 0.1, 0.03, 0.03, 0.2, 1e-5):  # lr changes: textbook and torch.SGD differ
        grads = [torch.randn(300, generator=generator) for _ in start]
        F.sgd(reference, grads, v_reference, lr=lr, momentum=0.9, weight_decay=weight_decay)
        grads_before = [g.clone() for g in grads]
        assert F.sgd_momentum_native(native, grads, v_native, lr=lr,
                                     momentum=0.9, weight_decay=weight_decay)
        for after, before in zip(grads, grads_before, strict=True):
            assert torch.equal(after, before)
    for ours, theirs in zip(native + v_native, reference + v_reference, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not F.sgd_momentum_native(native, grads, v_native, lr=0.1, momentum=0.0)
    assert not F.sgd_momentum_native(native, grads, v_native, lr=1e-7, momentum=0.9)


def test_sgd_fused_form_uses_the_native_kernel_and_follows_the_reference():
    from deepnotes.optim import SGD

    torch.manual_seed(0)
    models = [torch.nn.Linear(5, 3) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    fast = SGD(models[0].parameters(), lr=0.1, momentum=0.9, fused=True)
    slow = SGD(models[1].parameters(), lr=0.1, momentum=0.9, foreach=False, fused=False)
    x = torch.randn(16, 5)
    for step in range(4):
        for model, optimizer in zip(models, (fast, slow), strict=True):
            optimizer.zero_grad()
            model(x).square().mean().backward()
            optimizer.step()
        if step == 1:
            for optimizer in (fast, slow):
                optimizer.param_groups[0]["lr"] = 0.05
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_adagrad_on_torchs_fused_kernel_equals_the_reference():
    from deepnotes.optim import functional as F

    generator = torch.Generator().manual_seed(1)
    start = [torch.randn(200, generator=generator) for _ in range(2)]
    reference, native = [p.clone() for p in start], [p.clone() for p in start]
    sums = {key: [torch.zeros(200) for _ in start] for key in ("reference", "native")}
    steps = {key: [torch.zeros(()) for _ in start] for key in ("reference", "native")}
    for lr in (0.1, 0.1, 0.05):
        grads = [torch.randn(200, generator=generator) for _ in start]
        F.adagrad(reference, grads, sums["reference"], steps["reference"], lr=lr, eps=1e-7,
                  lr_decay=0.01, weight_decay=0.02)
        assert F.adagrad_native(native, [g.clone() for g in grads], sums["native"],
                                steps["native"], lr=lr, eps=1e-7, lr_decay=0.01,
                                weight_decay=0.02)
    for ours, theirs in zip(native + sums["native"] + steps["native"],
                            reference + sums["reference"] + steps["reference"], strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_plain_sgd_fast_form_is_torchs_single_add_and_compiles_nothing():
    """Plain SGD's one-pass form is the in-place ``add_(g, alpha=−ε)`` that torch.optim.SGD
    runs with foreach=False (the fastest of torch's CPU forms): bit-identical trajectories,
    also across an lr change, and no torch.compile graph (the compiled loop moved the same
    bytes plus its call overhead: 0.86 of torch's speed)."""
    from deepnotes.optim import _compiled
    from deepnotes.optim import functional as F

    large = torch.randn(optim.COMPILE_MIN_NUMEL, generator=torch.Generator().manual_seed(0))
    for kwargs in ({}, {"fused": True}):  # the default for a large group, and asked for
        ours = [torch.nn.Parameter(large.clone()), torch.nn.Parameter(torch.ones(7))]
        theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
        fast = optim.SGD(ours, lr=0.1, **kwargs)
        reference = torch.optim.SGD(theirs, lr=0.1, foreach=False)
        assert fast.form(fast.param_groups[0]) == "compiled"
        g = torch.Generator().manual_seed(1)
        for step in range(3):
            grads = [torch.randn(p.shape, generator=g) for p in ours]
            for params in (ours, theirs):
                for p, grad in zip(params, grads, strict=True):
                    p.grad = grad.clone()
            if step == 2:
                fast.param_groups[0]["lr"] = reference.param_groups[0]["lr"] = 0.03
            fast.step()
            reference.step()
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b)
    assert F.sgd not in _compiled._compiled


def test_plain_sgd_with_weight_decay_on_torchs_fused_kernel_equals_the_reference():
    from deepnotes.optim import functional as F

    generator = torch.Generator().manual_seed(2)
    start = [torch.randn(300, generator=generator) for _ in range(3)]
    reference, native = [p.clone() for p in start], [p.clone() for p in start]
    for lr in (0.1, 0.03):
        grads = [torch.randn(300, generator=generator) for _ in start]
        F.sgd(reference, grads, [None] * 3, lr=lr, weight_decay=0.05)
        before = [g.clone() for g in grads]
        assert F.sgd_native(native, grads, [None] * 3, lr=lr, weight_decay=0.05)
        assert all(torch.equal(a, b) for a, b in zip(grads, before, strict=True))
    for ours, theirs in zip(native, reference, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
