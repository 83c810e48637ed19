"""nn.norm: BatchNorm against torch.nn.BatchNorm1d/2d over several train/eval steps."""

import pytest
import torch
from torch import nn

from deepnotes.nn.norm import BatchNorm, BatchNorm1d, BatchNorm2d, batch_norm


@pytest.mark.parametrize("shape, reference_cls, ours_cls", [
    ((16, 5), nn.BatchNorm1d, BatchNorm1d),
    ((8, 5, 7), nn.BatchNorm1d, BatchNorm),
    ((6, 5, 4, 3), nn.BatchNorm2d, BatchNorm2d),
])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_matches_torch_over_steps(shape, reference_cls, ours_cls, momentum):
    generator = torch.Generator().manual_seed(0)
    reference = reference_cls(5, momentum=momentum).double()
    ours = ours_cls(5, momentum=momentum).double()
    with torch.no_grad():
        for module in (reference, ours):
            module.weight.copy_(torch.linspace(0.5, 1.5, 5))
            module.bias.copy_(torch.linspace(-1, 1, 5))
    for step in range(4):
        x = 3 * torch.randn(shape, generator=generator, dtype=torch.float64) + step
        weights = torch.randn(shape, generator=generator, dtype=torch.float64)
        outputs, grads = [], []
        for module in (reference, ours):
            module.zero_grad()
            xi = x.clone().requires_grad_()
            out = module(xi)
            (out * weights).sum().backward()
            outputs.append(out)
            grads.append((xi.grad, module.weight.grad, module.bias.grad))
        torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
        for g_ours, g_ref in zip(grads[1], grads[0], strict=True):
            torch.testing.assert_close(g_ours, g_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.running_mean, reference.running_mean, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.running_var, reference.running_var, atol=1e-5, rtol=1e-5)
        assert int(ours.num_batches_tracked) == int(reference.num_batches_tracked) == step + 1
    reference.eval()
    ours.eval()
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-5)


def test_loads_torch_state_dict():
    torch.manual_seed(0)
    reference = nn.BatchNorm2d(3)
    for _ in range(3):
        reference(torch.randn(4, 3, 5, 5) * 2 + 1)
    with torch.no_grad():
        reference.weight.uniform_()
        reference.bias.uniform_()
    ours = BatchNorm2d(3)
    ours.load_state_dict(reference.state_dict())
    reference.eval()
    ours.eval()
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(ours(x), reference(x))
    assert set(ours.state_dict()) == set(reference.state_dict())


def test_training_output_is_whitened():
    """In training each channel of y has mean β and standard deviation ≈ γ (the course's y)."""
    layer = BatchNorm1d(3, eps=1e-10)
    x = torch.randn(500, 3) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor([5.0, -3.0, 0.0])
    y = layer(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(0, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)


def test_no_affine_no_tracking():
    reference = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    ours = BatchNorm1d(4, affine=False, track_running_stats=False)
    ours.eval()
    reference.eval()
    x = torch.randn(10, 4)
    torch.testing.assert_close(ours(x), reference(x))
    assert len(list(ours.parameters())) == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm(0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        BatchNorm(3, eps=0)
    with pytest.raises(ValueError, match="channels"):
        BatchNorm(3)(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="more than 1 value"):
        BatchNorm(3)(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="4-D"):
        BatchNorm2d(3)(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="running_mean"):
        batch_norm(torch.zeros(4, 3), torch.zeros(2), torch.ones(3))


def test_gradients_and_second_derivatives_match_finite_differences():
    """Autograd through our formula (no hand-written backward), so double backward works too
    (gradient penalties): gradcheck / gradgradcheck against finite differences."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(6, 3, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(3, generator=generator, dtype=torch.float64).add(0.5).requires_grad_()
    bias = torch.randn(3, generator=generator, dtype=torch.float64, requires_grad=True)

    def fn(x, weight, bias):
        return batch_norm(x, None, None, weight, bias, training=True)

    assert torch.autograd.gradcheck(fn, (x, weight, bias))
    assert torch.autograd.gradgradcheck(fn, (x, weight, bias))


def test_non_finite_hyperparameters_refused_numpy_counts_accepted():
    import numpy as np

    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=float("nan"))
    with pytest.raises(ValueError, match="eps"):
        BatchNorm(3, eps=float("inf"))
    with pytest.raises(ValueError, match="eps"):
        batch_norm(torch.zeros(4, 3), None, None, eps=float("nan"))
    with pytest.raises(TypeError, match="num_features"):
        BatchNorm(3.0)
    layer = BatchNorm1d(np.int64(3))
    assert layer.num_features == 3 and type(layer.num_features) is int
    assert layer(torch.randn(4, 3)).shape == (4, 3)
