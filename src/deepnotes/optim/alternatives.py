"""Alternatives to gradient descent (the course's list): closed form, derivative-free, second
order.

- ``least_squares``: linear regression solved in closed form (the normal equations
  XᵀX a = Xᵀy, by ``core.linalg.least_squares``), no iterations at all;
- ``nelder_mead``: a derivative-free simplex method that only evaluates f(x);
- ``newton``: x ← x − H⁻¹ ∇f with the Hessian H_ij = ∂²f/∂x_i∂x_j from ``torch.func.hessian``;
  near a minimum with positive-definite H it converges quadratically: ‖∇f‖ is roughly squared
  at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..core import checks, linalg


def least_squares(X: Tensor, y: Tensor, *, fit_intercept: bool = True) -> tuple[Tensor, Tensor]:
    """argmin_{a,b} ‖X a + b − y‖², the closed-form solution of the normal equations.

    Returns ``(coef, intercept)`` (intercept 0 when ``fit_intercept`` is False). ``y`` may be
    (n,) or (n, k). Solved by ``core.linalg.least_squares``: the normal equations by Cholesky
    when X is well-conditioned, else the SVD (LAPACK gelsd on CPU), which returns the
    minimum-norm solution when X is rank deficient.
    """
    X = checks.tensor(X, "X", ndim=2, floating=True)
    y = checks.tensor(y, "y", ndim=(1, 2))
    if len(y) != len(X):
        raise ValueError(f"y must be (n,) or (n, k) with n = {len(X)}, got {tuple(y.shape)}")
    return tuple(linalg.least_squares(X, y, fit_intercept=fit_intercept))


def _check_start(f, x0) -> None:
    """The objective is callable and the start a finite 1-D floating-point tensor."""
    if not callable(f):
        raise TypeError("f must be callable: f(x) -> a number or a scalar tensor")
    if not isinstance(x0, Tensor) or x0.ndim != 1 or not x0.is_floating_point():
        raise TypeError("x0 must be a 1-D floating-point tensor")
    if not bool(torch.isfinite(x0).all()):
        raise ValueError("x0 contains NaN or Inf")


@dataclass
class SimplexResult:
    """Outcome of ``nelder_mead``: best point, its value, iterations, evaluations of f."""

    x: Tensor
    fun: float
    iterations: int
    evaluations: int
    converged: bool
    values: list[float] = field(default_factory=list)


def nelder_mead(
    f: Callable[[Tensor], float | Tensor],
    x0: Tensor,
    *,
    max_iter: int | None = None,
    max_evaluations: int | None = None,
    xatol: float = 1e-4,
    fatol: float = 1e-4,
) -> SimplexResult:
    """Minimise f by the Nelder–Mead simplex method, using only values f(x).

    A simplex of n + 1 points is sorted by value, f(x₁) ≤ … ≤ f(x_{n+1}); with x̄ the centroid
    of the best n points, the worst point is replaced by the first acceptable of
    reflection x_r = x̄ + ρ(x̄ − x_{n+1}), expansion x_e = x̄ + ρχ(x̄ − x_{n+1}), outside
    contraction x̄ + ψρ(x̄ − x_{n+1}) or inside contraction x̄ − ψ(x̄ − x_{n+1}); otherwise the
    simplex shrinks towards x₁ by σ. Coefficients ρ = 1, χ = 2, ψ = ½, σ = ½; the initial
    simplex moves each coordinate of x0 by 5 % (0.00025 where it is 0); it stops when the
    simplex is within ``xatol`` of x₁ in every coordinate and its values within ``fatol`` —
    the same conventions as ``scipy.optimize.minimize(method="Nelder-Mead")``, which this is
    tested against. Default budgets: 200·n iterations and evaluations.
    """
    _check_start(f, x0)
    xatol = checks.nonnegative_number(xatol, "xatol")
    fatol = checks.nonnegative_number(fatol, "fatol")
    n = len(x0)
    max_iter = 200 * n if max_iter is None else checks.positive_int(max_iter, "max_iter")
    max_evaluations = 200 * n if max_evaluations is None else checks.positive_int(
        max_evaluations, "max_evaluations")
    rho, chi, psi, sigma = 1.0, 2.0, 0.5, 0.5
    evaluations = 0

    def value(x: Tensor) -> float:
        nonlocal evaluations
        evaluations += 1
        return float(f(x))

    x0 = x0.detach().to(torch.float64)
    simplex = [x0.clone()]
    for k in range(n):
        vertex = x0.clone()
        vertex[k] = vertex[k] * 1.05 if vertex[k] != 0 else 0.00025
        simplex.append(vertex)
    values = [value(v) for v in simplex]

    def sort() -> None:
        order = sorted(range(n + 1), key=lambda i: values[i])
        simplex[:] = [simplex[i] for i in order]
        values[:] = [values[i] for i in order]

    sort()
    history = [values[0]]
    iterations, converged = 1, False
    while evaluations < max_evaluations and iterations < max_iter:
        spread_x = max(float((v - simplex[0]).abs().max()) for v in simplex[1:])
        spread_f = max(abs(values[0] - v) for v in values[1:])
        if spread_x <= xatol and spread_f <= fatol:
            converged = True
            break
        centroid = torch.stack(simplex[:-1]).mean(0)
        worst = simplex[-1]
        x_r = (1 + rho) * centroid - rho * worst
        f_r = value(x_r)
        shrink = False
        if f_r < values[0]:
            x_e = (1 + rho * chi) * centroid - rho * chi * worst
            f_e = value(x_e)
            simplex[-1], values[-1] = (x_e, f_e) if f_e < f_r else (x_r, f_r)
        elif f_r < values[-2]:
            simplex[-1], values[-1] = x_r, f_r
        elif f_r < values[-1]:
            x_c = (1 + psi * rho) * centroid - psi * rho * worst
            f_c = value(x_c)
            if f_c <= f_r:
                simplex[-1], values[-1] = x_c, f_c
            else:
                shrink = True
        else:
            x_cc = (1 - psi) * centroid + psi * worst
            f_cc = value(x_cc)
            if f_cc < values[-1]:
                simplex[-1], values[-1] = x_cc, f_cc
            else:
                shrink = True
        if shrink:
            for j in range(1, n + 1):
                simplex[j] = simplex[0] + sigma * (simplex[j] - simplex[0])
                values[j] = value(simplex[j])
        sort()
        history.append(values[0])
        iterations += 1
    return SimplexResult(simplex[0], values[0], iterations, evaluations, converged, history)


@dataclass
class NewtonResult:
    """Outcome of ``newton``: the last iterate and ‖∇f(x^k)‖ for every k visited."""

    x: Tensor
    grad_norms: list[float]
    converged: bool


def newton(
    f: Callable[[Tensor], Tensor],
    x0: Tensor,
    *,
    steps: int = 50,
    tol: float = 1e-10,
) -> NewtonResult:
    """Newton's method x^{k+1} = x^k − H(x^k)⁻¹ ∇f(x^k), H from ``torch.func.hessian``.

    Stops when ‖∇f(x^k)‖ ≤ ``tol`` (``converged``) or after ``steps`` steps. Each step solves
    H d = ∇f (``torch.linalg.solve``); H must be invertible along the path (it is for a
    strictly convex f such as L2-regularised or non-separable logistic regression).
    """
    _check_start(f, x0)
    steps = checks.nonnegative_int(steps, "steps")
    tol = checks.nonnegative_number(tol, "tol")
    gradient = torch.func.grad(f)
    hessian = torch.func.hessian(f)
    x = x0.detach().clone()
    norms: list[float] = []
    for k in range(steps + 1):
        g = gradient(x)
        norms.append(float(g.norm()))
        if norms[-1] <= tol:
            return NewtonResult(x, norms, True)
        if k == steps:
            break
        x = x - torch.linalg.solve(hessian(x), g)
    return NewtonResult(x, norms, False)
