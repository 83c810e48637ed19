"""Empirical and per-group risk against direct NumPy computations."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression as SkLinearRegression
from sklearn.metrics import log_loss, mean_squared_error

from deepnotes.supervised import (
    LinearRegression,
    LogisticRegression,
    empirical_risk,
    group_risk,
    inverse_frequency_weights,
)


def test_empirical_risk_matches_sklearn_metrics():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=100)
    model = SkLinearRegression().fit(X, y)
    assert empirical_risk(model, X, y, "mse") == pytest.approx(
        mean_squared_error(y, model.predict(X)))
    labels = (y > 0).astype(int)
    clf = LogisticRegression().fit(X, labels)
    assert empirical_risk(clf, X, labels, "cross-entropy") == pytest.approx(
        log_loss(labels, clf.predict_proba(X)))
    assert empirical_risk(clf, X, labels, "0-1") == pytest.approx(
        np.mean(clf.predict(X) != labels))


def test_group_risk_and_gap():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    groups = np.r_[np.zeros(180, int), np.ones(20, int)]
    y = np.where(groups == 0, X[:, 0], -X[:, 0]) + 0.1 * rng.normal(size=200)
    model = LinearRegression().fit(X, y)
    table = group_risk(model, X, y, groups, "mse")
    residual2 = (model.predict(X) - y) ** 2
    assert table.counts == (180, 20)
    assert table.risks[0] == pytest.approx(residual2[:180].mean())
    assert table.risks[1] == pytest.approx(residual2[180:].mean())
    assert table.gap == pytest.approx(residual2[180:].mean() - residual2[:180].mean())
    assert table.worst_group == 1 and table.overall == pytest.approx(residual2.mean())
    assert [row["count"] for row in table.table()] == [180, 20]


def test_inverse_frequency_weights_equalize_groups():
    groups = np.array([0] * 90 + [1] * 10)
    w = inverse_frequency_weights(groups)
    assert w[groups == 0].sum() == pytest.approx(w[groups == 1].sum())
    assert w.mean() == pytest.approx(1.0)


def test_bad_input():
    X = np.zeros((4, 1))
    model = SkLinearRegression().fit(X, np.zeros(4))
    with pytest.raises(ValueError, match="groups"):
        group_risk(model, X, np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match="loss"):
        empirical_risk(model, X, np.zeros(4), "hinge")
