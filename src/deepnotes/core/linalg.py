"""The one least-squares solver: batched over leading dimensions, weighted, minimum-norm.

The problem, for every problem of a batch:

    minimize over a (and b)    Σ_i w_i (x_iᵀa + b − y_i)²

``X`` (..., n, d) holds the rows x_iᵀ; ``y`` (..., n) the targets, or (..., n, k) for k
right-hand sides (one column each, solved together); ``weights`` = w (..., n), w_i ≥ 0
(default 1), whose leading dimensions broadcast against X's: one weight vector for all
problems, one per problem, or many weightings of one design X (n, d) (a bootstrap: the Gram
matrices are then formed as one matrix product, without building the weighted designs);
b is the intercept when ``fit_intercept`` (else b = 0).

The intercept is removed by centring: with the weighted means x̄ = Σ w_i x_i / Σ w_i and
ȳ = Σ w_i y_i / Σ w_i, â solves the problem for X − x̄, y − ȳ without intercept and
b̂ = ȳ − x̄ᵀâ. The weights enter as rows scaled by √w_i: with A = √W (X − x̄) and
c = √W (y − ȳ) the problem is  minimize ‖A a − c‖².

**The conditioning rule** (the only one): â = A⁺c computed from the singular values
σ_1 ≥ σ_2 ≥ … of A, where every σ_j ≤ rcond · σ_1 counts as zero, with
rcond = max(n, d) · ε (ε the dtype's machine epsilon: NumPy's ``lstsq`` default, LAPACK
gelsd's RCOND). On a problem of full column rank this is the unique minimizer; on a
rank-deficient one (collinear columns, more columns than rows) it is the minimizer of
smallest norm ‖â‖ — scikit-learn's ``LinearRegression`` and ``pinv(A) c``.

Two routes to that one solution (``method``):

- ``"svd"``: LAPACK gelsd (divide-and-conquer SVD) on CPU; the SVD itself on other devices.
- ``"normal"``: the normal equations AᵀA a = Aᵀc (for d > n the minimum-norm form
  a = Aᵀ(AAᵀ)⁻¹c) by Cholesky: several times faster on batches of small problems, but they
  square the condition number, so their relative error is about κ(A)²·ε. They are taken only
  when κ(A)²·ε ≤ ``NORMAL_EQUATIONS_TOLERANCE`` for the problem (κ² read off the eigenvalues
  of the Gram matrix), i.e. where the problem has full rank and the route agrees with the
  SVD route to that accuracy; ``method="normal"`` raises ``IllConditionedError`` when some
  problem of the batch fails the test.
- ``"auto"`` (default): ``"normal"`` for the problems that pass the test, ``"svd"`` for the
  others.

Reproducibility: on CPU the whole solve runs on one thread (``torch.set_num_threads(1)`` for
its duration, the caller's count restored after). Measured with torch 2.13 / oneMKL 2024.2:
``torch.linalg.lstsq``'s default CPU driver (gelsy, QR with column pivoting) returns results
that differ in the last bits between fresh processes even with one thread, and gelsd's (like
the SVD's) change with the number of threads; gelsd and the Cholesky route on one thread give
the same bytes in every process, whatever the caller's thread count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch

from . import checks

__all__ = ["METHODS", "NORMAL_EQUATIONS_TOLERANCE", "OUTER_PRODUCTS_LIMIT",
           "IllConditionedError", "LeastSquares", "centre", "least_squares"]

METHODS = ("auto", "svd", "normal")

#: The normal equations are used only where their relative forward error bound κ(A)²·ε is at
#: most this (float64: κ(A) ≤ 671; float32 never). 1e-10 keeps them two orders below the 1e-8
#: at which the tests compare coefficients with scikit-learn's SVD-based solution.
NORMAL_EQUATIONS_TOLERANCE = 1e-10


class IllConditionedError(ValueError):
    """``method="normal"`` on a problem whose normal equations would not be accurate (κ(A)²·ε
    above ``NORMAL_EQUATIONS_TOLERANCE``; every rank-deficient problem is among them)."""


class LeastSquares(NamedTuple):
    """``coef`` â (..., d) — (..., d, k) for k right-hand sides — and ``intercept`` b̂ (...) —
    (..., k) — (zeros when there is no intercept)."""

    coef: torch.Tensor
    intercept: torch.Tensor


@contextmanager
def _one_thread(device: torch.device) -> Iterator[None]:
    """Run the block with one intra-op thread on CPU (LAPACK's results depend on it)."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _check(X, y, weights, method) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None,
                                               bool]:
    X = checks.tensor(X, "X", floating=True, finite=True)
    if X.dim() < 2:
        raise ValueError(f"X must have shape (..., n, d), got {tuple(X.shape)}")
    if X.shape[-2] == 0:
        raise ValueError(f"X must have at least one row, got shape {tuple(X.shape)}")
    y = checks.tensor(y, "y")
    if y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"y must be a real tensor, got dtype {y.dtype}")
    y = checks.tensor(y.to(X.dtype), "y", finite=True)
    vector = y.dim() == X.dim() - 1
    if not (vector and y.shape == X.shape[:-1]
            or y.dim() == X.dim() and y.shape[:-1] == X.shape[:-1]):
        raise ValueError(f"y must have shape {tuple(X.shape[:-1])} (one target per row of X) "
                         f"or {tuple(X.shape[:-1])} + (k,), got {tuple(y.shape)}")
    if weights is not None:
        weights = checks.tensor(weights, "weights")
        if weights.is_complex() or weights.dtype == torch.bool:
            raise TypeError(f"weights must be a real tensor, got dtype {weights.dtype}")
        weights = checks.tensor(weights.to(X.dtype), "weights", finite=True)
        try:
            checks.broadcast_shapes(weights.shape[:-1], X.shape[:-2])
            fits = weights.dim() > 0 and weights.shape[-1] == X.shape[-2]
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"weights must have shape (..., n) with n = {X.shape[-2]} rows and "
                             f"leading dimensions broadcastable to {tuple(X.shape[:-2])}, got "
                             f"{tuple(weights.shape)}")
        if bool((weights < 0).any()):
            raise ValueError("weights must be >= 0, got a negative weight")
    checks.choice(method, "method", METHODS)
    return X, y, weights, vector


def least_squares(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    weights: torch.Tensor | None = None,
    fit_intercept: bool = False,
    method: str = "auto",
    ridge: float = 0.0,
) -> LeastSquares:
    """argmin over a (and b) of Σ_i w_i (x_iᵀa + b − y_i)² + λ‖a‖², the minimum-norm solution
    under the module's conditioning rule, for every problem of the batch.

    ``X`` (..., n, d) floating point; ``y`` (..., n) or (..., n, k); ``weights`` w ≥ 0
    broadcastable to (..., n) (None: 1); ``fit_intercept``: also fit b (centring by the
    weighted means, which needs Σ w_i > 0); ``method``: ``"auto"``, ``"svd"`` or ``"normal"``
    (see the module docstring); ``ridge`` = λ ≥ 0, an L2 penalty on a (never on b: scikit-learn's
    ``Ridge(alpha=λ)``), solved as the same problem on the design with d extra rows √λ·I and
    targets 0. Returns ``LeastSquares(coef, intercept)``. Deterministic on CPU: the same inputs
    give the same bytes in every process.
    """
    X, y, weights, vector = _check(X, y, weights, method)
    ridge = checks.nonnegative_number(ridge, "ridge")
    if not isinstance(fit_intercept, bool):
        raise TypeError(f"fit_intercept must be True or False, got {fit_intercept!r}")
    if fit_intercept and weights is not None and bool((weights.sum(-1) <= 0).any()):
        raise ValueError("weights must have a positive sum in every problem to fit an "
                         "intercept (the weighted means divide by it)")
    targets = y.unsqueeze(-1) if vector else y
    with _one_thread(X.device):
        if not ridge and _one_design_many_weightings(X, weights, method):
            coef, intercept = _weightings_of_one_design(X, targets, weights, fit_intercept,
                                                        method)
        else:
            if fit_intercept:
                design, rhs, x_mean, y_mean = centre(X, targets, weights)
            else:
                design, rhs = X, targets
            if weights is not None:
                root = weights.sqrt().unsqueeze(-1)
                design, rhs = root * design, root * rhs
            batch = checks.broadcast_shapes(design.shape[:-2], rhs.shape[:-2])
            design = design.expand(*batch, *design.shape[-2:])
            rhs = rhs.expand(*batch, *rhs.shape[-2:])
            if ridge:  # ‖Aa − c‖² + λ‖a‖² = ‖[A; √λ I] a − [c; 0]‖²
                d = design.shape[-1]
                penalty = torch.eye(d, dtype=X.dtype, device=X.device) * ridge**0.5
                design = torch.cat([design, penalty.expand(*batch, d, d)], dim=-2)
                rhs = torch.cat([rhs, rhs.new_zeros(*batch, d, rhs.shape[-1])], dim=-2)
            coef = _solve(design, rhs, method)
            if fit_intercept:
                intercept = (y_mean - x_mean @ coef).squeeze(-2)
            else:
                intercept = torch.zeros(*coef.shape[:-2], coef.shape[-1], dtype=X.dtype,
                                        device=X.device)
    if vector:
        return LeastSquares(coef.squeeze(-1), intercept.squeeze(-1))
    return LeastSquares(coef, intercept)


def centre(X: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """X − x̄ and targets − ȳ with the weighted means x̄ = Σ w_i x_i / Σ w_i (over the rows, dim
    −2; w = 1 when ``weights`` is None) and ȳ likewise; returns ``(X − x̄, targets − ȳ, x̄, ȳ)``
    with x̄ (..., 1, d) and ȳ (..., 1, k). ``targets`` is (..., n, k)."""
    if weights is None:
        x_mean, y_mean = X.mean(-2, keepdim=True), targets.mean(-2, keepdim=True)
    else:
        column = weights.unsqueeze(-1)
        total = column.sum(-2, keepdim=True)
        x_mean = (column * X).sum(-2, keepdim=True) / total
        y_mean = (column * targets).sum(-2, keepdim=True) / total
    return X - x_mean, targets - y_mean, x_mean, y_mean


def _well_conditioned(gram: torch.Tensor, method: str) -> torch.Tensor:
    """Which problems (P Gram matrices, (P, m, m)) the normal equations may solve:
    κ(A)²·ε ≤ ``NORMAL_EQUATIONS_TOLERANCE``, κ(A)² = λ_max/λ_min of AᵀA (or AAᵀ), with a
    finite Gram matrix. ``method="normal"`` refuses a batch in which some problem fails."""
    finite = torch.isfinite(gram).all(-1).all(-1)  # huge entries overflow the Gram matrix
    if not bool(finite.all()):  # (eigvalsh fails on them: check those with I instead)
        identity = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        gram = torch.where(finite[:, None, None], gram, identity)
    eigenvalues = torch.linalg.eigvalsh(gram)
    eps = torch.finfo(gram.dtype).eps
    ok = finite & (eigenvalues[:, 0] * NORMAL_EQUATIONS_TOLERANCE
                   >= eigenvalues[:, -1] * eps) & (eigenvalues[:, -1] > 0)
    if method == "normal" and not bool(ok.all()):
        worse = int((~ok).sum())
        raise IllConditionedError(
            f"the normal equations need a well-conditioned design (κ(X)²·ε ≤ "
            f"{NORMAL_EQUATIONS_TOLERANCE:g}); {worse} of {len(gram)} problem(s) are singular "
            "or nearly so (collinear columns, fewer rows than columns after centring, or "
            "entries so large that XᵀX overflows); use method='svd' or 'auto' for the "
            "minimum-norm solution")
    return ok


def _cholesky_solve(gram: torch.Tensor, rhs: torch.Tensor, out: torch.Tensor,
                    normal: torch.Tensor) -> None:
    """out[p] = G_p⁻¹ rhs_p by Cholesky for the problems p where ``normal`` is True (all of
    them without copying when every one is); clears ``normal`` where a factorization fails."""
    every = bool(normal.all())
    rows = None if every else normal.nonzero().squeeze(1)
    if rows is not None:
        if not len(rows):
            return
        gram, rhs = gram[rows], rhs[rows]
    factor, info = torch.linalg.cholesky_ex(gram)
    solution = torch.cholesky_solve(rhs, factor)
    if every:
        out.copy_(solution)
        normal &= info == 0
    else:
        out[rows] = solution
        normal[rows[info != 0]] = False


def _solve(A: torch.Tensor, C: torch.Tensor, method: str) -> torch.Tensor:
    """â = A⁺C (the conditioning rule) for A (..., n, d), C (..., n, k) → (..., d, k)."""
    batch, (n, d), k = A.shape[:-2], A.shape[-2:], C.shape[-1]
    if d == 0 or A.numel() == 0:
        return torch.zeros(*batch, d, k, dtype=A.dtype, device=A.device)
    A, C = A.reshape(-1, n, d), C.reshape(-1, n, k)
    out = torch.empty(len(A), d, k, dtype=A.dtype, device=A.device)
    normal = torch.zeros(len(A), dtype=torch.bool, device=A.device)
    if method != "svd":
        gram = A.mT @ A if n >= d else A @ A.mT  # the minimum-norm form a = Aᵀ(AAᵀ)⁻¹c
        normal = _well_conditioned(gram, method)
        if n >= d:
            _cholesky_solve(gram, A.mT @ C, out, normal)
        else:
            z = torch.zeros(len(A), n, k, dtype=A.dtype, device=A.device)
            _cholesky_solve(gram, C, z, normal)
            out.copy_(A.mT @ z)  # rows left to the SVD are overwritten below
    if not bool(normal.all()):
        rest = (~normal).nonzero().squeeze(1)
        out[rest] = _svd_solve(A[rest], C[rest])
    return out.reshape(*batch, d, k)


#: One design with many weight vectors (a bootstrap) forms its Gram matrices as one product
#: (P × n)·(n × d²) when the n × d² table of products x_i x_iᵀ has at most this many entries.
OUTER_PRODUCTS_LIMIT = 2**22


def _one_design_many_weightings(X: torch.Tensor, weights: torch.Tensor | None,
                                method: str) -> bool:
    n, d = X.shape[-2:]
    return (weights is not None and X.dim() == 2 and weights.dim() > 1 and method != "svd"
            and 0 < d <= n and n * d * d <= OUTER_PRODUCTS_LIMIT)


def _weightings_of_one_design(X: torch.Tensor, T: torch.Tensor, weights: torch.Tensor,
                              fit_intercept: bool, method: str
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """P weighted problems on one design X (n, d), targets T (n, k), weights (..., n),
    without building the P weighted designs: with X and T shifted by their plain means
    (μ, ν; zero without intercept) and W_r = Σ_i w_ri,

        AᵀA = Σ_i w_ri x_i x_iᵀ − W_r m_r m_rᵀ,   Aᵀc = Σ_i w_ri x_i t_iᵀ − W_r m_r s_rᵀ

    with the weighted means m_r, s_r of the shifted X and T (the corrections vanish without
    intercept): one (P × n)·(n × d²) product. Problems that fail the conditioning test are
    built explicitly and solved by the SVD route."""
    batch, (n, d), k = weights.shape[:-1], X.shape, T.shape[-1]
    w = weights.reshape(-1, n)
    if fit_intercept:
        shift_x, shift_t = X.mean(0), T.mean(0)
    else:
        shift_x = torch.zeros(d, dtype=X.dtype, device=X.device)
        shift_t = torch.zeros(k, dtype=X.dtype, device=X.device)
    Xs, Ts = X - shift_x, T - shift_t
    gram = (w @ (Xs[:, :, None] * Xs[:, None, :]).reshape(n, d * d)).reshape(-1, d, d)
    moment = (w @ (Xs[:, :, None] * Ts[:, None, :]).reshape(n, d * k)).reshape(-1, d, k)
    if fit_intercept:
        total = w.sum(1)[:, None]
        m, s = (w @ Xs) / total, (w @ Ts) / total  # (P, d), (P, k)
        gram = gram - total[:, :, None] * m[:, :, None] * m[:, None, :]
        moment = moment - total[:, :, None] * m[:, :, None] * s[:, None, :]
    normal = _well_conditioned(gram, method)
    coef = torch.empty(len(w), d, k, dtype=X.dtype, device=X.device)
    _cholesky_solve(gram, moment, coef, normal)
    if not bool(normal.all()):
        rest = (~normal).nonzero().squeeze(1)
        root = w[rest].sqrt()[:, :, None]
        design = Xs - m[rest, None, :] if fit_intercept else Xs.expand(len(rest), n, d)
        rhs = Ts - s[rest, None, :] if fit_intercept else Ts.expand(len(rest), n, k)
        coef[rest] = _svd_solve(root * design, root * rhs)
    if fit_intercept:  # b = ȳ − x̄ᵀa with x̄ = m + μ, ȳ = s + ν
        intercept = (s + shift_t) - ((m + shift_x)[:, None, :] @ coef)[:, 0]
    else:
        intercept = torch.zeros(len(w), k, dtype=X.dtype, device=X.device)
    return coef.reshape(*batch, d, k), intercept.reshape(*batch, k)


def _rcond(A: torch.Tensor) -> float:
    """The conditioning rule's cutoff: singular values ≤ max(n, d)·ε·σ_1 count as zero."""
    return max(A.shape[-2:]) * torch.finfo(A.dtype).eps


def _svd_solve(A: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """A⁺C under the conditioning rule: LAPACK gelsd on CPU, the explicit SVD elsewhere (CUDA's
    lstsq has no SVD driver)."""
    if A.device.type == "cpu":
        return torch.linalg.lstsq(A, C, rcond=_rcond(A), driver="gelsd").solution
    return _pseudo_inverse_solve(A, C)


def _pseudo_inverse_solve(A: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """A⁺C = V diag(1/σ_j, 0 where σ_j ≤ rcond·σ_1) Uᵀ C from the thin SVD A = U diag(σ) Vᵀ."""
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    keep = S > _rcond(A) * S[..., :1]
    inverse = torch.where(keep, 1.0 / torch.where(keep, S, torch.ones_like(S)),
                          torch.zeros_like(S))
    return Vh.mT @ (inverse.unsqueeze(-1) * (U.mT @ C))
