"""Logistic and softmax regression against scikit-learn (no penalty and L2)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from deepnotes.supervised import LogisticRegression, cross_entropy_objective


def overlapping(n_classes=2, seed=0, n=400, d=4):
    X, y = make_classification(n_samples=n, n_features=d, n_informative=d, n_redundant=0,
                               n_classes=n_classes, class_sep=0.7, flip_y=0.1, random_state=seed)
    return X, y


def sklearn_reference(X, y, C=np.inf):
    return SkLogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_newton_equals_sklearn_without_penalty(n_classes):
    X, y = overlapping(n_classes)
    ours = LogisticRegression().fit(X, y)
    ref = sklearn_reference(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    assert (ours.predict(X) == ref.predict(X)).all()


@pytest.mark.parametrize("n_classes", [2, 3])
def test_l2_is_inverse_C(n_classes):
    X, y = overlapping(n_classes, seed=1)
    ours = LogisticRegression(l2=2.0).fit(X, y)
    ref = sklearn_reference(X, y, C=0.5)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-5)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_gradient_descent_reaches_the_newton_solution(n_classes):
    X, y = overlapping(n_classes, seed=2, n=200, d=3)
    newton = LogisticRegression().fit(X, y)
    gd = LogisticRegression(solver="gd", max_iter=20_000, tol=1e-9).fit(X, y)
    np.testing.assert_allclose(gd.coef_, newton.coef_, atol=1e-4)


def test_softmax_with_two_classes_is_logistic():
    X, y = overlapping(2, seed=3)
    logistic = LogisticRegression().fit(X, y)
    softmax = LogisticRegression(multi_class="multinomial").fit(X, y)
    np.testing.assert_allclose(softmax.coef_, logistic.coef_, atol=1e-8)
    np.testing.assert_allclose(softmax.predict_proba(X), logistic.predict_proba(X), atol=1e-10)


def test_objective_is_the_negative_log_likelihood():
    X, y = overlapping(2, seed=4, n=50)
    model = LogisticRegression().fit(X, y)
    X1 = torch.from_numpy(np.c_[X, np.ones(len(X))])
    theta = torch.from_numpy(np.r_[model.coef_[0], model.intercept_])
    labels, ones = torch.from_numpy(y), torch.ones(len(y), dtype=torch.float64)
    mask = torch.ones(5, dtype=torch.float64)
    nll = cross_entropy_objective(theta, X1, labels, ones, 0.0, mask)
    p = model.predict_proba(X)[np.arange(len(y)), y]
    assert float(nll) == pytest.approx(-np.log(p).sum(), rel=1e-12)
    # the gradient vanishes at the MLE (checked by autograd)
    theta.requires_grad_(True)
    cross_entropy_objective(theta, X1, labels, ones, 0.0, mask).backward()
    assert float(theta.grad.abs().max()) < 1e-6


def test_labels_are_kept():
    X, y = overlapping(3, seed=5)
    labels = np.array(["cat", "dog", "eel"])[y]
    model = LogisticRegression().fit(X, labels)
    assert set(model.predict(X)) <= set(labels) and list(model.classes_) == ["cat", "dog", "eel"]


def test_bad_input():
    X, y = overlapping(2, n=40)
    with pytest.raises(ValueError, match="l2"):
        LogisticRegression(l2=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        LogisticRegression(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="class"):
        LogisticRegression().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="multi_class"):
        LogisticRegression(multi_class="ovr").fit(X, y)


@pytest.mark.parametrize("params, error, match", [
    (dict(l2=float("inf")), ValueError, "l2"),
    (dict(l2=float("nan")), ValueError, "l2"),
    (dict(tol=float("nan")), ValueError, "tol"),
    (dict(max_iter=0), ValueError, "max_iter"),
    (dict(max_iter="100"), TypeError, "max_iter"),
])
def test_non_finite_or_wrong_hyperparameters_are_refused(params, error, match):
    X, y = overlapping(2, n=40)
    with pytest.raises(error, match=match):
        LogisticRegression(**params).fit(X, y)


def test_numpy_scalars_are_accepted_and_nan_inputs_refused():
    X, y = overlapping(2, n=60)
    model = LogisticRegression(l2=np.float64(1.0), max_iter=np.int64(50)).fit(X, y)
    reference = LogisticRegression(l2=1.0, max_iter=50).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(X, y)
