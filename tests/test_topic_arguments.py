"""Argument checks of the topic packages go through ``core.checks``: NumPy and 0-d tensor
counts are accepted, NaN/Inf hyperparameters refused with the argument's name; theory solves
least squares through ``core.linalg`` and does not reach into ``supervised``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression as SkLinearRegression
from sklearn.linear_model import Ridge
from torch import nn

from deepnotes import adversarial, theory
from deepnotes.generative import losses as gan_losses
from deepnotes.supervised import LinearRegression
from deepnotes.theory.bias_variance import _least_squares_intercept

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.rand(6, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    return model, x, model(x).argmax(1).detach()


@pytest.mark.parametrize("call, match", [
    (lambda m, x, y: adversarial.fgsm(m, x, y, eps=NAN), "eps"),
    (lambda m, x, y: adversarial.pgd(m, x, y, eps=INF, steps=2), "eps"),
    (lambda m, x, y: adversarial.pgd(m, x, y, eps=0.1, steps=2, step_size=NAN), "step_size"),
    (lambda m, x, y: adversarial.carlini_wagner_l2(m, x, y, c=INF, steps=2), "c"),
    (lambda m, x, y: adversarial.minimal_eps(m, adversarial.fgsm, x, y, eps_max=NAN),
     "eps_max"),
    (lambda m, x, y: adversarial.AdversarialLoss(eps=0.1, alpha=NAN), "alpha"),
    (lambda m, x, y: adversarial.EOT(rotation=NAN), "rotation"),
    (lambda m, x, y: adversarial.train_patch(m, x, 0, size=2, steps=2, lr=INF), "lr"),
])
def test_adversarial_refuses_non_finite_hyperparameters(classifier, call, match):
    model, x, y = classifier
    with pytest.raises(ValueError, match=match):
        call(model, x, y)


def test_adversarial_accepts_numpy_and_tensor_counts(classifier):
    model, x, y = classifier
    rng = torch.Generator().manual_seed(2)
    ours = adversarial.pgd(model, x, y, eps=np.float64(0.1), steps=np.int64(3),
                           restarts=torch.tensor(1), rng=rng)
    rng.manual_seed(2)
    plain = adversarial.pgd(model, x, y, eps=0.1, steps=3, restarts=1, rng=rng)
    assert torch.equal(ours, plain)
    assert adversarial.accuracy_under_attack(model, None, x, y, batch_size=np.int64(4)) == 1.0
    with pytest.raises(TypeError, match="steps"):
        adversarial.pgd(model, x, y, eps=0.1, steps=2.0)


@pytest.mark.parametrize("call, match", [
    (lambda: gan_losses.make_loss("wgan-gp", lam=NAN), "lam"),
    (lambda: gan_losses.make_loss("dragan", noise_std=INF), "noise_std"),
    (lambda: gan_losses.make_loss("began", gamma=INF), "gamma"),
    (lambda: gan_losses.began_update_k(0.0, 1.0, 1.0, gamma=NAN), "gamma"),
    (lambda: gan_losses.clip_weights(nn.Linear(2, 2), clip=INF), "clip"),
])
def test_gan_losses_refuse_non_finite_options(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, error, match", [
    (lambda: theory.ridgeless_risk(NAN, 1.0, 1.0), ValueError, "gamma"),
    (lambda: theory.ridgeless_risk(0.5, INF, 1.0), ValueError, "sigma2"),
    (lambda: theory.random_features(3, 2.5), TypeError, "n_features"),
    (lambda: theory.random_features(3, 4, bandwidth=NAN), ValueError, "bandwidth"),
    (lambda: theory.add_label_noise(torch.zeros(4, dtype=torch.long), NAN, 3), ValueError,
     "fraction"),
    (lambda: theory.decompose_predictions(torch.zeros(4, 3), torch.zeros(3), noise_var=NAN),
     ValueError, "noise_var"),
])
def test_theory_refuses_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_theory_accepts_numpy_counts():
    phi = theory.random_features(np.int64(3), np.int64(5), seed=0)
    assert phi.weight.shape == (5, 3)
    out = theory.ridgeless_simulation(np.int64(20), [0.5], trials=np.int64(3), draws=2)
    assert out["d"] == [10]


def test_closed_form_estimators_are_recognised_without_importing_supervised():
    assert _least_squares_intercept(LinearRegression()) is True
    assert _least_squares_intercept(LinearRegression(fit_intercept=False)) is False
    assert _least_squares_intercept(LinearRegression(solver="gd")) is None
    assert _least_squares_intercept(SkLinearRegression(fit_intercept=False)) is False
    assert _least_squares_intercept(SkLinearRegression(positive=True)) is None
    assert _least_squares_intercept(Ridge()) is None
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, deepnotes.theory; "
         "print('deepnotes.supervised' in sys.modules)"],
        capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"  # theory does not reach sideways into supervised


def test_bootstrap_closed_form_equals_refitting_even_when_rank_deficient():
    """The batched weighted solve (one design, weights = row multiplicities) gives each
    resample's own least-squares fit, also where a resample is rank-deficient (then the
    minimum-norm fit, as refitting scikit-learn's LinearRegression gives)."""
    g = torch.Generator().manual_seed(4)
    X = torch.randn(12, 2, generator=g, dtype=torch.float64)
    X = torch.cat([X, X[:, :1] * 2.0], dim=1)  # a collinear third column: rank 2 everywhere
    y = X[:, 0] - X[:, 1] + 0.1 * torch.randn(12, generator=g, dtype=torch.float64)
    X_test = torch.randn(5, 3, generator=g, dtype=torch.float64)
    y_test = torch.randn(5, generator=g, dtype=torch.float64)
    indices = torch.randint(0, 12, (6, 12), generator=g)
    batched = theory.bootstrap_decompose(LinearRegression, X, y, X_test, y_test, indices=indices)
    refit = theory.bootstrap_decompose(LinearRegression, X, y, X_test, y_test, indices=indices,
                                       vectorize=False)
    sklearn = theory.bootstrap_decompose(SkLinearRegression, X.numpy(), y.numpy(),
                                         X_test.numpy(), y_test.numpy(), indices=indices,
                                         vectorize=False)
    for other in (refit, sklearn):
        for key in ("risk", "bias", "variance"):
            assert getattr(batched, key) == pytest.approx(getattr(other, key), rel=1e-8)
