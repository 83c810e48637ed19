"""nn.activations: values and gradients against torch's built-ins."""

import pytest
import torch
from torch import nn

from deepnotes.nn import activations as A


def _value_and_grad(fn, z, weights):
    z = z.clone().requires_grad_()
    out = fn(z)
    (out * weights).sum().backward()
    return out.detach(), z.grad


CASES = [
    (A.ReLU(), nn.ReLU()),
    (A.AbsoluteRectification(), torch.abs),
    (A.LeakyReLU(0.2), nn.LeakyReLU(0.2)),
    (A.Tanh(), nn.Tanh()),
    (A.Logistic(), nn.Sigmoid()),
]


@pytest.mark.parametrize("ours, reference", CASES, ids=lambda m: type(m).__name__)
def test_matches_torch(ours, reference):
    generator = torch.Generator().manual_seed(1)
    z = torch.cat([5 * torch.randn(200, generator=generator, dtype=torch.float64),
                   torch.tensor([0.0, -0.0, 1e-9, -1e-9, 40.0, -40.0], dtype=torch.float64)])
    weights = torch.randn(len(z), generator=generator, dtype=torch.float64)
    value, grad = _value_and_grad(ours, z, weights)
    ref_value, ref_grad = _value_and_grad(reference, z, weights)
    torch.testing.assert_close(value, ref_value, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(grad, ref_grad, atol=1e-12, rtol=1e-10)


def test_tanh_no_overflow():
    z = torch.tensor([-1e4, 1e4], requires_grad=True)
    out = A.tanh(z)
    out.sum().backward()
    torch.testing.assert_close(out, torch.tensor([-1.0, 1.0]))
    assert torch.isfinite(z.grad).all()


def test_parametric_leaky_relu_matches_prelu_per_channel():
    torch.manual_seed(0)
    reference = nn.PReLU(num_parameters=4, init=0.3)
    ours = A.ParametricLeakyReLU(4, init=0.3)
    with torch.no_grad():
        reference.weight.copy_(torch.tensor([0.1, -0.2, 0.3, 0.5]))
        ours.alpha.copy_(reference.weight)
    x = torch.randn(6, 4, 5, 5)
    weights = torch.randn(6, 4, 5, 5)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    (ours(x1) * weights).sum().backward()
    (reference(x2) * weights).sum().backward()
    torch.testing.assert_close(ours(x), reference(x))
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(ours.alpha.grad, reference.weight.grad)


def test_parametric_formula_course_form():
    """σ(z) = α·min(0, z) + max(0, z), and dσ/dα = min(0, z)."""
    alpha = torch.tensor([0.5], requires_grad=True)
    z = torch.tensor([-2.0, 3.0])
    out = A.parametric_leaky_relu(z, alpha)
    torch.testing.assert_close(out, torch.tensor([-1.0, 3.0]))
    out.sum().backward()
    assert alpha.grad.item() == pytest.approx(-2.0)


def test_saturation_of_logistic_and_tanh():
    z = torch.tensor([10.0], requires_grad=True)
    A.logistic(z).backward()
    assert z.grad.item() < 1e-4  # σ'(10) = σ(10)(1 − σ(10)) ≈ 4.5e-5
    z.grad = None
    A.relu(z).backward()
    assert z.grad.item() == 1.0


def test_make_activation_and_bad_inputs():
    assert isinstance(A.make_activation("abs"), A.AbsoluteRectification)
    assert isinstance(A.make_activation("tanh", implementation="torch"), nn.Tanh)
    assert A.make_activation("prelu", 5, implementation="torch").weight.shape == (5,)
    with pytest.raises(ValueError, match="implementation"):
        A.make_activation("tanh", implementation="jax")
    assert A.make_activation("prelu", num_channels=7).alpha.shape == (7,)
    with pytest.raises(ValueError, match="activation"):
        A.make_activation("swishy")
    with pytest.raises(TypeError, match="alpha"):
        A.LeakyReLU("0.1")
    with pytest.raises(ValueError, match="num_channels"):
        A.ParametricLeakyReLU(0)
    with pytest.raises(ValueError, match="channels"):
        A.ParametricLeakyReLU(3)(torch.zeros(2, 4))
    with pytest.raises(TypeError, match="z"):
        A.relu(torch.tensor([1, 2]))


def test_non_finite_slopes_refused_numpy_counts_accepted():
    import numpy as np

    with pytest.raises(ValueError, match="alpha"):
        A.LeakyReLU(float("nan"))
    with pytest.raises(ValueError, match="alpha"):
        A.leaky_relu(torch.zeros(3), float("inf"))
    with pytest.raises(ValueError, match="init"):
        A.ParametricLeakyReLU(2, init=float("inf"))
    assert A.ParametricLeakyReLU(np.int64(4)).alpha.shape == (4,)
    assert A.LeakyReLU(np.float32(0.2)).alpha == pytest.approx(0.2)
