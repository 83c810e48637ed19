"""Closed form, Nelder–Mead and Newton against scikit-learn and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepnotes.optim import alternatives


def test_least_squares_equals_sklearn():
    from sklearn.linear_model import LinearRegression

    g = torch.Generator().manual_seed(0)
    X = torch.randn(50, 4, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64) + 0.7 \
        + 0.1 * torch.randn(50, generator=g, dtype=torch.float64)
    coef, intercept = alternatives.least_squares(X, y)
    reference = LinearRegression().fit(X.numpy(), y.numpy())
    np.testing.assert_allclose(coef.numpy(), reference.coef_, rtol=1e-10)
    assert float(intercept) == pytest.approx(reference.intercept_, rel=1e-10)
    coef0, intercept0 = alternatives.least_squares(X, y, fit_intercept=False)
    np.testing.assert_allclose(coef0.numpy(), np.linalg.lstsq(X.numpy(), y.numpy(), rcond=None)[0],
                               rtol=1e-10)
    assert float(intercept0) == 0.0


def test_least_squares_rejects_bad_shapes():
    with pytest.raises(ValueError, match="X"):
        alternatives.least_squares(torch.ones(5), torch.ones(5))
    with pytest.raises(ValueError, match="y"):
        alternatives.least_squares(torch.ones(5, 2), torch.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        alternatives.least_squares(torch.full((3, 1), float("nan")), torch.ones(3))


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize("x0", [[-1.2, 1.0], [0.0, 0.0, 0.5]])
def test_nelder_mead_follows_scipy(x0):
    from scipy.optimize import minimize

    def f(x):
        x = torch.as_tensor(x, dtype=torch.float64)
        return float(sum(rosenbrock(x[i:i + 2]) for i in range(len(x) - 1)))

    ours = alternatives.nelder_mead(f, torch.tensor(x0, dtype=torch.float64))
    reference = minimize(f, np.array(x0), method="Nelder-Mead")
    assert ours.converged and reference.success
    np.testing.assert_allclose(ours.x.numpy(), reference.x, atol=1e-6)
    assert ours.evaluations == reference.nfev  # the same simplex moves, step for step
    np.testing.assert_allclose(ours.x.numpy(), np.ones(len(x0)), atol=1e-3)


def logistic_problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 3, generator=g, dtype=torch.float64)
    w_true = torch.tensor([1.5, -1.0, 0.5], dtype=torch.float64)
    y = (torch.rand(200, generator=g, dtype=torch.float64) < torch.sigmoid(X @ w_true)).double()

    def loss(w):  # mean logistic loss, non-separable data: strictly convex
        return torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y)

    return X, y, loss


def test_newton_converges_quadratically_on_logistic_regression():
    X, y, loss = logistic_problem()
    result = alternatives.newton(loss, torch.zeros(3, dtype=torch.float64), tol=1e-13)
    assert result.converged and len(result.grad_norms) <= 10
    norms = result.grad_norms
    # near the optimum the gradient norm is squared each step: ‖g_{k+1}‖ ≤ C ‖g_k‖² with a
    # steady C (≈ 7.7 here), so the linear rate ‖g_{k+1}‖/‖g_k‖ itself collapses each step;
    # pairs whose second norm is at round-off level (< 1e-12) say nothing and are skipped
    close = [(a, b) for a, b in zip(norms, norms[1:], strict=False) if a < 1e-2 and b > 1e-12]
    assert len(close) >= 2, norms
    for a, b in close:
        assert b <= 10 * a**2
    rates = [b / a for a, b in close]
    for earlier, later in zip(rates, rates[1:], strict=False):
        assert later < earlier / 10
    from scipy.optimize import minimize

    reference = minimize(lambda w: float(loss(torch.tensor(w))), np.zeros(3), method="BFGS",
                         options={"gtol": 1e-10})
    np.testing.assert_allclose(result.x.numpy(), reference.x, atol=1e-5)


def test_newton_rejects_bad_input():
    with pytest.raises(TypeError, match="x0"):
        alternatives.newton(lambda w: (w**2).sum(), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="steps"):
        alternatives.newton(lambda w: (w**2).sum(), torch.zeros(2), steps=-1)
