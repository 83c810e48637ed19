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
