"""gd and minimize against closed forms and torch.optim."""

from __future__ import annotations

import pytest
import torch

from deepnotes import optim


def quadratic(eigenvalues, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=g,
                                       dtype=torch.float64))
    A = Q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ Q.T
    return A, (lambda x: 0.5 * x @ A @ x)


def test_gd_iterates_equal_the_closed_form_on_a_quadratic():
    A, f = quadratic([1.0, 3.0, 10.0])
    x0, lr, steps = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), 0.05, 25
    result = optim.gd(f, x0, lr, steps, record_path=True)
    expected = torch.linalg.matrix_power(torch.eye(3, dtype=torch.float64) - lr * A, steps) @ x0
    torch.testing.assert_close(result.x, expected)
    assert result.path.shape == (steps + 1, 3) and result.steps == steps
    torch.testing.assert_close(result.losses[-1], f(expected))


def test_gd_converges_below_two_over_L_and_diverges_above():
    A, f = quadratic([0.5, 2.0, 4.0])  # L = 4, threshold 0.5
    x0 = torch.ones(3, dtype=torch.float64)
    assert optim.gd(f, x0, 0.49, 3000, tol=1e-8).converged
    above = optim.gd(f, x0, 0.51, 3000)
    assert above.losses[-1] > above.losses[0]


def test_gd_with_a_given_gradient_and_row_wise_step_sizes():
    A, _ = quadratic([1.0, 4.0])
    rows = torch.ones(3, 2, dtype=torch.float64)
    lr = torch.tensor([[0.1], [0.2], [0.3]], dtype=torch.float64)
    batched = optim.gd(lambda x: 0.5 * ((x @ A) * x).sum(), rows, lr, 10, grad=lambda x: x @ A)
    for i in range(3):
        single = optim.gd(lambda x: 0.5 * x @ A @ x, rows[i], float(lr[i]), 10)
        torch.testing.assert_close(batched.x[i], single.x)


def test_gd_stops_on_divergence():
    result = optim.gd(lambda x: (x**2).sum(), torch.ones(2), 1e30, 50)
    assert result.diverged and result.steps < 50


def test_minimize_with_torch_sgd_equals_gd():
    A, f = quadratic([1.0, 5.0])
    x0 = torch.tensor([1.0, 1.0], dtype=torch.float64)
    ours = optim.gd(f, x0, 0.1, 30)
    via_optimizer = optim.minimize(f, x0, lambda p: torch.optim.SGD(p, lr=0.1), 30,
                                   record_path=True)
    torch.testing.assert_close(via_optimizer.x, ours.x)
    torch.testing.assert_close(via_optimizer.losses, ours.losses)
    assert via_optimizer.steps_to(float(ours.losses[10])) == 10


def test_gd_rejects_bad_input():
    f = lambda x: (x**2).sum()  # noqa: E731
    with pytest.raises(ValueError, match="lr"):
        optim.gd(f, torch.ones(2), -0.1, 5)
    with pytest.raises(ValueError, match="steps"):
        optim.gd(f, torch.ones(2), 0.1, -1)
    with pytest.raises(ValueError, match="x0"):
        optim.gd(f, torch.tensor([float("nan"), 1.0]), 0.1, 5)
    with pytest.raises(TypeError, match="x0"):
        optim.gd(f, [1.0, 2.0], 0.1, 5)
    with pytest.raises(TypeError, match="f"):
        optim.gd(None, torch.ones(2), 0.1, 5)
