"""Linear regression as maximum likelihood under Gaussian noise.

The course's model: y_i = x_iᵀa + b + ε_i with ε_i ~ N(0, σ²). The log-likelihood is

    log L(a, b, σ²) = −(n/2) log(2πσ²) − Σ_i (y_i − x_iᵀa − b)² / (2σ²)

so for any σ the maximizer in (a, b) is the least-squares solution min Σ_i (x_iᵀa + b − y_i)²,
and the maximizer in σ² is the mean squared residual σ̂² = (1/n) Σ_i r_i² (the MLE, biased:
the unbiased estimate divides by n − d − 1).

Functional core: ``least_squares`` (three solvers: ``lstsq`` = SVD-based minimum-norm least
squares and ``normal`` = the normal equations XᵀX a = Xᵀy, both by ``core.linalg``'s one
solver, and ``gd`` = full-batch gradient descent from zero through ``engine.fit``) and
``gradient_descent`` (the convergence loop around ``engine.fit`` that the GD solvers of this
package share). ``LinearRegression`` is the scikit-learn estimator on top.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from ..core import checks, linalg
from ..engine import fit, resolve_device
from ..engine.preflight import SHAPE_ERRORS, forward_error
from . import _validation

SOLVERS = ("lstsq", "normal", "gd")


# --------------------------------------------------------------------------------------------
# gradient descent through engine.fit (shared with logistic.py and the min-norm-gd experiment)


def gradient_descent(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    max_iter: int = 10_000,
    tol: float = 1e-10,
    check_every: int = 100,
    device: str | torch.device = "cpu",
    seed: int = 0,
    callback: Callable[[int, nn.Module], None] | None = None,
) -> tuple[nn.Module, int, bool]:
    """Full-batch gradient descent θ ← θ − α ∇J(θ) on J = ``loss_fn(model(X), y)``.

    ``lr`` = α. The steps are taken by ``engine.fit`` (``batch_size=None``, no shuffling), in
    chunks of ``check_every``; after each chunk the gradient norm ‖∇J‖ is compared with
    ``tol`` · max(1, ‖∇J(θ₀)‖) and the loop stops once below it or after ``max_iter`` steps;
    ``callback(steps_taken, model)`` (optional) is called after each chunk.
    Returns ``(model, steps_taken, converged)``.
    """
    lr = checks.positive_number(lr, "lr")
    max_iter = checks.positive_int(max_iter, "max_iter")
    tol = checks.nonnegative_number(tol, "tol")
    check_every = checks.positive_int(check_every, "check_every")
    checks.module(model, "model")
    checks.function(loss_fn, "loss_fn", "loss_fn(output, y) -> scalar tensor")
    checks.tensor(X, "X")
    checks.tensor(y, "y")
    checks.same_length(X, "X", y, "y")
    device = resolve_device(device)
    model.to(device)
    X, y = X.to(device), y.to(device)
    try:  # one example through the model first: a shape error names X, not torch's internals
        with torch.no_grad():
            model(X[:1])
    except SHAPE_ERRORS as err:
        raise forward_error(model, X[:1], "X", err) from err

    def grad_norm() -> float:
        model.zero_grad(set_to_none=True)
        loss_fn(model(X), y).backward()
        norm = math.sqrt(sum(float((p.grad**2).sum()) for p in model.parameters()
                             if p.grad is not None))
        model.zero_grad(set_to_none=True)
        return norm

    threshold = tol * max(1.0, grad_norm())
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    taken = 0
    while taken < max_iter:
        chunk = min(check_every, max_iter - taken)
        fit(model, loss_fn, optimizer, (X, y), steps=chunk, batch_size=None, shuffle=False,
            log_every=chunk, device=device, seed=seed, progress=False)
        taken += chunk
        if callback is not None:
            callback(taken, model)
        if grad_norm() <= threshold:
            return model, taken, True
    return model, taken, False


def largest_eigenvalue(gram: torch.Tensor) -> float:
    """λ_max of a symmetric positive semi-definite matrix (0 for an empty one): the curvature
    that sets gradient descent's step 1/L. Refuses a Gram matrix that overflowed."""
    if gram.numel() == 0:
        return 0.0
    if not bool(torch.isfinite(gram).all()):
        raise ValueError("X is too large for gradient descent: XᵀX overflows "
                         f"{gram.dtype} (rescale X)")
    return float(torch.linalg.eigvalsh(gram)[-1])


# --------------------------------------------------------------------------------------------
# functional core


class LeastSquaresFit(NamedTuple):
    coef: torch.Tensor
    intercept: torch.Tensor
    n_iter: int
    converged: bool


def least_squares(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    fit_intercept: bool = True,
    solver: str = "lstsq",
    sample_weight: torch.Tensor | None = None,
    max_iter: int = 10_000,
    tol: float = 1e-10,
    device: str | torch.device = "cpu",
) -> LeastSquaresFit:
    """The (weighted) least-squares fit â, b̂ = argmin Σ_i w_i (x_iᵀa + b − y_i)².

    ``X`` (n, d), ``y`` (n,), ``sample_weight`` = w (default 1). The intercept b is removed by
    centering X and y with their (weighted) means, then b̂ = ȳ − x̄ᵀâ. Solvers:

    - ``"lstsq"``: SVD-based least squares (``core.linalg.least_squares``, LAPACK gelsd); on a
      rank-deficient X it returns the minimum-norm solution, like scikit-learn and
      ``pinv(X) y`` (singular values ≤ max(n, d)·ε·σ_max count as zero);
    - ``"normal"``: the normal equations (XᵀWX) a = XᵀWy by Cholesky (for more columns than
      rows their minimum-norm form a = XᵀW^½ (W^½XXᵀW^½)⁻¹ W^½y); fails with ValueError when
      they are singular or ill-conditioned (κ(X)²·ε above ``core.linalg``'s tolerance);
    - ``"gd"``: gradient descent from a = 0 on J(a) = ½ Σ w_i r_i² / Σ w_i with step 1/L, L the
      largest eigenvalue of XᵀWX/Σw; started at zero it stays in the row space of X, so it
      converges to the minimum-norm solution too.

    Returns ``LeastSquaresFit(coef, intercept, n_iter, converged)``; ``n_iter`` is 1 for the
    closed forms, ``converged`` is False only when GD stopped at ``max_iter``.
    """
    checks.choice(solver, "solver", SOLVERS)
    X = checks.finite_tensor(X, "X")
    y = checks.finite_tensor(y, "y")
    if X.dim() != 2 or y.dim() != 1 or len(X) != len(y):
        raise ValueError(f"X must be (n, d) and y (n,), got {tuple(X.shape)} and {tuple(y.shape)}")
    w = torch.ones_like(y) if sample_weight is None else checks.finite_tensor(
        sample_weight, "sample_weight").to(y.dtype)
    if w.shape != y.shape or bool((w < 0).any()) or not bool((w > 0).any()):
        raise ValueError(f"sample_weight must have shape ({len(y)},), be >= 0 and not all 0")
    if solver != "gd":
        method = "svd" if solver == "lstsq" else "normal"
        try:
            coef, intercept = linalg.least_squares(X, y, weights=w, fit_intercept=fit_intercept,
                                                   method=method)
        except linalg.IllConditionedError:
            raise ValueError("solver='normal': the normal equations are singular or "
                             "ill-conditioned for this X (collinear columns, or too large a "
                             "κ(X)² for float64); use solver='lstsq' for the minimum-norm "
                             "solution") from None
        return LeastSquaresFit(coef, intercept, 1, True)
    if fit_intercept:
        Xc, yc, x_mean, y_mean = linalg.centre(X, y[:, None], w)
        yc, x_mean, y_mean = yc[:, 0], x_mean[0], y_mean[0, 0]
    else:
        Xc, yc = X, y
        x_mean, y_mean = torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=y.dtype)
    converged, n_iter = True, 1
    total = w.sum()
    top = largest_eigenvalue(Xc.T @ (w[:, None] * Xc) / total)
    if top <= 0:
        coef = torch.zeros(X.shape[1], dtype=X.dtype)
    else:
        linear = nn.Linear(X.shape[1], 1, bias=False, dtype=X.dtype)
        nn.init.zeros_(linear.weight)
        packed = torch.stack([yc, w / total], dim=1)

        def weighted_half_mse(out, target):
            return 0.5 * (target[:, 1] * (out[:, 0] - target[:, 0]) ** 2).sum()

        linear, n_iter, converged = gradient_descent(
            linear, weighted_half_mse, Xc, packed, lr=1.0 / top, max_iter=max_iter,
            tol=tol, device=device)
        coef = linear.weight.detach().cpu()[0]
    intercept = y_mean - x_mean @ coef
    return LeastSquaresFit(coef, intercept, n_iter, converged)


def gaussian_log_likelihood(residuals: torch.Tensor, sigma2: float) -> float:
    """log L = −(n/2) log(2πσ²) − Σ r_i² / (2σ²) for residuals r = y − ŷ and variance σ²."""
    checks.tensor(residuals, "residuals")
    sigma2 = checks.nonnegative_number(sigma2, "sigma2")
    n = residuals.numel()
    if sigma2 <= 0:
        return math.inf if bool((residuals == 0).all()) else -math.inf
    return float(-0.5 * n * math.log(2 * math.pi * sigma2) - (residuals**2).sum() / (2 * sigma2))


# --------------------------------------------------------------------------------------------
# the estimator


class LinearRegression(RegressorMixin, BaseEstimator):
    """Ordinary least squares = the Gaussian-noise MLE, as a scikit-learn estimator.

    Model y = xᵀa + b + ε, ε ~ N(0, σ²). ``fit`` sets ``coef_`` (â), ``intercept_`` (b̂, 0 when
    ``fit_intercept=False``) and ``sigma2_`` = σ̂² = Σ w_i r_i² / Σ w_i (the MLE of σ²; with
    unit weights the mean squared residual). ``log_likelihood(X, y)`` = Σ_i log N(y_i;
    x_iᵀâ + b̂, σ̂²), the total (not mean) log-likelihood.

    Parameters: ``solver`` ("lstsq" | "normal" | "gd", see ``least_squares``), ``fit_intercept``,
    ``max_iter`` / ``tol`` (GD only), ``device`` ("auto", "cpu", ...; results are NumPy).

    Passes ``sklearn.utils.estimator_checks.check_estimator`` with no check skipped (see
    tests/supervised/test_supervised_estimator_checks.py). Coefficients equal scikit-learn's
    ``LinearRegression`` (both solve by gelsd).
    """

    def __init__(self, solver="lstsq", fit_intercept=True, max_iter=10_000, tol=1e-10,
                 device="auto"):
        self.solver = solver
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.device = device

    @property
    def closed_form_least_squares(self) -> bool:
        """True when ``fit`` computes the minimum-norm least-squares solution in closed form
        (``solver="lstsq"``), so that many training sets can be fitted in one batched solve
        (``theory`` does, by ``core.linalg.least_squares``)."""
        return self.solver == "lstsq"

    def fit(self, X, y, sample_weight=None):
        checks.choice(self.solver, "solver", SOLVERS)
        _validation.hyperparameters(self)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        sample_weight = _validation.sample_weight(sample_weight, len(X))
        # the solve runs on CPU for the closed forms (LAPACK gelsd); GD uses `device`
        Xt = torch.from_numpy(np.array(X, np.float64))
        yt = torch.from_numpy(np.array(y, np.float64))
        wt = torch.from_numpy(sample_weight)
        coef, intercept, n_iter, converged = least_squares(
            Xt, yt, fit_intercept=bool(self.fit_intercept), solver=self.solver,
            sample_weight=wt, max_iter=self.max_iter, tol=self.tol, device=self.device)
        if not converged:
            warnings.warn(f"gradient descent did not converge in max_iter={self.max_iter} steps",
                          ConvergenceWarning, stacklevel=2)
        self.n_iter_ = n_iter
        self.coef_ = coef.numpy()
        self.intercept_ = float(intercept)
        residuals = yt - (Xt @ coef + intercept)
        self.sigma2_ = float((wt * residuals**2).sum() / wt.sum())
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_

    def log_likelihood(self, X, y) -> float:
        """Σ_i log N(y_i; x_iᵀâ + b̂, σ̂²) with the fitted σ̂² = ``sigma2_``."""
        check_is_fitted(self)
        X, y = validate_data(self, X, y, reset=False, y_numeric=True, dtype=np.float64)
        residuals = torch.from_numpy(np.asarray(y, np.float64) - self.predict(X))
        return gaussian_log_likelihood(residuals, self.sigma2_)
