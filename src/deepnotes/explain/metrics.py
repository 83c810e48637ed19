"""Faithfulness and stability of explanations: deletion / insertion curves and their AUC,
surrogate fidelity (weighted R²), top-k Jaccard stability, and random attributions as the
baseline every method must beat.

Deletion and insertion (Petsiuk et al. 2018, "RISE"): rank the features of x by their
attribution, highest first. The *deletion* curve is the model's score for the target class as
the top-ranked features are replaced, a fraction at a time, by a baseline value (a faithful
explanation makes it fall fast: low AUC is good). The *insertion* curve starts from the
baseline and puts x's features back in the same order (it should rise fast: high AUC is good).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import torch

from ..core import checks
from .gradients import Target, _baseline, _check_inputs, _check_target, _pick

__all__ = [
    "FaithfulnessCurve",
    "auc",
    "deletion_curve",
    "insertion_curve",
    "jaccard",
    "random_attributions",
    "stability",
    "surrogate_fidelity",
    "top_k",
    "topk_jaccard",
]


class FaithfulnessCurve(NamedTuple):
    """``fractions`` (K+1,): share of features removed (deletion) or inserted (insertion),
    from 0 to 1; ``scores`` (N, K+1): the target score after each step; ``auc`` (N,): the area
    under each curve (trapezoid rule over ``fractions``)."""

    fractions: torch.Tensor
    scores: torch.Tensor
    auc: torch.Tensor


def auc(fractions: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under the curves ``scores`` (..., K+1) over ``fractions`` (K+1,):
    Σ_j (t_{j+1} − t_j)(s_j + s_{j+1})/2."""
    fractions = checks.finite_tensor(fractions, "fractions", ndim=1)
    scores = checks.finite_tensor(scores, "scores")
    if scores.dim() == 0 or scores.shape[-1] != len(fractions):
        raise ValueError(f"scores must end in a dimension of {len(fractions)} (one score per "
                         f"fraction), got shape {tuple(scores.shape)}")
    widths = (fractions[1:] - fractions[:-1]).to(scores.dtype)
    return ((scores[..., 1:] + scores[..., :-1]) / 2 * widths).sum(dim=-1)


def _ranking(attributions: torch.Tensor, absolute: bool) -> torch.Tensor:
    """Feature indices of each row, highest attribution first (ties: lower index first)."""
    flat = attributions.flatten(1)
    flat = flat.abs() if absolute else flat
    return torch.sort(flat, dim=1, descending=True, stable=True).indices


def _curve(model: Callable, x, attributions, target, baseline, steps, probabilities,
           absolute, batch_size, insert: bool) -> FaithfulnessCurve:
    checks.function(model, "model", "model(x) -> (N, K) or (N,) tensor")
    x = _check_inputs(x)
    attributions = checks.finite_tensor(attributions, "attributions")
    if attributions.dim() != x.dim() or len(attributions) != len(x):
        raise ValueError(f"attributions must have shape {tuple(x.shape)} (x's) or one that "
                         f"broadcasts to it, e.g. one channel (N, 1, ...), got "
                         f"{tuple(attributions.shape)}")
    try:
        checks.broadcast_shapes(attributions.shape, x.shape)
    except RuntimeError:
        raise ValueError(f"attributions of shape {tuple(attributions.shape)} do not broadcast "
                         f"to x's shape {tuple(x.shape)}") from None
    if checks.broadcast_shapes(attributions.shape, x.shape) != x.shape:
        raise ValueError(f"attributions of shape {tuple(attributions.shape)} must broadcast to "
                         f"x's shape {tuple(x.shape)} without growing it")
    target = _check_target(target, len(x))
    if batch_size is not None:
        batch_size = checks.positive_int(batch_size, "batch_size")
    baseline = _baseline(baseline, x)

    n = len(x)
    features = attributions[0].numel()
    steps = features if steps is None else checks.positive_int(steps, "steps")
    steps = min(steps, features)
    # after step j (j = 0..K) the first ceil(j·D/K) ranked features are removed / inserted
    counts = torch.div(torch.arange(steps + 1) * features + steps - 1, steps,
                       rounding_mode="floor")
    fractions = counts.double() / features
    rank = torch.empty(n, features, dtype=torch.long, device=x.device)
    rank.scatter_(1, _ranking(attributions, absolute).to(x.device),
                  torch.arange(features, device=x.device).expand(n, features))
    # hit[j, n, i]: feature i of example n is among the first counts[j] ranked ones
    hit = rank.unsqueeze(0) < counts.to(x.device).view(-1, 1, 1)
    hit = hit.view(steps + 1, *attributions.shape)
    if insert:
        hit = ~hit
    images = torch.where(hit, baseline.unsqueeze(0), x.unsqueeze(0))  # (K+1, N, ...)
    rows = images.transpose(0, 1).reshape(n * (steps + 1), *x.shape[1:])  # example-major
    rows_target = None if target is None else target.repeat_interleave(steps + 1)
    size = len(rows) if batch_size is None else batch_size
    scores = []
    with torch.no_grad():
        for start in range(0, len(rows), size):
            outputs = model(rows[start:start + size])
            if probabilities:
                if not isinstance(outputs, torch.Tensor) or outputs.dim() != 2:
                    raise ValueError("probabilities=True needs class scores of shape (N, K) "
                                     "from the model (softmax is taken over K)")
                outputs = outputs.softmax(dim=1)
            chunk_target = None if rows_target is None else rows_target[start:start + size]
            scores.append(_pick(outputs, chunk_target, len(rows[start:start + size])))
    scores = torch.cat(scores).view(n, steps + 1)
    fractions = fractions.to(device=scores.device)
    return FaithfulnessCurve(fractions, scores, auc(fractions, scores))


def deletion_curve(model: Callable, x: torch.Tensor, attributions: torch.Tensor,
                   target: Target = None, *, baseline=0.0, steps: int | None = None,
                   probabilities: bool = True, absolute: bool = False,
                   batch_size: int | None = None) -> FaithfulnessCurve:
    """The deletion curve: s_j = f(x with its top-ranked ⌈j·D/K⌉ features replaced by the
    baseline), j = 0..K, and AUC = ∫₀¹ s dt over the removed fraction t (trapezoid rule).
    Lower AUC: a more faithful ranking.

    ``x`` (N × ...) the inputs; ``attributions`` their attributions, shaped like x or
    broadcasting to it (N × 1 × H × W for an N × C × H × W image: a feature is then a pixel
    across all channels); D = the number of features per example. Features are ranked by
    attribution, highest first (``absolute``: by |attribution|), ties by index. ``baseline``
    is the replacement value: a number, or a tensor shaped like x or like one example (e.g. a
    blurred image). ``steps`` = K (None: D, one feature at a time; at most D). f is the model's
    ``target`` score, turned into a probability by a softmax over classes when
    ``probabilities`` (the RISE convention), the raw output otherwise. All N·(K+1) inputs go
    through the model in passes of at most ``batch_size`` rows (None: one pass), without
    gradients.
    """
    return _curve(model, x, attributions, target, baseline, steps, probabilities, absolute,
                  batch_size, insert=False)


def insertion_curve(model: Callable, x: torch.Tensor, attributions: torch.Tensor,
                    target: Target = None, *, baseline=0.0, steps: int | None = None,
                    probabilities: bool = True, absolute: bool = False,
                    batch_size: int | None = None) -> FaithfulnessCurve:
    """The insertion curve: s_j = f(the baseline with x's top-ranked ⌈j·D/K⌉ features put
    back), j = 0..K; AUC as in ``deletion_curve``. Higher AUC: a more faithful ranking. Same
    arguments as ``deletion_curve``."""
    return _curve(model, x, attributions, target, baseline, steps, probabilities, absolute,
                  batch_size, insert=True)


def random_attributions(like: torch.Tensor, *, rng: torch.Generator | None = None
                        ) -> torch.Tensor:
    """Attributions drawn uniformly from [0, 1), shaped like ``like``: a random feature
    ranking, the baseline a real explanation's deletion AUC must beat (lower) and its
    insertion AUC must beat (higher)."""
    like = checks.tensor(like, "like")
    rng = checks.generator(rng, "rng")
    draws = torch.rand(like.shape, generator=rng,
                       device=like.device if rng is None else rng.device)
    return draws.to(device=like.device)


# ---------------------------------------------------------------------------------------------
# surrogate fidelity


def surrogate_fidelity(targets: torch.Tensor, predictions: torch.Tensor,
                       weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted R² of a surrogate g against the model f on the samples z (along the last
    dimension, batched over the leading ones):

        R² = 1 − Σ_z π(z)(f(z) − g(z′))² / Σ_z π(z)(f(z) − f̄)²,   f̄ = Σ π f / Σ π

    with f(z) = ``targets``, g(z′) = ``predictions`` and π(z) = ``weights`` (None: all 1) —
    LIME's "score" (scikit-learn's ``r2_score`` with ``sample_weight``). 1 is a perfect local
    fit; 0 is no better than the weighted mean. A constant f gives NaN (R² undefined).
    """
    targets = checks.finite_tensor(targets, "targets")
    predictions = checks.finite_tensor(predictions, "predictions")
    checks.same_shape(predictions, "predictions", targets, "targets")
    if targets.dim() == 0 or targets.shape[-1] < 2:
        raise ValueError(f"targets must hold at least 2 samples along the last dimension, got "
                         f"shape {tuple(targets.shape)}")
    if weights is None:
        weights = torch.ones_like(targets)
    else:
        weights = checks.finite_tensor(weights, "weights")
        checks.same_shape(weights, "weights", targets, "targets")
        if bool((weights < 0).any()) or bool((weights.sum(dim=-1) <= 0).any()):
            raise ValueError("weights must be >= 0 with a positive sum")
    mean = (weights * targets).sum(dim=-1, keepdim=True) / weights.sum(dim=-1, keepdim=True)
    residual = (weights * (targets - predictions) ** 2).sum(dim=-1)
    total = (weights * (targets - mean) ** 2).sum(dim=-1)
    return 1.0 - residual / total


# ---------------------------------------------------------------------------------------------
# stability


def jaccard(a: Iterable, b: Iterable) -> float:
    """|A ∩ B| / |A ∪ B| of two sets (1.0 for two empty sets)."""
    a, b = set(checks.sequence(a, "a")), set(checks.sequence(b, "b"))
    union = a | b
    return 1.0 if not union else len(a & b) / len(union)


def top_k(attributions: torch.Tensor, k: int, *, absolute: bool = True) -> torch.Tensor:
    """Indices (N, k) of each row's k largest attributions (by |value| when ``absolute``,
    LIME's "top features"), over the flattened features of each example; ties by index."""
    attributions = checks.finite_tensor(attributions, "attributions")
    if attributions.dim() < 2:
        raise ValueError(f"attributions must be a batch (N, ...), got shape "
                         f"{tuple(attributions.shape)}")
    k = checks.positive_int(k, "k")
    features = attributions[0].numel()
    if k > features:
        raise ValueError(f"k must be <= the number of features ({features}), got {k}")
    return _ranking(attributions, absolute)[:, :k]


def topk_jaccard(a: torch.Tensor, b: torch.Tensor, k: int, *, absolute: bool = True
                 ) -> torch.Tensor:
    """Per example, the Jaccard index of the top-k feature sets of two attributions ``a``
    and ``b`` of the same inputs, shape (N,)."""
    a = checks.finite_tensor(a, "a")
    b = checks.finite_tensor(b, "b")
    checks.same_shape(b, "b", a, "a")
    top_a, top_b = top_k(a, k, absolute=absolute), top_k(b, k, absolute=absolute)
    features = a[0].numel()
    in_a = torch.zeros(len(a), features, dtype=torch.bool, device=a.device)
    in_b = torch.zeros_like(in_a)
    in_a.scatter_(1, top_a, True)
    in_b.scatter_(1, top_b, True)
    both = (in_a & in_b).sum(dim=1)
    return both.double() / (in_a | in_b).sum(dim=1).double()


def stability(runs: Sequence[torch.Tensor], k: int, *, absolute: bool = True) -> torch.Tensor:
    """Explanation stability across seeds: for attributions of the same N inputs from R ≥ 2
    runs (``runs``, e.g. LIME with R seeds), the mean over the R(R−1)/2 pairs of runs of the
    top-k Jaccard index, per example (N,). 1: every run picks the same top-k features."""
    if isinstance(runs, torch.Tensor):
        raise TypeError("runs must be a list of attribution tensors (one per run), got a "
                        "tensor; pass list(runs) for a stacked (R, N, ...) tensor")
    runs = checks.sequence(runs, "runs")
    if len(runs) < 2:
        raise ValueError(f"runs must hold at least 2 attributions to compare, got {len(runs)}")
    pairs = [topk_jaccard(a, b, k, absolute=absolute)
             for a, b in itertools.combinations(runs, 2)]
    return torch.stack(pairs).mean(dim=0)
