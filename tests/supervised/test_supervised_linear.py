"""Linear regression: Gaussian MLE = least squares, against scikit-learn and closed forms."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.linear_model import LinearRegression as SkLinearRegression

from deepnotes import data
from deepnotes.supervised import LinearRegression, LogisticRegression, least_squares
from deepnotes.supervised.linear import SOLVERS


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
    for solver in ("lstsq", "normal", "gd"):  # normal: the minimum-norm form Xᵀ(XXᵀ)⁻¹y
        model = LinearRegression(solver=solver, fit_intercept=False, max_iter=20000).fit(X, y)
        np.testing.assert_allclose(model.coef_, pinv, atol=1e-6)
    # collinear columns: XᵀX and XXᵀ are both singular; lstsq still gives pinv(X) y
    tall = rng.normal(size=(40, 3)) @ np.array([[1.0, 2.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0],
                                                  [1.0, 0.0, 1.0, 2.0]])
    target = rng.normal(size=40)
    model = LinearRegression(fit_intercept=False).fit(tall, target)
    np.testing.assert_allclose(model.coef_, np.linalg.pinv(tall) @ target, atol=1e-10)
    with pytest.raises(ValueError, match="singular"):
        LinearRegression(solver="normal", fit_intercept=False).fit(tall, target)


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


BAD_WEIGHTS = {
    "negative": np.r_[-1.0, np.ones(19)],
    "all zero": np.zeros(20),
    "wrong length": np.ones(19),
    "2-D": np.ones((20, 1)),
    "NaN": np.r_[np.nan, np.ones(19)],
}


@pytest.mark.parametrize("bad", BAD_WEIGHTS, ids=list(BAD_WEIGHTS))
@pytest.mark.parametrize("estimator", [LinearRegression, LogisticRegression])
def test_bad_sample_weight_gets_scikit_learns_error(bad, estimator):
    """The weights are checked before any solver sees them, with scikit-learn's own message
    (a negative weight used to reach LAPACK's gelsd: 'INTERNAL ASSERT FAILED')."""
    X, y, _ = problem(n=20, d=3)
    target = y if estimator is LinearRegression else (y > np.median(y)).astype(int)
    with pytest.raises(ValueError) as ours:
        estimator().fit(X, target, sample_weight=BAD_WEIGHTS[bad])
    with pytest.raises(ValueError) as theirs:
        SkLinearRegression().fit(X, y, sample_weight=BAD_WEIGHTS[bad])
    assert str(ours.value) == str(theirs.value)


def test_scalar_and_list_weights_are_accepted_like_sklearn():
    X, y, _ = problem(n=20, d=3)
    base = LinearRegression().fit(X, y)
    np.testing.assert_allclose(LinearRegression().fit(X, y, sample_weight=2.5).coef_,
                               base.coef_, atol=1e-12)
    np.testing.assert_allclose(LinearRegression().fit(X, y, sample_weight=[1.0] * 20).coef_,
                               base.coef_, atol=1e-12)


def test_functional_core_refuses_non_finite_data_and_negative_weights():
    X, y, _ = problem(n=20, d=3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for solver in SOLVERS:
        with pytest.raises(ValueError, match="X contains NaN"):
            least_squares(torch.where(Xt == Xt[0, 0], torch.nan, Xt), yt, solver=solver)
        with pytest.raises(ValueError, match="sample_weight"):
            least_squares(Xt, yt, solver=solver, sample_weight=-torch.ones(20,
                                                                            dtype=torch.float64))
    with pytest.raises(ValueError, match="X is too large"):  # XᵀX overflows: no eigh on inf
        least_squares(Xt * 1e200, yt, solver="gd")


@pytest.mark.parametrize("params, error, match", [
    (dict(tol=float("nan")), ValueError, "tol"),
    (dict(tol=-1.0), ValueError, "tol"),
    (dict(max_iter=0), ValueError, "max_iter"),
    (dict(max_iter=2.5), TypeError, "max_iter"),
    (dict(fit_intercept="yes"), TypeError, "fit_intercept"),
    (dict(solver="qr"), ValueError, "solver"),
])
def test_bad_hyperparameters_are_refused_at_fit(params, error, match):
    X, y, _ = problem(n=20, d=3)
    with pytest.raises(error, match=match):
        LinearRegression(**params).fit(X, y)


def test_numpy_integer_hyperparameters_are_accepted():
    X, y, _ = problem(n=20, d=3)
    model = LinearRegression(solver="gd", max_iter=np.int64(200), tol=np.float64(1e-8))
    assert model.fit(X, y).n_iter_ <= 200
