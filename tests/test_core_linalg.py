"""The one least-squares solver: scikit-learn's answers, the conditioning rule, both routes,
bad input, and the same bytes in fresh processes whatever the thread count."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression as SkLinearRegression

from deepnotes.core import linalg
from deepnotes.core.checks import broadcast_shapes
from deepnotes.core.linalg import IllConditionedError, least_squares


def batch(seed=0, R=5, n=40, d=3, shift=3.0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(R, n, d, generator=g, dtype=torch.float64) + shift
    y = torch.randn(R, n, generator=g, dtype=torch.float64)
    w = torch.randint(0, 4, (R, n), generator=g).double()
    return X, y, w


@pytest.mark.parametrize("method", linalg.METHODS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_weighted_batched_fits_equal_sklearn(method, fit_intercept):
    X, y, w = batch()
    coef, intercept = least_squares(X, y, weights=w, fit_intercept=fit_intercept, method=method)
    for r in range(len(X)):
        ref = SkLinearRegression(fit_intercept=fit_intercept).fit(
            X[r].numpy(), y[r].numpy(), sample_weight=w[r].numpy())
        np.testing.assert_allclose(coef[r].numpy(), ref.coef_, atol=1e-10)
        assert float(intercept[r]) == pytest.approx(ref.intercept_, abs=1e-10)


def test_shapes_several_right_hand_sides_and_shared_weights():
    X, y, w = batch()
    Y = torch.stack([y, 2 * y + 1], dim=-1)  # (R, n, 2)
    coef, intercept = least_squares(X, Y, fit_intercept=True)
    assert coef.shape == (5, 3, 2) and intercept.shape == (5, 2)
    single, b = least_squares(X, y, fit_intercept=True)
    torch.testing.assert_close(coef[..., 0], single)
    torch.testing.assert_close(coef[..., 1], 2 * single)  # the fit is linear in y
    torch.testing.assert_close(intercept[..., 1], 2 * b + 1)
    # one weight vector for every problem of the batch = the same vector repeated
    shared = least_squares(X, y, weights=w[0], fit_intercept=True)
    repeated = least_squares(X, y, weights=w[0].expand(5, -1), fit_intercept=True)
    torch.testing.assert_close(shared.coef, repeated.coef)
    # one design for R weight vectors (the bootstrap's layout)
    coef, intercept = least_squares(X[0].expand(5, 40, 3), y[0].expand(5, 40), weights=w,
                                    fit_intercept=True)
    assert coef.shape == (5, 3) and intercept.shape == (5,)


def test_integer_weights_equal_repeated_rows():
    X, y, w = batch(R=1)
    rows = torch.repeat_interleave(torch.arange(40), w[0].long())
    weighted = least_squares(X[0], y[0], weights=w[0], fit_intercept=True)
    repeated = least_squares(X[0][rows], y[0][rows], fit_intercept=True)
    torch.testing.assert_close(weighted.coef, repeated.coef, atol=1e-12, rtol=0)
    torch.testing.assert_close(weighted.intercept, repeated.intercept, atol=1e-12, rtol=0)


@pytest.mark.parametrize("method", ["auto", "svd"])
def test_rank_deficient_problems_give_the_minimum_norm_solution(method):
    g = torch.Generator().manual_seed(1)
    wide = torch.randn(3, 10, 30, generator=g, dtype=torch.float64)
    y_wide = torch.randn(3, 10, generator=g, dtype=torch.float64)
    mixing = torch.tensor([[1.0, 2.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 2.0]],
                          dtype=torch.float64)
    collinear = torch.randn(40, 3, generator=g, dtype=torch.float64) @ mixing  # rank 3 of 4
    y_tall = torch.randn(40, generator=g, dtype=torch.float64)
    for X, y in ((wide, y_wide), (collinear, y_tall)):
        reference = (torch.linalg.pinv(X) @ y.unsqueeze(-1)).squeeze(-1)
        torch.testing.assert_close(least_squares(X, y, method=method).coef, reference)
    with pytest.raises(IllConditionedError, match="method='svd'"):
        least_squares(collinear, y_tall, method="normal")
    # the wide full-rank problem has a well-conditioned XXᵀ: the normal route solves it too
    reference = (torch.linalg.pinv(wide) @ y_wide.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(least_squares(wide, y_wide, method="normal").coef, reference)


def designed(singular_values, seed=2, n=6):
    """A = U diag(σ) Vᵀ with the given σ and random orthonormal U (n × d), V (d × d)."""
    g = torch.Generator().manual_seed(seed)
    d = len(singular_values)
    U = torch.linalg.qr(torch.randn(n, d, generator=g, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))[0]
    S = torch.tensor(singular_values, dtype=torch.float64)
    return U @ torch.diag(S) @ V.T, U, V


@pytest.mark.parametrize("solve", [linalg._svd_solve, linalg._pseudo_inverse_solve],
                         ids=["gelsd", "svd"])
def test_the_conditioning_rule_drops_exactly_the_singular_values_below_rcond(solve):
    rcond = 6 * torch.finfo(torch.float64).eps  # max(n, d)·ε for a 6 × 2 design
    for factor, kept in ((0.25, False), (4.0, True)):
        A, U, V = designed([1.0, factor * rcond])
        c = U[:, 1:2]  # the right-hand side along the small singular direction
        coef = solve(A.unsqueeze(0), c.unsqueeze(0))[0, :, 0]
        along = float(coef @ V[:, 1])  # σ₂⁻¹ u₂ᵀc = 1/σ₂ ≈ 1e14 when kept, 0 when dropped
        if kept:  # (σ₂ ≈ 5e-15 is computed to about ε·σ₁: a few per cent)
            assert along == pytest.approx(1 / (factor * rcond), rel=0.2)
        else:
            assert abs(along) < 1e-6


def test_auto_takes_the_normal_equations_only_where_they_are_accurate(monkeypatch):
    calls = []
    original = linalg._svd_solve
    monkeypatch.setattr(linalg, "_svd_solve", lambda A, C: calls.append(len(A)) or original(A, C))
    good, _, _ = designed([1.0, 0.5])
    bad, _, _ = designed([1.0, 1e-4])  # κ = 1e4: κ²ε ≈ 2e-8 > 1e-10
    X = torch.stack([good, bad, good])
    y = torch.ones(3, 6, dtype=torch.float64)
    auto = least_squares(X, y, method="auto").coef
    assert calls == [1]  # only the ill-conditioned problem went to the SVD route
    torch.testing.assert_close(auto, least_squares(X, y, method="svd").coef, atol=1e-9,
                               rtol=1e-9)
    with pytest.raises(IllConditionedError, match="1 of 3"):
        least_squares(X, y, method="normal")


def test_huge_entries_that_overflow_the_gram_matrix_go_to_the_svd():
    X, y, _ = batch(R=1)
    coef = least_squares(X[0] * 1e200, y[0]).coef
    torch.testing.assert_close(coef * 1e200, least_squares(X[0], y[0]).coef)
    with pytest.raises(IllConditionedError):
        least_squares(X[0] * 1e200, y[0], method="normal")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(X=torch.tensor([[float("nan")], [1.0]]), y=torch.zeros(2)), ValueError, "X"),
    (dict(X=torch.ones(2, 1), y=torch.tensor([0.0, float("inf")])), ValueError, "y"),
    (dict(X=torch.ones(3, 1), y=torch.ones(3), weights=torch.tensor([1.0, -1.0, 1.0])),
     ValueError, "weights"),
    (dict(X=torch.ones(3, 1), y=torch.ones(3), weights=torch.tensor([1.0, float("nan"), 1.0])),
     ValueError, "weights"),
    (dict(X=torch.ones(3, 1), y=torch.ones(3), weights=torch.ones(4)), ValueError, "weights"),
    (dict(X=torch.ones(3, 1), y=torch.ones(3), weights=torch.zeros(3), fit_intercept=True),
     ValueError, "positive sum"),
    (dict(X=torch.ones(3, 1), y=torch.ones(4)), ValueError, "y"),
    (dict(X=torch.ones(3), y=torch.ones(3)), ValueError, "X"),
    (dict(X=torch.ones(0, 2), y=torch.ones(0)), ValueError, "row"),
    (dict(X=torch.ones(3, 1, dtype=torch.long), y=torch.ones(3)), TypeError, "X"),
    (dict(X=np.ones((3, 1)), y=torch.ones(3)), TypeError, "X"),
    (dict(X=torch.ones(3, 1), y=torch.ones(3), method="qr"), ValueError, "method"),
    (dict(X=torch.ones(3, 1), y=torch.ones(3), fit_intercept=1), TypeError, "fit_intercept"),
])
def test_bad_input_is_refused_before_lapack_sees_it(kwargs, error, match):
    with pytest.raises(error, match=match):
        least_squares(**kwargs)


def test_no_columns_and_zero_design():
    coef, intercept = least_squares(torch.ones(4, 0, dtype=torch.float64),
                                    torch.arange(4.0, dtype=torch.float64), fit_intercept=True)
    assert coef.shape == (0,) and float(intercept) == pytest.approx(1.5)
    coef, _ = least_squares(torch.zeros(4, 2, dtype=torch.float64), torch.ones(4,
                                                                               dtype=torch.float64))
    assert torch.equal(coef, torch.zeros(2, dtype=torch.float64))


def test_the_callers_thread_count_is_restored():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        least_squares(torch.randn(20, 3, dtype=torch.float64), torch.randn(20,
                                                                            dtype=torch.float64))
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError):
            least_squares(torch.ones(3, 1), torch.ones(3), weights=-torch.ones(3))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


PROBE = r"""
import hashlib, json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from deepnotes.core.linalg import least_squares
g = torch.Generator().manual_seed(0)
problems = {
    "tall": (torch.randn(2000, 11, generator=g, dtype=torch.float64), {}),
    "small": (torch.randn(200, 4, generator=g, dtype=torch.float64), {"method": "svd"}),
    "square": (torch.randn(300, 300, generator=g, dtype=torch.float64), {}),
    "batched": (torch.randn(7, 500, 20, generator=g, dtype=torch.float64), {"method": "svd"}),
    "weighted": (torch.randn(5, 300, 8, generator=g, dtype=torch.float64),
                 {"weights": torch.rand(5, 300, generator=g, dtype=torch.float64),
                  "fit_intercept": True}),
}
out = {}
for name, (X, kwargs) in problems.items():
    y = torch.randn(X.shape[:-1], generator=g, dtype=torch.float64)
    coef, intercept = least_squares(X, y, **kwargs)
    out[name] = hashlib.sha256(coef.numpy().tobytes() + intercept.numpy().tobytes()).hexdigest()
print(json.dumps(out))
"""


def test_fresh_processes_give_the_same_bytes_whatever_the_thread_count():
    """MKL's gelsy (torch's default lstsq driver) differs between processes and gelsd with the
    thread count; the solver must not (it runs LAPACK on one thread)."""
    runs = [json.loads(subprocess.run([sys.executable, "-c", PROBE, str(threads)],
                                      capture_output=True, text=True, check=True).stdout)
            for threads in (2, 1)]
    assert runs[0] == runs[1]
    assert len(set(runs[0].values())) == len(runs[0])  # five different problems


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_many_weightings_of_one_design_equal_separate_fits(fit_intercept, monkeypatch):
    """The bootstrap layout X (n, d), weights (R, n): Gram matrices as one product, and a
    weighting that leaves too few rows (rank-deficient) solved by the SVD route."""
    X, y, w = batch(seed=5, R=6)
    X, y = X[0], y[0]
    w[2] = 0.0
    w[2, :2] = 1.0  # two rows left: singular (with an intercept, one direction only)
    routes = []
    original = linalg._svd_solve
    monkeypatch.setattr(linalg, "_svd_solve",
                        lambda A, C: routes.append(len(A)) or original(A, C))
    coef, intercept = least_squares(X, y, weights=w, fit_intercept=fit_intercept)
    assert coef.shape == (6, 3) and intercept.shape == (6,) and routes == [1]
    for r in range(6):
        rows = w[r] > 0
        Xr, yr, root = X[rows], y[rows], w[r][rows].sqrt()
        if fit_intercept:
            x_mean = (w[r][rows, None] * Xr).sum(0) / w[r].sum()
            y_mean = (w[r][rows] * yr).sum() / w[r].sum()
            Xr, yr = Xr - x_mean, yr - y_mean
        expected = torch.linalg.pinv(root[:, None] * Xr) @ (root * yr)
        torch.testing.assert_close(coef[r], expected, atol=1e-9, rtol=1e-9)
        if fit_intercept:
            assert float(intercept[r]) == pytest.approx(float(y_mean - x_mean @ expected),
                                                         abs=1e-9)


@pytest.mark.parametrize("method", linalg.METHODS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_equals_sklearn_ridge_with_sample_weight(method, fit_intercept):
    """ridge = λ: Σ w_i (x_iᵀa + b − y_i)² + λ‖a‖² (b unpenalized), scikit-learn's Ridge; the
    one-design-many-weightings layout too, and λ makes a rank-deficient design solvable."""
    from sklearn.linear_model import Ridge

    X, y, w = batch(seed=3)
    X[1, :, 2] = X[1, :, 0]  # collinear columns: singular without the penalty
    coef, intercept = least_squares(X, y, weights=w, fit_intercept=fit_intercept,
                                    method=method, ridge=2.5)
    shared, shared_b = least_squares(X[0], y[0], weights=w, fit_intercept=fit_intercept,
                                     ridge=2.5)
    for r in range(len(X)):
        ref = Ridge(alpha=2.5, fit_intercept=fit_intercept, solver="svd").fit(
            X[r].numpy(), y[r].numpy(), sample_weight=w[r].numpy())
        np.testing.assert_allclose(coef[r].numpy(), ref.coef_, atol=1e-10)
        assert float(intercept[r]) == pytest.approx(ref.intercept_, abs=1e-10)
        ref = Ridge(alpha=2.5, fit_intercept=fit_intercept, solver="svd").fit(
            X[0].numpy(), y[0].numpy(), sample_weight=w[r].numpy())
        np.testing.assert_allclose(shared[r].numpy(), ref.coef_, atol=1e-10)
    assert not torch.equal(coef, least_squares(X, y, weights=w, fit_intercept=fit_intercept,
                                               method="svd").coef)
    with pytest.raises(ValueError, match="ridge"):
        least_squares(X, y, ridge=-1.0)


@settings(deadline=None)  # torch.broadcast_shapes imports torch.fx on its first call
@given(st.lists(st.lists(st.sampled_from([1, 2, 3]), max_size=4), min_size=1, max_size=4))
def test_broadcast_shapes_follows_torchs_rule(shapes):
    try:
        expected = torch.broadcast_shapes(*shapes)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            broadcast_shapes(*shapes)
    else:
        assert broadcast_shapes(*shapes) == expected
