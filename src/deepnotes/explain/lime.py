"""LIME: local, model-agnostic surrogate explanations, for tables and images (Ribeiro et al.
2016), batched over instances, deterministic under a seed, fitted in closed form in torch.

The course's objective: the explanation of f at x is

    g* = argmin_g  Σ_z π_x(z) (f(z) − g(z′))²  +  Ω(g),     g(z′) = b + aᵀz′

over samples z drawn around x, with z′ the *interpretable* version of z, π_x the proximity
kernel and Ω the complexity penalty: here a ridge term λ‖a‖² (``ridge`` = λ, the intercept b
unpenalized: scikit-learn's ``Ridge(alpha=λ)``, lime's default λ = 1) plus a hard limit of
``num_features`` features chosen by ``feature_selection``.

**The kernel.** π_x(z) = √exp(−D(x, z)² / w²) = exp(−D² / (2w²)) with w = ``kernel_width``:
exactly the `lime` package's default kernel (it takes the square root), so the same width
gives the same weights. In the notes' form exp(−D²/σ²) this is σ = √2·w. D is the Euclidean
distance between the interpretable vectors z′ and x′ for tables (default w = 0.75·√d, lime's)
and the cosine distance for images (default w = 0.25, lime's).

**Tables** (``lime_tabular``) mirror ``lime.lime_tabular.LimeTabularExplainer``:

- ``discretize=True`` (lime's default): each feature is cut at the quartiles of ``background``
  (the 25th, 50th, 75th percentiles, repeated cut points merged); a sample draws each
  feature's bin with the bin's frequency in ``background`` and a value in that bin from a
  normal with the bin's mean and standard deviation truncated to the bin's range; z′_j = 1
  when z_j falls in x_j's bin, else 0 (and x′ = 1). Where lime returns a z-score for a bin of
  zero width (its min equals its max), we return that value.
- ``discretize=False``: z = μ + s·ε (or x + s·ε with ``sample_around_instance``), ε ~ N(0, I),
  μ, s the background's mean and standard deviation (ddof 0; s = 1 for a constant feature),
  and z′ = (z − μ)/s.
- The first sample is x itself (z′ = x′), as in lime.

**Images** (``lime_image``) mirror ``lime.lime_image.LimeImageExplainer``: the features are
superpixels (SLIC from scikit-image by default); a sample switches each superpixel on (1) or
off (0) with probability ½, an "off" superpixel showing ``hide_color`` (None: the superpixel's
mean colour, per channel); the first sample is the whole image.

**Feature selection** (lime's ``LimeBase.feature_selection``, same rules): ``"none"`` keeps
every feature; ``"forward"`` adds, ``num_features`` times, the feature whose unpenalized
weighted fit (with the ones chosen so far) has the highest weighted R²; ``"highest_weights"``
fits a ridge (λ = 0.01) on all features and keeps the ``num_features`` largest |a_j·x′_j|;
``"lasso"`` follows the lasso path of the weighted, centred problem (LARS with the lasso
modification, as ``sklearn.linear_model.lars_path(method="lasso")``, stopped like it when
max |correlation| / n ≤ float32 ε) and keeps the support of its last breakpoint with at most
``num_features`` nonzero coefficients; ``"auto"`` is forward for ``num_features`` ≤ 6, else
highest_weights.

**The fit.** Weighted centring (x̄′, ȳ by π-weighted means) and one pass over the samples per
instance: M = √π·[Z′ − x̄′, y − ȳ] (n × (d+1)) is compressed to a triangle R ((d+1) × (d+1))
with RᵀR = MᵀM (Cholesky of the weighted Gram matrix; QR of M where that fails). Every fit
afterwards — each forward-selection candidate, the lasso path's Gram matrix, the ridge fits —
solves the same least-squares problem on R's columns (‖M a′‖ = ‖R a′‖ for every a′), through
``core.linalg.least_squares``, batched over instances (and candidates). A feature constant on
the samples (π-weighted variance below 1e-10 of its mean square) gets weight 0. The intercept is
b = ȳ − x̄′ᵀa, the local prediction g(x′) = b + aᵀx′, and the score the weighted R²
1 − Σπ(f − g)² / Σπ(f − ȳ)² (lime's ``score``).

**Batches and seeds.** ``x`` may be one instance (d,) or many (m, d) (one image (C, H, W) or
many (m, C, H, W)); results then carry the leading m. The model is called on as few batches as
memory allows (``batch_size`` rows at most per call; None: about 2²⁴ numbers per call). Every
draw comes from ``rng`` (a ``torch.Generator``; None: torch's global one), so a seed fixes the
result. Tables: the perturbations are drawn once per call and shared by all instances (lime's
discretized draws do not depend on the instance; only which bins match x does; without
discretization the noise ε is shared), so the model sees n + m rows instead of n·m, and
explaining X with a generator seeded s gives, row for row, what explaining each X[i] alone
with a generator seeded s gives. Images: the on/off draws are made image after image from
``rng``, so one call on m images equals m calls in turn on one generator.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..core import checks
from ..core.linalg import centre, least_squares

__all__ = [
    "FEATURE_SELECTIONS", "IMAGE_KERNEL_WIDTH", "KERNEL_WIDTH_FACTOR", "Discretizer",
    "Explanation", "Samples", "fit_surrogate", "kernel", "lime_image", "lime_tabular",
    "quartile_discretizer", "slic_segments", "tabular_neighbourhood",
]

FEATURE_SELECTIONS = ("auto", "forward", "highest_weights", "lasso", "none")
#: lime's default tabular kernel width: 0.75·√d (``LimeTabularExplainer``).
KERNEL_WIDTH_FACTOR = 0.75
#: lime's default image kernel width (``LimeImageExplainer``, cosine distances).
IMAGE_KERNEL_WIDTH = 0.25
#: lime's "auto" selection: forward selection up to this many features, else highest_weights.
AUTO_FORWARD_MAX = 6
#: lime's ridge penalty for the "highest_weights" pre-fit (``Ridge(alpha=0.01)``).
HIGHEST_WEIGHTS_RIDGE = 0.01
#: lime's quartile discretizer: cut points at these percentiles of the background data.
QUARTILES = (0.25, 0.5, 0.75)
#: lime adds this to every bin's standard deviation (``BaseDiscretizer``).
BIN_STD_FLOOR = 1e-11
#: sklearn's ``lars_path`` stops when max |correlation| / n_samples ≤ float32 machine ε.
LARS_TOLERANCE = float(torch.finfo(torch.float32).eps)
#: SLIC defaults for images with values in [0, 1] (measured on ``shapes``: ~30 superpixels on
#: a 32×32 image, boundaries following the object's edges).
SLIC_SEGMENTS = 50
SLIC_COMPACTNESS = 0.1
#: Inverse-CDF draws use probabilities in [this, 1 − 2⁻⁵³] (Φ⁻¹ is finite there).
_P_FLOOR = 1e-300
#: About this many numbers per model call when ``batch_size`` is None: tables (the rows are
#: short, one call is fastest) and images (CPU convolutions run fastest on batches of tens of
#: images: measured for a 2-conv CNN on 64×64 inputs, 10–64 per call beat 1,000 by 1.5×).
_CALL_ELEMENTS = 2**24
_IMAGE_CALL_ELEMENTS = 2**18
#: About this many float64 numbers per chunk of instances in the fit (the n × (d+1) design).
_FIT_ELEMENTS = 2**22


# ---------------------------------------------------------------------------------------------
# results


class Samples(NamedTuple):
    """The perturbation samples of an explanation: ``interpretable`` z′ (…, n, d), the model's
    ``predictions`` f(z) for the explained label (…, n) and the kernel ``weights`` π_x(z)
    (…, n); the first sample is the instance itself."""

    interpretable: torch.Tensor
    predictions: torch.Tensor
    weights: torch.Tensor


@dataclass(frozen=True)
class Explanation:
    """A LIME explanation g(z′) = b + aᵀz′, batched over instances (leading dimension m, absent
    for a single instance).

    ``weights`` a (…, d): one per interpretable feature (0 for features not selected);
    ``intercept`` b (…); ``local_prediction`` g(x′) (…); ``score`` the surrogate's weighted R²
    on the samples (…); ``prediction`` f(x) for the explained label (…); ``labels`` the
    explained output column (…) (0 when the model returns one value per row); ``selected``
    (…, d) bool, the features feature selection kept; ``kernel_width`` w; for images
    ``segments`` (…, H, W) the superpixel of each pixel (labels 0..S−1; features beyond an
    image's S are padding, weight 0); ``samples`` when asked for (``return_samples``).
    """

    weights: torch.Tensor
    intercept: torch.Tensor
    local_prediction: torch.Tensor
    score: torch.Tensor
    prediction: torch.Tensor
    labels: torch.Tensor
    selected: torch.Tensor
    kernel_width: float
    segments: torch.Tensor | None = None
    samples: Samples | None = None

    def top_features(self, k: int) -> torch.Tensor:
        """Indices (…, k) of the k features with the largest |weight|, largest first (ties:
        lower index first) — lime's ``as_list()`` order."""
        k = checks.positive_int(k, "k")
        if k > self.weights.shape[-1]:
            raise ValueError(f"k must be <= the number of features ({self.weights.shape[-1]}), "
                             f"got {k}")
        order = torch.sort(self.weights.abs(), dim=-1, descending=True, stable=True).indices
        return order[..., :k]

    def attribution_map(self) -> torch.Tensor:
        """For an image explanation, each pixel's superpixel weight (…, H, W)."""
        if self.segments is None:
            raise ValueError("attribution_map needs an image explanation (segments is None)")
        weights = self.weights if self.weights.dim() == 2 else self.weights[None]
        segments = self.segments if self.segments.dim() == 3 else self.segments[None]
        pixels = torch.gather(weights, 1, segments.flatten(1)).reshape(segments.shape)
        return pixels if self.segments.dim() == 3 else pixels[0]


def kernel(distances: torch.Tensor, kernel_width: float) -> torch.Tensor:
    """π = √exp(−D²/w²) = exp(−D²/(2w²)): lime's exponential kernel (``distances`` = D,
    ``kernel_width`` = w)."""
    width = checks.positive_number(kernel_width, "kernel_width")
    return torch.exp(-(distances**2) / (2.0 * width * width))


# ---------------------------------------------------------------------------------------------
# the surrogate fit


def fit_surrogate(interpretable: torch.Tensor, predictions: torch.Tensor,
                  weights: torch.Tensor, *, feature_selection: str = "none",
                  num_features: int | None = None, ridge: float = 1.0,
                  reference: torch.Tensor | None = None) -> Explanation:
    """The weighted, penalized, feature-selected linear surrogate of LIME on given samples (the
    batched counterpart of lime's ``LimeBase.explain_instance_with_data``).

    ``interpretable`` Z′ (n, d) or (m, n, d), ``predictions`` f(z) (n,) or (m, n), ``weights``
    π (n,) or (m, n), ≥ 0 with a positive sum; ``reference`` x′ (d,) or (m, d) (default: the
    first sample, lime's convention); ``feature_selection``, ``num_features`` (None: all) and
    ``ridge`` = λ as in the module docstring. Returns an ``Explanation`` (``prediction`` =
    the first sample's f, ``labels`` 0).
    """
    Z = checks.finite_tensor(interpretable, "interpretable", ndim=(2, 3))
    single = Z.dim() == 2
    Z = Z[None] if single else Z
    m, n, d = Z.shape
    y = checks.finite_tensor(predictions, "predictions")
    w = checks.finite_tensor(weights, "weights")
    for name, value in (("predictions", y), ("weights", w)):
        if tuple(value.shape) != ((n,) if single else (m, n)):
            raise ValueError(f"{name} must have shape {(n,) if single else (m, n)} (one value "
                             f"per sample), got {tuple(value.shape)}")
    y, w = y.reshape(m, n).double(), w.reshape(m, n).double()
    if bool((w < 0).any()) or bool((w.sum(-1) <= 0).any()):
        raise ValueError("weights must be >= 0 with a positive sum for every instance")
    if reference is None:
        x_ref = Z[:, 0]
    else:
        x_ref = checks.finite_tensor(reference, "reference").reshape(-1, d)
        if len(x_ref) != m:
            raise ValueError(f"reference must have shape {(d,) if single else (m, d)}, got "
                             f"{tuple(reference.shape)}")
    checks.choice(feature_selection, "feature_selection", FEATURE_SELECTIONS)
    k = d if num_features is None else checks.positive_int(num_features, "num_features")
    ridge = checks.nonnegative_number(ridge, "ridge")
    R, z_mean, y_mean, usable = _compress(Z.double(), y, w)
    a, b, score, selected = _select_and_fit(R, z_mean, y_mean, x_ref.double(), usable,
                                            feature_selection, k, ridge, n)
    local = b + (a * x_ref.double()).sum(-1)
    result = Explanation(a, b, local, score, y[:, 0], torch.zeros(m, dtype=torch.long,
                                                                  device=y.device),
                         selected, float("nan"))
    return _squeeze(result) if single else result


#: A feature whose π-weighted variance is below this fraction of its weighted mean square is
#: constant on the samples (e.g. it never leaves x's bin): it gets weight 0 and is never
#: selected (the Gram route below could not tell it from rounding noise).
CONSTANT_FEATURE_TOLERANCE = 1e-10


def _compress(Z: torch.Tensor, y: torch.Tensor, w: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """R (m, d+1, d+1) upper triangular with RᵀR = MᵀM, M = √π·[Z′ − z̄′, y − ȳ] (π-weighted
    means), so that ‖M a′‖ = ‖R a′‖ for every a′; the means z̄′ (m, d), ȳ (m,); and which
    features are not constant on the samples (m, d).

    MᵀM is formed as the weighted Gram matrix Σ π [z′, y][z′, y]ᵀ − s sᵀ/Σπ (s = Σ π [z′, y],
    y shifted by f(x) first) in one batched product, and factored by Cholesky; a problem whose
    factorization fails (a singular MᵀM) gets R from a QR factorization of M itself."""
    m, n, d = Z.shape
    ys = y - y[:, :1]
    total = w.sum(-1)
    P = Z * w[..., None]
    gram = torch.empty(m, d + 1, d + 1, dtype=Z.dtype, device=Z.device)
    gram[:, :d, :d] = P.mT @ Z
    gram[:, :d, d] = gram[:, d, :d] = (P.mT @ ys[..., None])[..., 0]
    gram[:, d, d] = (w * ys * ys).sum(-1)
    s = torch.cat([P.sum(1), (w * ys).sum(-1, keepdim=True)], dim=1)
    raw = gram.diagonal(dim1=1, dim2=2)[:, :d].clone()
    gram -= s[:, :, None] * s[:, None, :] / total[:, None, None]
    usable = gram.diagonal(dim1=1, dim2=2)[:, :d] > CONSTANT_FEATURE_TOLERANCE * raw
    if not bool(usable.all()):  # drop constant features: a zero row and column, 1 on the diagonal
        keep = torch.cat([usable, torch.ones_like(usable[:, :1])], dim=1)
        gram = torch.where(keep[:, :, None] & keep[:, None, :], gram, 0.0)
        gram = gram + torch.diag_embed((~keep).double())
    lower, info = torch.linalg.cholesky_ex(gram)
    R = lower.mT
    failed = (info != 0).nonzero()[:, 0]
    if len(failed):
        centred, targets, _, _ = centre(Z[failed], ys[failed, :, None], w[failed])
        root = w[failed].sqrt()[..., None]
        M = torch.cat([root * centred * usable[failed, None, :], root * targets], dim=-1)
        Rq = torch.linalg.qr(M, mode="r").R
        if Rq.shape[1] < d + 1:  # fewer samples than columns: pad the triangle with zero rows
            Rq = torch.cat([Rq, Rq.new_zeros(len(failed), d + 1 - Rq.shape[1], d + 1)], dim=1)
        R[failed] = Rq
    return R, s[:, :d] / total[:, None], s[:, d] / total + y[:, 0], usable


def _select_and_fit(R: torch.Tensor, z_mean: torch.Tensor, y_mean: torch.Tensor,
                    x_ref: torch.Tensor, valid: torch.Tensor | None, method: str, k: int,
                    ridge: float, n: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Feature selection and the final ridge fit on the compressed problems R (m, r, d+1)
    (``valid`` (m, d): features that exist; None: all). Returns (a (m, d), b (m,), weighted R²
    (m,), selected (m, d) bool)."""
    m, _, d1 = R.shape
    d = d1 - 1
    A, c = R[..., :d], R[..., d]
    if valid is not None:
        A = A * valid[:, None, :]
    if method == "auto":
        method = "forward" if k <= AUTO_FORWARD_MAX else "highest_weights"
    if method == "none":
        selected = torch.ones(m, d, dtype=torch.bool, device=R.device)
    elif method == "highest_weights":
        pre = least_squares(A, c, ridge=HIGHEST_WEIGHTS_RIDGE).coef
        strength = (pre * x_ref).abs()
        if valid is not None:
            strength = torch.where(valid, strength, -1.0)
        order = torch.sort(strength, dim=-1, descending=True, stable=True).indices
        selected = torch.zeros(m, d, dtype=torch.bool, device=R.device)
        selected.scatter_(1, order[:, :min(k, d)], True)
    elif method == "forward":
        selected = _forward_selection(A, c, valid, min(k, d))
    else:
        selected = _lasso_selection(A.mT @ A, A.mT @ c[..., None], n, k)
    if valid is not None:
        selected &= valid
    design = A * selected[:, None, :]  # unselected columns are 0: their coefficients too
    a = least_squares(design, c, ridge=ridge).coef * selected
    b = y_mean - (z_mean * a).sum(-1)
    score = _r_squared(design, a, c)
    return a, b, score, selected


def _r_squared(design: torch.Tensor, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """1 − ‖design·a − c‖² / ‖c‖² (the weighted R² in compressed form; 0 when ‖c‖ = 0)."""
    residual = ((design @ a[..., None])[..., 0] - c).square().sum(-1)
    total = c.square().sum(-1)
    return torch.where(total > 0, 1.0 - residual / total.clamp_min(1e-300),
                       torch.zeros_like(total))


def _forward_selection(A: torch.Tensor, c: torch.Tensor, valid: torch.Tensor | None,
                       k: int) -> torch.Tensor:
    """Greedy forward selection, batched over instances and candidates: k times, add the
    feature whose unpenalized fit with those chosen so far has the highest R² (first best on
    ties, as lime)."""
    m, r, d = A.shape
    chosen = torch.zeros(m, d, dtype=torch.bool, device=A.device)
    order = torch.empty(m, 0, dtype=torch.long, device=A.device)
    rows = torch.arange(m, device=A.device)
    for step in range(k):
        free = torch.sort(chosen.to(torch.uint8), dim=1, stable=True).indices[:, :d - step]
        columns = torch.cat([order[:, None, :].expand(m, d - step, step), free[..., None]], -1)
        design = torch.gather(A[:, None].expand(m, d - step, r, d), 3,
                              columns[:, :, None, :].expand(m, d - step, r, step + 1))
        target = c[:, None].expand(m, d - step, r)
        coef = least_squares(design, target).coef
        score = _r_squared(design, coef, target)
        if valid is not None:
            score = torch.where(torch.gather(valid, 1, free), score, -torch.inf)
        best = free[rows, score.argmax(dim=1)]
        chosen[rows, best] = True
        order = torch.cat([order, best[:, None]], dim=1)
    return chosen


def _lasso_selection(gram: torch.Tensor, correlation: torch.Tensor, n: int, k: int
                     ) -> torch.Tensor:
    """lime's "lasso_path" selection from the lasso path (LARS-lasso) of every instance's
    weighted, centred problem, given its Gram matrix AᵀA (m, d, d) and Aᵀc (m, d, 1): the
    support of the last breakpoint (past the first, all-zero one) with ≤ k nonzero
    coefficients (the first breakpoint's if none has; every feature if the path never
    leaves 0). See ``_lasso_path``."""
    m, d, _ = gram.shape
    chosen = torch.ones(m, d, dtype=torch.bool, device=gram.device)
    for step, coef in enumerate(_lasso_path(gram, correlation[..., 0], n)):
        support = coef != 0
        fits = support.sum(-1) <= k
        chosen = torch.where((fits | (step == 0))[:, None], support, chosen)
    return chosen


def _lasso_path(gram: torch.Tensor, correlation: torch.Tensor, n: int):
    """Yield the coefficients (m, d) at the breakpoints of the lasso path (after the
    all-zero start) of min ½‖Aβ − c‖² + α·n‖β‖₁, from AᵀA = ``gram`` and Aᵀc = ``correlation``
    (m, d), for m problems at once — the LARS algorithm with the lasso modification (Efron et
    al. 2004), step for step as scikit-learn's ``lars_path(method="lasso")``:

    at each step the active features share |c_j| = C (c = Aᵀ(c − Aβ)); they move along the
    equiangular direction u_A = s·G_AA⁻¹ s_A (s = 1/√(s_Aᵀ G_AA⁻¹ s_A), s_A their signs at
    entry) for the smallest γ > 0 at which an inactive feature's |c_j| catches up with C
    (it joins) or an active coefficient crosses 0 (it leaves, set to exactly 0), or C reaches 0.
    A problem stops when C/n ≤ float32 ε (sklearn's rule, ``n`` the number of samples) or every
    feature is active. Finished problems repeat their last point.
    """
    m, d = correlation.shape
    dtype, device = gram.dtype, gram.device
    beta = torch.zeros(m, d, dtype=dtype, device=device)
    active = torch.zeros(m, d, dtype=torch.bool, device=device)
    signs = torch.zeros(m, d, dtype=dtype, device=device)
    c = correlation.clone()
    dropped = torch.zeros(m, dtype=torch.bool, device=device)
    done = torch.zeros(m, dtype=torch.bool, device=device)
    eye = torch.eye(d, dtype=dtype, device=device)
    rows = torch.arange(m, device=device)
    for _ in range(8 * d + 8):  # sklearn's max_iter is 500; drops are rare
        inactive_abs = torch.where(active, -1.0, c.abs())
        C, entering = inactive_abs.max(dim=1)
        C = C.clamp_min(0.0)
        done |= (C / n <= LARS_TOLERANCE) | active.all(dim=1)
        if bool(done.all()):
            return
        add = ~done & ~dropped
        signs[rows[add], entering[add]] = torch.sign(c[rows[add], entering[add]])
        active[rows[add], entering[add]] = True
        both = active[:, :, None] & active[:, None, :]
        system = torch.where(both, gram, eye)
        rhs = torch.where(active, signs, 0.0)
        w, info = torch.linalg.solve_ex(system, rhs[..., None])
        if bool((info != 0).any()):  # a singular active set (collinear features)
            w = torch.linalg.pinv(system, hermitian=True) @ rhs[..., None]
        w = w[..., 0]
        AA = 1.0 / torch.sqrt((w * rhs).sum(-1).clamp_min(1e-300))
        u = AA[:, None] * w  # zero off the active set
        a = (gram @ u[..., None])[..., 0]
        g1 = (C[:, None] - c) / (AA[:, None] - a)
        g2 = (C[:, None] + c) / (AA[:, None] + a)
        inf = torch.full_like(g1, torch.inf)
        g1 = torch.where(~active & (g1 > 0), g1, inf).min(dim=1).values
        g2 = torch.where(~active & (g2 > 0), g2, inf).min(dim=1).values
        gamma = torch.minimum(torch.minimum(g1, g2), C / AA)
        crossing = torch.where(active & (u != 0), -beta / torch.where(u != 0, u, 1.0), inf)
        crossing = torch.where(crossing > 0, crossing, inf)
        z_pos = crossing.min(dim=1).values
        dropped = ~done & (z_pos < gamma)
        gamma = torch.where(dropped, z_pos, gamma)
        gamma = torch.where(done, 0.0, gamma)
        beta = beta + gamma[:, None] * u
        c = c - gamma[:, None] * a
        leaving = dropped[:, None] & (crossing == z_pos[:, None])
        beta = torch.where(leaving, 0.0, beta)
        active &= ~leaving
        signs = torch.where(leaving, 0.0, signs)
        yield beta
    raise RuntimeError("the lasso path did not finish")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# tables


class Discretizer(NamedTuple):
    """lime's quartile discretizer fitted on background data, for d features and B = 4 bins:
    ``cuts`` (d, 3) the sorted distinct cut points (+inf where repeated ones were merged);
    ``counts`` (d, B) background rows per bin; ``means``, ``stds`` (std + 1e-11), ``lows``,
    ``highs`` (d, B): each bin's mean, standard deviation and range (the background's min and
    max close the outer bins); ``data_bins`` (N, d) the bin of every background value. A value
    v lies in bin #{cuts < v}."""

    cuts: torch.Tensor
    counts: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor
    lows: torch.Tensor
    highs: torch.Tensor
    data_bins: torch.Tensor

    def bins(self, x: torch.Tensor) -> torch.Tensor:
        """The bin (…, d) of every value of ``x`` (…, d)."""
        return (x[..., None] > self.cuts.to(x.dtype)).sum(-1)


def quartile_discretizer(background: torch.Tensor) -> Discretizer:
    """lime's ``QuartileDiscretizer`` on ``background`` (N, d): cut points at the 25th, 50th
    and 75th percentiles (linear interpolation, NumPy's default) of each feature."""
    background = checks.finite_tensor(background, "background", ndim=2)
    data = background.double()
    q = torch.tensor(QUARTILES, dtype=torch.float64, device=data.device)
    cuts = torch.quantile(data, q, dim=0).T.contiguous()  # (d, 3), sorted
    repeated = torch.cat([torch.zeros_like(cuts[:, :1], dtype=torch.bool),
                          cuts[:, 1:] == cuts[:, :-1]], dim=1)
    cuts = torch.sort(torch.where(repeated, torch.inf, cuts), dim=1).values
    bins = (data[..., None] > cuts).sum(-1)  # (N, d)
    d, B = data.shape[1], len(QUARTILES) + 1
    onehot = torch.nn.functional.one_hot(bins, B).double()  # (N, d, B)
    counts = onehot.sum(0)
    sums = (onehot * data[..., None]).sum(0)
    means = torch.where(counts > 0, sums / counts.clamp_min(1), 0.0)
    squares = (onehot * (data[..., None] - means) ** 2).sum(0)
    stds = torch.where(counts > 0, (squares / counts.clamp_min(1)).sqrt(), 0.0) + BIN_STD_FLOOR
    low, high = data.min(0).values[:, None], data.max(0).values[:, None]
    lows = torch.cat([low, cuts], dim=1)
    highs = torch.cat([cuts, high.expand(d, 1)], dim=1)
    highs = torch.where(torch.isinf(highs), high, highs)  # bins past merged cuts stay empty
    return Discretizer(cuts, counts, means, stds, lows, highs, bins)


def _fitted_discretizer(background: torch.Tensor) -> Discretizer:
    """``quartile_discretizer(background)``, reused while ``background`` is the same, unchanged
    tensor as in the previous call (lime's explainer likewise bins its training data once)."""
    cached = _LAST_DISCRETIZER[0]
    if (cached is not None and cached[0]() is background
            and cached[1] == background._version):
        return cached[2]
    disc = quartile_discretizer(background)
    _LAST_DISCRETIZER[0] = (weakref.ref(background), background._version, disc)
    return disc


_LAST_DISCRETIZER: list = [None]


def _draw_discretized(disc: Discretizer, count: int, rng: torch.Generator | None,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` rows: each feature's bin drawn with its background frequency (the bin of a
    uniformly drawn background row, feature by feature, as lime's draw from the bins' value
    counts), then a value from that bin's truncated normal by the inverse CDF,
    v = loc + scale·Φ⁻¹(Φ(a) + u(Φ(b) − Φ(a))), u ~ U[0, 1). Returns (values (count, d) float64,
    bins (count, d))."""
    N, d = disc.data_bins.shape
    where = rng.device if rng is not None else device
    rows = torch.randint(0, N, (d, count), generator=rng, device=where).to(device)
    uniform = torch.rand(d, count, generator=rng, dtype=torch.float64, device=where).to(device)
    bins = disc.data_bins.T.gather(1, rows)  # (d, count)
    loc, scale = disc.means, disc.stds
    cdf_low = torch.special.ndtr((disc.lows - loc) / scale)  # ≤ ½: a bin's mean lies inside it
    width = torch.special.ndtr((disc.highs - loc) / scale) - cdf_low
    p = (cdf_low.gather(1, bins) + uniform * width.gather(1, bins)).clamp_(_P_FLOOR,
                                                                            1.0 - 2.0**-53)
    values = loc.gather(1, bins) + scale.gather(1, bins) * torch.special.ndtri(p)
    return values.T, bins.T


def _scaler(background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The background's mean and standard deviation (ddof 0; 1 where it is 0), float64."""
    data = background.double()
    std = data.std(0, unbiased=False)
    return data.mean(0), torch.where(std > 0, std, torch.ones_like(std))


class _Draws(NamedTuple):
    """The samples of m instances past sample 0 (the instance): ``inputs`` z, (n−1, d) when
    shared by every instance, else (m, n−1, d); their z′: from ``bins`` (n−1, d) compared with
    each instance's ``instance_bins`` (m, d) when discretized, else ``shared`` z′ ((n−1, d) or
    (m, n−1, d), float64); ``reference`` x′ (m, d) float64."""

    inputs: torch.Tensor
    shared: torch.Tensor | None
    reference: torch.Tensor
    bins: torch.Tensor | None
    instance_bins: torch.Tensor | None

    def interpretable(self, rows: slice) -> torch.Tensor:
        """Z′ (c, n, d) float64 of instances ``rows``, sample 0 = x′."""
        ref = self.reference[rows]
        count = len(self.inputs) if self.inputs.dim() == 2 else self.inputs.shape[1]
        Z = torch.empty(len(ref), count + 1, ref.shape[1], dtype=torch.float64,
                        device=ref.device)
        Z[:, 0] = ref
        if self.bins is not None:
            Z[:, 1:] = self.bins == self.instance_bins[rows][:, None, :]
        elif self.shared.dim() == 2:
            Z[:, 1:] = self.shared
        else:
            Z[:, 1:] = self.shared[rows]
        return Z


def _tabular_draws(X: torch.Tensor, background: torch.Tensor, num_samples: int,
                   discretize: bool, around: bool, rng: torch.Generator | None) -> _Draws:
    device, count = background.device, num_samples - 1
    if discretize:
        disc = _fitted_discretizer(background)
        values, bins = _draw_discretized(disc, count, rng, device)
        instance_bins = disc.bins(X.double())
        reference = torch.ones(len(X), X.shape[1], dtype=torch.float64, device=device)
        return _Draws(values.to(background.dtype), None, reference, bins, instance_bins)
    mean, scale = _scaler(background)
    where = rng.device if rng is not None else device
    noise = torch.randn(count, X.shape[1], generator=rng, dtype=torch.float64,
                        device=where).to(device)
    reference = (X.double() - mean) / scale
    if around:  # z = x + s·ε, z′ = x′ + ε
        inputs = X.double()[:, None, :] + scale * noise
        shared = reference[:, None, :] + noise
    else:  # z = μ + s·ε, z′ = ε
        inputs, shared = mean + scale * noise, noise
    return _Draws(inputs.to(background.dtype), shared, reference, None, None)


def tabular_neighbourhood(x: torch.Tensor, background: torch.Tensor, *,
                          num_samples: int = 5000, discretize: bool = True,
                          sample_around_instance: bool = False,
                          rng: torch.Generator | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples ``lime_tabular`` draws (same arguments, same draws for the same ``rng``
    state): ``(inputs z (…, n, d) in x's feature space, interpretable z′ (…, n, d) float64)``,
    sample 0 being x itself."""
    X, single, background = _check_tabular(x, background)
    num_samples = checks.int_at_least(num_samples, "num_samples", 2)
    _check_bool(discretize, "discretize")
    _check_bool(sample_around_instance, "sample_around_instance")
    rng = checks.generator(rng)
    draws = _tabular_draws(X, background, num_samples, discretize, sample_around_instance, rng)
    rest = draws.inputs if draws.inputs.dim() == 3 else draws.inputs.expand(len(X),
                                                                          *draws.inputs.shape)
    inputs = torch.cat([X[:, None, :], rest], dim=1)
    interpretable = draws.interpretable(slice(None))
    return (inputs[0], interpretable[0]) if single else (inputs, interpretable)


def lime_tabular(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                 background: torch.Tensor, *, num_samples: int = 5000,
                 kernel_width: float | None = None, feature_selection: str = "auto",
                 num_features: int = 10, discretize: bool = True,
                 sample_around_instance: bool = False,
                 labels: int | Sequence[int] | torch.Tensor | None = None, ridge: float = 1.0,
                 batch_size: int | None = None, return_samples: bool = False,
                 rng: torch.Generator | None = None) -> Explanation:
    """LIME for tabular data: explain f = ``predict`` at ``x`` (d,) or at every row of x (m, d).

    ``predict`` maps a float tensor (N, d) to (N,) values or (N, K) scores (e.g. class
    probabilities, as lime expects); ``labels`` picks the column explained: an int for every
    instance, one per instance, or None (the column f ranks highest at x; None is required for
    (N,) outputs). ``background`` (N, d) is the training data that sets the quartile bins (or
    the mean and scale without ``discretize``). ``num_samples`` = n (the instance counts as
    the first), ``kernel_width`` = w (None: 0.75·√d), ``feature_selection``,
    ``num_features``, ``ridge`` = λ, ``discretize`` and ``sample_around_instance`` as in the
    module docstring; ``batch_size`` caps the rows of one call of ``predict``;
    ``return_samples`` keeps z′, f(z) and π(z) in the result; ``rng`` a ``torch.Generator``.
    """
    checks.function(predict, "predict", "predict(x (N, d)) -> (N,) or (N, K) tensor")
    X, single, background = _check_tabular(x, background)
    m, d = X.shape
    num_samples = checks.int_at_least(num_samples, "num_samples", 2)
    width = (KERNEL_WIDTH_FACTOR * d**0.5 if kernel_width is None
             else checks.positive_number(kernel_width, "kernel_width"))
    checks.choice(feature_selection, "feature_selection", FEATURE_SELECTIONS)
    num_features = checks.positive_int(num_features, "num_features")
    _check_bool(discretize, "discretize")
    _check_bool(sample_around_instance, "sample_around_instance")
    _check_bool(return_samples, "return_samples")
    ridge = checks.nonnegative_number(ridge, "ridge")
    batch_size = None if batch_size is None else checks.positive_int(batch_size, "batch_size")
    rng = checks.generator(rng)
    draws = _tabular_draws(X, background, num_samples, discretize, sample_around_instance, rng)
    with torch.no_grad():
        rows = torch.cat([X, draws.inputs.reshape(-1, d)])
        outputs = _call(predict, rows, batch_size)
    label = _check_labels(labels, outputs[:m], m)
    if outputs.dim() == 1:
        prediction, samples = outputs[:m], outputs[m:]
        rest = (samples.expand(m, -1) if draws.inputs.dim() == 2
                else samples.reshape(m, num_samples - 1))
    else:
        prediction = outputs[:m].gather(1, label[:, None])[:, 0]
        if draws.inputs.dim() == 2:  # samples shared by every instance
            rest = outputs[m:, label].T
        else:  # instance i's samples are rows m + i(n−1) ... m + (i+1)(n−1) − 1
            owner = label.repeat_interleave(num_samples - 1)
            rest = outputs[m:].gather(1, owner[:, None]).reshape(m, num_samples - 1)
    Y = torch.cat([prediction[:, None], rest], dim=1).double()
    return _explain(draws.interpretable, Y, m, d, num_samples, width, "euclidean",
                    draws.reference, None, feature_selection, num_features, ridge, label,
                    single, None, return_samples)


def _explain(interpretable: Callable[[slice], torch.Tensor], Y: torch.Tensor, m: int, d: int,
             n: int, width: float, distance: str, reference: torch.Tensor,
             valid: torch.Tensor | None, feature_selection: str, num_features: int,
             ridge: float, label: torch.Tensor, single: bool, segments: torch.Tensor | None,
             return_samples: bool) -> Explanation:
    """Distances, kernel weights and the compressed problems, chunk by chunk of instances;
    then selection and the final fit for all instances at once."""
    chunk = max(1, _FIT_ELEMENTS // (n * (d + 1)))
    parts, kept = [], []
    for start in range(0, m, chunk):
        rows = slice(start, min(m, start + chunk))
        Z = interpretable(rows)
        if distance == "euclidean":
            D = (Z - Z[:, :1]).square().sum(-1).sqrt()
        else:  # cosine distance to the all-ones x′ over the image's own superpixels
            on = (Z * valid[rows, None, :]).sum(-1)
            D = 1.0 - (on / valid[rows].sum(-1, keepdim=True)).sqrt()
        pi = kernel(D, width)
        parts.append(_compress(Z, Y[rows], pi))
        if return_samples:
            kept.append((Z, pi))
    R, z_mean, y_mean, usable = (torch.cat(p) for p in zip(*parts, strict=True))
    usable = usable if valid is None else usable & valid
    a, b, score, selected = _select_and_fit(R, z_mean, y_mean, reference, usable,
                                            feature_selection, num_features, ridge, n)
    samples = None
    if return_samples:
        samples = Samples(torch.cat([z for z, _ in kept]), Y, torch.cat([p for _, p in kept]))
    result = Explanation(a, b, b + (a * reference).sum(-1), score, Y[:, 0], label, selected,
                         width, segments, samples)
    return _squeeze(result) if single else result


# ---------------------------------------------------------------------------------------------
# images


def slic_segments(image: torch.Tensor, *, n_segments: int = SLIC_SEGMENTS,
                  compactness: float = SLIC_COMPACTNESS) -> torch.Tensor:
    """SLIC superpixels (scikit-image) of ``image`` (C, H, W) with values in about [0, 1]
    (no Lab conversion): an integer tensor (H, W) of labels 0..S−1."""
    from skimage.segmentation import slic  # deferred: scikit-image is heavy to import

    image = checks.finite_tensor(image, "image", ndim=3)
    n_segments = checks.positive_int(n_segments, "n_segments")
    compactness = checks.positive_number(compactness, "compactness")
    array = image.detach().double().cpu().permute(1, 2, 0).numpy()
    labels = slic(array, n_segments=n_segments, compactness=compactness, channel_axis=-1,
                  convert2lab=False, start_label=0)
    return torch.from_numpy(labels).long().to(image.device)


def lime_image(predict: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor,
               segments: torch.Tensor | None = None, *, num_samples: int = 1000,
               hide_color: float | None = None, kernel_width: float = IMAGE_KERNEL_WIDTH,
               feature_selection: str = "auto", num_features: int | None = None,
               labels: int | Sequence[int] | torch.Tensor | None = None, ridge: float = 1.0,
               batch_size: int | None = None, return_samples: bool = False,
               rng: torch.Generator | None = None) -> Explanation:
    """LIME for images: explain f = ``predict`` at ``image`` (C, H, W) or at each of m images
    (m, C, H, W), the features being superpixels.

    ``predict`` maps images (N, C, H, W) to (N, K) scores or (N,) values; ``labels`` as in
    ``lime_tabular`` (None: the top class of each image). ``segments`` (H, W) or (m, H, W)
    integer superpixel labels (any values; None: ``slic_segments`` of each image). A sample
    keeps each superpixel with probability ½ and paints the others ``hide_color`` (None: the
    superpixel's mean, per channel). ``num_samples`` = n (the whole image is the first),
    ``kernel_width`` = w on cosine distances, ``feature_selection``, ``num_features`` (None:
    every superpixel) and ``ridge`` as in the module docstring; ``batch_size`` caps the images
    of one call of ``predict`` (None: about 2¹⁸ pixel values, 64 images of 64×64);
    ``return_samples`` keeps z′, f(z), π(z); ``rng`` a
    ``torch.Generator``. The result's ``segments`` relabels each image's superpixels 0..S−1 in
    increasing order of the given labels; ``weights`` has max S features.
    """
    checks.function(predict, "predict", "predict(images (N, C, H, W)) -> (N, K) or (N,)")
    images = checks.finite_tensor(image, "image", ndim=(3, 4))
    single = images.dim() == 3
    images = images[None] if single else images
    m, C, H, W = images.shape
    if m == 0:
        raise ValueError("image must hold at least one image, got shape (0, ...)")
    segments = _check_segments(segments, images, single)
    num_samples = checks.int_at_least(num_samples, "num_samples", 2)
    if hide_color is not None:
        hide_color = checks.real(hide_color, "hide_color")
    width = checks.positive_number(kernel_width, "kernel_width")
    checks.choice(feature_selection, "feature_selection", FEATURE_SELECTIONS)
    num_features = (None if num_features is None
                    else checks.positive_int(num_features, "num_features"))
    ridge = checks.nonnegative_number(ridge, "ridge")
    batch_size = None if batch_size is None else checks.positive_int(batch_size, "batch_size")
    _check_bool(return_samples, "return_samples")
    rng = checks.generator(rng)

    counts = (segments.flatten(1).max(1).values + 1).tolist()
    S = max(counts)
    sizes = torch.tensor(counts, device=images.device)
    valid = torch.arange(S, device=images.device)[None] < sizes[:, None]  # not padding
    flat = images.flatten(2)  # (m, C, HW)
    index = segments.flatten(1)  # (m, HW)
    if hide_color is None:
        sums = torch.zeros(m, C, S, dtype=flat.dtype, device=flat.device)
        sums.scatter_add_(2, index[:, None, :].expand(m, C, H * W), flat)
        sizes = torch.zeros(m, S, dtype=flat.dtype, device=flat.device)
        sizes.scatter_add_(1, index, torch.ones_like(index, dtype=flat.dtype))
        means = sums / sizes.clamp_min(1)[:, None, :]
        hidden = torch.gather(means, 2, index[:, None, :].expand(m, C, H * W))
    else:
        hidden = torch.full_like(flat, hide_color)
    where = rng.device if rng is not None else images.device
    on = torch.ones(m, num_samples, S, dtype=torch.bool, device=images.device)
    for i, count in enumerate(counts):  # image after image from one generator
        draw = torch.randint(0, 2, (num_samples - 1, count), generator=rng, device=where)
        on[i, 1:, :count] = draw.to(images.device).bool()

    total = m * num_samples
    per_call = batch_size or max(1, _IMAGE_CALL_ELEMENTS // (C * H * W))
    outputs = []
    with torch.no_grad():
        for start in range(0, total, per_call):
            ids = torch.arange(start, min(total, start + per_call), device=images.device)
            owner, sample = ids // num_samples, ids % num_samples
            keep = torch.gather(on[owner, sample], 1, index[owner])  # (b, HW)
            batch = torch.where(keep[:, None, :], flat[owner], hidden[owner])
            outputs.append(_call(predict, batch.reshape(-1, C, H, W), None))
    outputs = torch.cat(outputs)
    first = outputs.reshape(m, num_samples, *outputs.shape[1:])[:, 0]
    label = _check_labels(labels, first, m)
    if outputs.dim() == 1:
        Y = outputs.reshape(m, num_samples)
    else:
        Y = outputs.reshape(m, num_samples, -1)[torch.arange(m), :, label]
    k = S if num_features is None else num_features
    reference = torch.ones(m, S, dtype=torch.float64, device=images.device)
    return _explain(lambda rows: on[rows].double(), Y.double(), m, S, num_samples, width,
                    "cosine", reference, valid, feature_selection, k, ridge, label, single,
                    segments[0] if single else segments, return_samples)


def _check_segments(segments, images: torch.Tensor, single: bool) -> torch.Tensor:
    """Superpixel labels (m, H, W) relabelled 0..S−1 per image (SLIC when None)."""
    m, _, H, W = images.shape
    if segments is None:
        return torch.stack([slic_segments(im) for im in images])
    segments = checks.tensor(segments, "segments", floating=False)
    expected = (H, W) if single else (m, H, W)
    if tuple(segments.shape) != expected and not (not single and tuple(segments.shape)
                                                  == (H, W)):
        raise ValueError(f"segments must have shape {expected} (one superpixel label per "
                         f"pixel), got {tuple(segments.shape)}")
    segments = segments.to(images.device).long().expand(m, H, W)
    return torch.stack([torch.unique(s, return_inverse=True)[1] for s in segments])


# ---------------------------------------------------------------------------------------------
# shared plumbing


def _check_bool(value, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def _check_tabular(x, background) -> tuple[torch.Tensor, bool, torch.Tensor]:
    X = checks.finite_tensor(x, "x", ndim=(1, 2))
    background = checks.finite_tensor(background, "background", ndim=2)
    if len(background) < 2:
        raise ValueError(f"background must have at least 2 rows (training data), got "
                         f"{len(background)}")
    single = X.dim() == 1
    X = X[None] if single else X
    if len(X) == 0:
        raise ValueError("x must hold at least one instance, got shape (0, d)")
    if X.shape[1] != background.shape[1]:
        raise ValueError(f"x has {X.shape[1]} features, background has "
                         f"{background.shape[1]}: they must match")
    return X.to(device=background.device, dtype=background.dtype), single, background


def _call(predict: Callable, rows: torch.Tensor, batch_size: int | None) -> torch.Tensor:
    """``predict`` on ``rows`` in calls of at most ``batch_size`` rows (None: about 2²⁴
    numbers per call); checks each output: (b,) or (b, K), finite."""
    per_call = batch_size or max(1, _CALL_ELEMENTS // max(1, rows[0].numel()))
    outputs = []
    for start in range(0, len(rows), per_call):
        part = rows[start:start + per_call]
        out = predict(part)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"predict must return a torch.Tensor, got {type(out).__name__}")
        if out.dim() not in (1, 2) or len(out) != len(part):
            raise ValueError(f"predict must return shape ({len(part)},) or ({len(part)}, K) "
                             f"for {len(part)} rows, got {tuple(out.shape)}")
        if not bool(torch.isfinite(out).all()):
            raise ValueError("predict returned NaN or Inf")
        outputs.append(out.detach())
    return torch.cat(outputs) if len(outputs) > 1 else outputs[0]


def _check_labels(labels, first: torch.Tensor, m: int) -> torch.Tensor:
    """The explained output column per instance (m,), from ``labels`` and the outputs at the
    instances ``first`` ((m,) or (m, K))."""
    device = first.device
    if first.dim() == 1:
        if labels is not None:
            raise ValueError("labels must be None when predict returns one value per row")
        return torch.zeros(m, dtype=torch.long, device=device)
    K = first.shape[1]
    if labels is None:
        return first.argmax(dim=1)
    if isinstance(labels, torch.Tensor) and labels.dim() == 1:
        checks.tensor(labels, "labels", floating=False)
        values = labels.to(device).long()
    elif isinstance(labels, (list, tuple)):
        values = torch.tensor([checks.integer(v, "labels") for v in labels], dtype=torch.long,
                              device=device)
    else:
        values = torch.full((m,), checks.integer(labels, "labels"), dtype=torch.long,
                            device=device)
    if len(values) != m:
        raise ValueError(f"labels must hold one output column per instance ({m}), got "
                         f"{len(values)}")
    if bool(((values < 0) | (values >= K)).any()):
        raise ValueError(f"labels must be output columns in [0, {K}), got {values.tolist()}")
    return values


def _squeeze(result: Explanation) -> Explanation:
    """A batch of one instance as a single explanation (drop the leading dimension)."""
    samples = None if result.samples is None else Samples(*(t[0] for t in result.samples))
    return Explanation(result.weights[0], result.intercept[0], result.local_prediction[0],
                       result.score[0], result.prediction[0], result.labels[0],
                       result.selected[0], result.kernel_width,
                       None if result.segments is None else result.segments, samples)
