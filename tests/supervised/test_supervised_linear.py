"""Linear regression: Gaussian MLE = least squares, against scikit-learn and closed forms."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.linear_model import LinearRegression as SkLinearRegression

from deepnotes import data
from deepnotes.supervised import LinearRegression, least_squares


def problem(n=200, d=5, noise=0.3, seed=0):
    truth = data.regression(n, d, noise, "linear", seed=seed)
    return truth.X.numpy(), truth.y.numpy(), truth


@pytest.mark.parametrize("solver", ["lstsq", "normal", "gd"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_coefficients_equal_sklearn(solver, fit_intercept):
    X, y, _ = problem()
    ours = LinearRegression(solver=solver, fit_intercept=fit_intercept).fit(X, y)
    ref = SkLinearRegression(fit_intercept=fit_intercept).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-6)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-6)


def test_sample_weight_equals_sklearn():
    X, y, _ = problem(seed=1)
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    ours = LinearRegression().fit(X, y, sample_weight=w)
    ref = SkLinearRegression().fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)


def test_sigma2_is_mle_and_log_likelihood_matches_scipy():
    X, y, truth = problem(n=2000, noise=0.5)
    model = LinearRegression().fit(X, y)
    residuals = y - model.predict(X)
    assert model.sigma2_ == pytest.approx(np.mean(residuals**2), rel=1e-12)
    assert model.sigma2_ == pytest.approx(0.25, rel=0.1)  # σ = 0.5
    expected = stats.norm.logpdf(y, model.predict(X), math.sqrt(model.sigma2_)).sum()
    assert model.log_likelihood(X, y) == pytest.approx(expected, rel=1e-10)
    # the MLE maximizes the likelihood: perturbing the coefficients lowers it
    shifted = LinearRegression().fit(X, y)
    shifted.coef_ = shifted.coef_ + 0.01
    assert shifted.log_likelihood(X, y) < model.log_likelihood(X, y)


def test_rank_deficient_lstsq_and_gd_give_the_minimum_norm_solution():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 30))  # under-determined: infinitely many interpolants
    y = rng.normal(size=10)
    pinv = np.linalg.pinv(X) @ y
    for solver in ("lstsq", "gd"):
        model = LinearRegression(solver=solver, fit_intercept=False, max_iter=20000).fit(X, y)
        np.testing.assert_allclose(model.coef_, pinv, atol=1e-6)
    with pytest.raises(ValueError, match="singular"):
        LinearRegression(solver="normal", fit_intercept=False).fit(X, y)


def test_functional_core_on_tensors():
    X, y, _ = problem()
    fit = least_squares(torch.from_numpy(X), torch.from_numpy(y))
    ref = SkLinearRegression().fit(X, y)
    np.testing.assert_allclose(fit.coef.numpy(), ref.coef_, atol=1e-10)
    assert fit.n_iter == 1 and fit.converged


def test_bad_input():
    X, y, _ = problem(n=20)
    with pytest.raises(ValueError, match="solver"):
        LinearRegression(solver="qr").fit(X, y)
    with pytest.raises(ValueError):
        LinearRegression().fit(X, y[:-1])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError):
        LinearRegression().fit(Xn, y)
    with pytest.raises(ValueError, match="X must be"):
        least_squares(torch.zeros(3), torch.zeros(3))
