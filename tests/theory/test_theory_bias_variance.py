"""Bias–variance decomposition: OLS closed form, an independent plain Monte Carlo computation on
the same data sets, exact additivity, vectorized = one at a time, mlxtend on the same bootstrap
draws (and a plain loop for the terms mlxtend does not report)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from deepnotes.engine import cpu_threads
from deepnotes.supervised import LinearRegression
from deepnotes.theory import (
    StackedModules,
    Training,
    batched_least_squares,
    bootstrap_decompose,
    decompose,
    decompose_predictions,
)


def ols_problem(n, d, sigma, m=4000):
    coef = torch.ones(d, dtype=torch.float64) / math.sqrt(d)

    def sample(generator):
        X = torch.randn(n, d, generator=generator, dtype=torch.float64)
        return X, X @ coef + sigma * torch.randn(n, generator=generator, dtype=torch.float64)

    generator = torch.Generator().manual_seed(12345)
    x_test = torch.randn(m, d, generator=generator, dtype=torch.float64)
    return sample, x_test, x_test @ coef


@pytest.mark.parametrize("n, d", [(20, 5), (40, 10)])
def test_ols_expected_risk_matches_closed_form(n, d):
    sigma = 0.7
    sample, x_test, f_test = ols_problem(n, d, sigma)
    result = decompose(lambda: LinearRegression(fit_intercept=False), sample, x_test, f_test,
                       n_datasets=800, noise_var=sigma**2, seed=1)
    expected = sigma**2 * (1 + d / (n - d - 1))  # E over x and D, isotropic Gaussian design
    assert abs(result.risk.value - expected) < 3 * result.risk.stderr
    # OLS is unbiased for a linear truth: bias² ≈ 0 within its standard error
    assert abs(result.bias2.value) < 3 * result.bias2.stderr + 1e-12
    # the variance term alone: σ² d/(n − d − 1) conditional on this test sample
    conditional = sigma**2 * float((x_test**2).sum(1).mean()) / (n - d - 1)
    assert abs(result.variance.value - conditional) < 3 * result.variance.stderr


def test_decompose_equals_plain_monte_carlo_on_the_same_data_sets():
    """Every number of ``decompose`` recomputed on the data sets it drew, by a plain loop:
    numpy least squares per data set, then the textbook estimators (debiased bias², unbiased
    variance, risk against f plus σ², risk against the noisy labels)."""
    n, R, sigma = 30, 40, 0.4
    drawn = []

    def features(x):  # a cubic in x: biased for the truth sin(2πx)
        return torch.stack([x, x**2, x**3], dim=1)

    def sample(rng):
        x = torch.rand(n, generator=rng, dtype=torch.float64) * 2 - 1
        y = torch.sin(2 * math.pi * x) + sigma * torch.randn(n, generator=rng, dtype=torch.float64)
        drawn.append((features(x).numpy(), y.numpy()))
        return features(x), y

    grid = torch.linspace(-1, 1, 25, dtype=torch.float64)
    f_test = torch.sin(2 * math.pi * grid)
    y_test = f_test + sigma * torch.randn(25, generator=torch.Generator().manual_seed(9),
                                          dtype=torch.float64)
    result = decompose(lambda: LinearRegression(), sample, features(grid), f_test, R,
                       noise_var=sigma**2, y_test=y_test, seed=4)
    assert len(drawn) == R

    design_test = np.c_[np.ones(25), features(grid).numpy()]
    predictions = np.stack([design_test @ np.linalg.lstsq(np.c_[np.ones(n), X], y, rcond=None)[0]
                            for X, y in drawn])  # (R, m)
    f, y_noisy = f_test.numpy(), y_test.numpy()
    variance = predictions.var(axis=0, ddof=1).mean()
    bias2 = ((predictions.mean(axis=0) - f) ** 2).mean() - variance / R
    per_set = ((predictions - f) ** 2).mean(axis=1) + sigma**2
    assert bias2 > 0.01 and variance > 0.001  # a problem where both terms matter
    assert result.variance.value == pytest.approx(variance, rel=1e-9)
    assert result.bias2.value == pytest.approx(bias2, rel=1e-9)
    assert result.noise.value == sigma**2
    assert result.risk.value == pytest.approx(per_set.mean(), rel=1e-9)
    np.testing.assert_allclose(result.per_dataset_risk.numpy(), per_set, rtol=1e-9)
    assert result.risk.stderr == pytest.approx(per_set.std(ddof=1) / math.sqrt(R), rel=1e-9)
    assert result.measured_risk.value == pytest.approx(((predictions - y_noisy) ** 2).mean(),
                                                       rel=1e-9)
    np.testing.assert_allclose(result.mean_prediction.numpy(), predictions.mean(axis=0),
                               rtol=1e-9, atol=1e-12)


def test_decomposition_adds_up_exactly():
    rng = np.random.default_rng(0)
    predictions = torch.from_numpy(rng.normal(size=(30, 50)))
    f = torch.from_numpy(rng.normal(size=50))
    y = f + 0.5 * torch.from_numpy(rng.normal(size=50))
    for kwargs in ({"noise_var": 0.25}, {"y_test": y}):
        result = decompose_predictions(predictions, f, **kwargs)
        total = result.bias2.value + result.variance.value + result.noise.value
        assert result.risk.value == pytest.approx(total, rel=1e-12)
    # the plug-in identity: mean_r mean_x (p − f)² = mean_x (p̄ − f)² + mean_x var_plugin
    p, fn = predictions.numpy(), f.numpy()
    lhs = ((p - fn) ** 2).mean()
    rhs = ((p.mean(0) - fn) ** 2).mean() + p.var(0).mean()
    assert result.risk.value - result.noise.value == pytest.approx(lhs, rel=1e-12)
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_jackknife_stderr_matches_brute_force():
    rng = np.random.default_rng(1)
    p = rng.normal(size=(12, 7)) + rng.normal(size=7)
    f = rng.normal(size=7)
    result = decompose_predictions(torch.from_numpy(p), torch.from_numpy(f), noise_var=0.0)

    def variance_term(q):
        return q.var(0, ddof=1).mean()

    loo = np.array([variance_term(np.delete(p, r, 0)) for r in range(12)])
    brute = math.sqrt(11 / 12 * ((loo - loo.mean()) ** 2).sum())
    assert result.variance.stderr == pytest.approx(brute, rel=1e-10)


def test_batched_least_squares_equals_sklearn():
    from sklearn.linear_model import LinearRegression as SkLinearRegression

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(4, 30, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(4, 30, generator=generator, dtype=torch.float64)
    coef, intercept = batched_least_squares(X, y)
    for r in range(4):
        ref = SkLinearRegression().fit(X[r].numpy(), y[r].numpy())
        np.testing.assert_allclose(coef[r].numpy(), ref.coef_, atol=1e-10)
        assert float(intercept[r]) == pytest.approx(ref.intercept_, abs=1e-10)


def test_vectorized_module_training_equals_one_at_a_time():
    sample, x_test, f_test = ols_problem(n=24, d=2, sigma=0.3, m=50)

    def make_model():
        return nn.Sequential(nn.Linear(2, 8, dtype=torch.float64), nn.Tanh(),
                             nn.Linear(8, 1, dtype=torch.float64), nn.Flatten(0))

    training = Training(steps=40, batch_size=8,
                        optimizer=lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9))
    with cpu_threads(1):
        results = [decompose(make_model, sample, x_test, f_test, 6, noise_var=0.09,
                             training=training, vectorize=v, device="cpu", seed=3)
                   for v in (True, False)]
    for key in ("risk", "bias2", "variance"):
        assert getattr(results[0], key).value == pytest.approx(getattr(results[1], key).value,
                                                               rel=1e-9)


def test_vectorized_linear_equals_one_at_a_time():
    sample, x_test, f_test = ols_problem(n=15, d=3, sigma=0.5, m=100)
    results = [decompose(lambda: LinearRegression(), sample, x_test, f_test, 20, noise_var=0.25,
                         vectorize=v, seed=5) for v in (True, False)]
    assert results[0].risk.value == pytest.approx(results[1].risk.value, rel=1e-10)


def test_stacked_modules_match_each_replica():
    models = [nn.Linear(3, 2) for _ in range(4)]
    stacked = StackedModules(models)
    x = torch.randn(5, 4, 3)
    out = stacked(x)
    for r, model in enumerate(models):
        torch.testing.assert_close(out[:, r], model(x[:, r]))
    shared = stacked(x[:, 0], shared_input=True)
    torch.testing.assert_close(shared[:, 2], models[2](x[:, 0]))
    torch.testing.assert_close(stacked.replica(1, nn.Linear(3, 2))(x[:, 1]), models[1](x[:, 1]))
    with pytest.raises(TypeError, match="BatchNorm"):
        StackedModules([nn.BatchNorm1d(3)])


def test_bootstrap_equals_mlxtend_on_the_same_draws():
    from mlxtend.evaluate import bias_variance_decomp
    from sklearn.linear_model import LinearRegression as SkLinearRegression
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.0, -1.0, 0.5]) + 0.3 * rng.normal(size=60)
    Xt = rng.normal(size=(40, 3))
    yt = Xt @ np.array([1.0, -1.0, 0.5]) + 0.3 * rng.normal(size=40)
    rounds = 25
    draws = np.random.RandomState(7)  # mlxtend's draws for random_seed=7
    indices = np.stack([draws.choice(np.arange(60), size=60, replace=True) for _ in range(rounds)])
    ref = bias_variance_decomp(SkLinearRegression(), X, y, Xt, yt, loss="mse",
                               num_rounds=rounds, random_seed=7)
    ours = bootstrap_decompose(lambda: LinearRegression(), X, y, Xt, yt, indices=indices)
    assert (ours.risk, ours.bias, ours.variance) == pytest.approx(ref, rel=1e-9)
    # bias², noise and the cross term (mlxtend has no f) against a plain loop over the same
    # resamples: p̄ = mean of the refits, bias² = mean (p̄ − f)², and the cross term from its
    # own formula mean (p̄ − y)² − mean (p̄ − f)² − σ² = 2 mean (p̄ − f)(f − y) + mean (f − y)² − σ²
    f = Xt @ np.array([1.0, -1.0, 0.5])
    refits = np.stack([SkLinearRegression().fit(X[i], y[i]).predict(Xt) for i in indices])
    main = refits.mean(0)
    plain_bias2 = ((main - f) ** 2).mean()
    for noise_var, plain_noise in ((0.09, 0.09), (None, ((yt - f) ** 2).mean())):
        ours_f = bootstrap_decompose(lambda: LinearRegression(), X, y, Xt, yt, indices=indices,
                                     f_test=f, noise_var=noise_var)
        assert ours_f.bias2 == pytest.approx(plain_bias2, rel=1e-9)
        assert ours_f.noise == pytest.approx(plain_noise, rel=1e-12)
        plain_cross = 2 * ((main - f) * (f - yt)).mean() + ((f - yt) ** 2).mean() - plain_noise
        assert ours_f.cross_term == pytest.approx(plain_cross, rel=1e-9, abs=1e-12)
        assert ours_f.bias == pytest.approx(((main - yt) ** 2).mean(), rel=1e-9)

    labels, labels_test = (y > 0).astype(int), (yt > 0).astype(int)
    ref01 = bias_variance_decomp(DecisionTreeClassifier(random_state=0), X, labels, Xt,
                                 labels_test, loss="0-1_loss", num_rounds=rounds, random_seed=7)
    ours01 = bootstrap_decompose(lambda: DecisionTreeClassifier(random_state=0), X, labels, Xt,
                                 labels_test, loss="0-1", indices=indices)
    assert (ours01.risk, ours01.bias, ours01.variance) == pytest.approx(ref01, abs=1e-12)
    # Domingos: for two classes loss = bias + net variance, not bias + variance
    assert ours01.risk == pytest.approx(ours01.bias + ours01.net_variance, abs=1e-12)


def test_bad_input():
    sample, x_test, f_test = ols_problem(10, 2, 1.0, m=5)
    with pytest.raises(ValueError, match="n_datasets"):
        decompose(lambda: LinearRegression(), sample, x_test, f_test, 2, noise_var=1.0)
    with pytest.raises(ValueError, match="noise_var"):
        decompose(lambda: LinearRegression(), sample, x_test, f_test, 5)
    with pytest.raises(ValueError, match="loss"):
        bootstrap_decompose(lambda: LinearRegression(), np.zeros((4, 1)), np.zeros(4),
                            np.zeros((2, 1)), np.zeros(2), loss="hinge")
    with pytest.raises(TypeError, match="make_model"):
        decompose(lambda: object(), sample, x_test, f_test, 5, noise_var=1.0)


def test_weighted_batched_least_squares_equals_sklearn_with_sample_weight():
    from sklearn.linear_model import LinearRegression as SkLinearRegression

    from deepnotes.theory import weighted_least_squares_batched

    generator = torch.Generator().manual_seed(3)
    X = torch.randn(40, 3, generator=generator, dtype=torch.float64) + 5.0
    y = torch.randn(40, generator=generator, dtype=torch.float64)
    weights = torch.randint(0, 4, (6, 40), generator=generator).double()
    for fit_intercept in (True, False):
        coef, intercept = weighted_least_squares_batched(X, y, weights, fit_intercept)
        for r in range(6):
            ref = SkLinearRegression(fit_intercept=fit_intercept).fit(
                X.numpy(), y.numpy(), sample_weight=weights[r].numpy())
            np.testing.assert_allclose(coef[r].numpy(), ref.coef_, atol=1e-9)
            assert float(intercept[r]) == pytest.approx(ref.intercept_, abs=1e-9)
    # an ill-conditioned (rank-deficient) design is left to the SVD path
    assert weighted_least_squares_batched(torch.ones(10, 2, dtype=torch.float64),
                                          torch.zeros(10, dtype=torch.float64),
                                          torch.ones(2, 10, dtype=torch.float64)) is None
