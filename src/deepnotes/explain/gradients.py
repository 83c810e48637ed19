"""Gradient attributions: saliency, gradient × input, integrated gradients, SmoothGrad.

All four are *passive, local attribution* methods in the course's taxonomy (see
``docs/interpretability.md``): they explain one trained model's output on one input at a time
by giving each input feature a credit, computed from ∂f/∂x.

Shared conventions. ``model`` maps a batch ``x`` (N × ...) to outputs of shape (N, K) (class
scores, usually logits) or (N,) (one score per example). f(x) below is the output picked by
``target``: ``f(x) = model(x)[n, target_n]``; ``target`` is a class index (one for every
example), a sequence / 1-D integer tensor of N indices, or None when the model returns one
score per example ((N,) or (N, 1)). Every function is batched over the N examples, returns a
tensor shaped like ``x`` and runs the model in as few forward/backward passes as memory allows
(``batch_size`` caps the rows of one pass). Gradients are taken with respect to the input
only: the model's ``.grad`` fields are not touched. The model is called as it is — put it in
``eval()`` mode first (batch norm in training mode would mix the examples of a batch).

Cross-checked against ``captum.attr`` (tests/explain/test_explain_gradients.py): ``saliency`` =
``Saliency`` (abs=True by default, as captum), ``gradient_x_input`` = ``InputXGradient``,
``integrated_gradients`` = ``IntegratedGradients`` with the same baseline, step count and
method (``"gausslegendre"``, captum's default, and ``"riemann_left/right/middle"``), and
``smoothgrad`` = ``NoiseTunnel(Saliency)`` with ``nt_type="smoothgrad"`` and the same noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..core import checks

__all__ = [
    "IG_METHODS",
    "completeness_gap",
    "gradient_x_input",
    "integrated_gradients",
    "quadrature",
    "saliency",
    "smoothgrad",
    "target_scores",
]

#: Quadrature rules for the path integral of integrated gradients (the names captum uses).
IG_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
              "riemann_trapezoid")

Target = int | Sequence[int] | torch.Tensor | None


# ---------------------------------------------------------------------------------------------
# plumbing


def _check_inputs(x, name: str = "x") -> torch.Tensor:
    x = checks.finite_tensor(x, name)
    if x.dim() < 2 or len(x) == 0:
        raise ValueError(f"{name} must be a batch of at least one example, shape (N, ...) with "
                         f"N >= 1 and at least 2 dimensions, got shape {tuple(x.shape)}")
    return x


def _check_target(target: Target, n: int) -> torch.Tensor | None:
    """``target`` as a (N,) long tensor of class indices, or None."""
    if target is None:
        return None
    if isinstance(target, torch.Tensor) and target.dim() == 1:
        checks.tensor(target, "target", floating=False)
        if len(target) != n:
            raise ValueError(f"target must hold one class index per example ({n}), got "
                             f"shape {tuple(target.shape)}")
        indices = target.long()
    elif isinstance(target, (list, tuple)):
        values = [checks.integer(t, "target") for t in target]
        if len(values) != n:
            raise ValueError(f"target must hold one class index per example ({n}), got "
                             f"{len(values)}")
        indices = torch.tensor(values, dtype=torch.long)
    else:
        indices = torch.full((n,), checks.integer(target, "target"), dtype=torch.long)
    if bool((indices < 0).any()):
        raise ValueError(f"target must hold class indices >= 0, got {indices.min().item()}")
    return indices


def _pick(outputs, target: torch.Tensor | None, n: int) -> torch.Tensor:
    """The scores f(x) (shape (n,)) that ``target`` picks out of the model's ``outputs``."""
    if not isinstance(outputs, torch.Tensor):
        raise TypeError(f"model must return a tensor, got {type(outputs).__name__}")
    if outputs.dim() == 0 or len(outputs) != n:
        raise ValueError(f"model must return one row per example ({n}), got output shape "
                         f"{tuple(outputs.shape)}")
    if outputs.dim() > 2:
        raise ValueError(f"model must return outputs of shape (N,) or (N, K), got "
                         f"{tuple(outputs.shape)}")
    if target is None:
        if outputs.dim() == 1:
            return outputs
        if outputs.shape[1] == 1:
            return outputs[:, 0]
        raise ValueError(f"target is required: the model returns {outputs.shape[1]} scores per "
                         "example (give the class index to explain)")
    if outputs.dim() == 1:
        raise ValueError("target must be None: the model returns one score per example")
    classes = outputs.shape[1]
    if bool((target >= classes).any()):
        raise ValueError(f"target must hold class indices in [0, {classes}), got "
                         f"{target.max().item()}")
    return outputs.gather(1, target.to(outputs.device).view(-1, 1)).squeeze(1)


def target_scores(model: Callable, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """f(x): the model's output for ``target`` on every example of ``x``, shape (N,), without
    gradients."""
    checks.function(model, "model", "model(x) -> (N, K) or (N,) tensor")
    x = _check_inputs(x)
    with torch.no_grad():
        return _pick(model(x), _check_target(target, len(x)), len(x))


def _input_gradients(model: Callable, x: torch.Tensor, target: torch.Tensor | None,
                     batch_size: int | None) -> torch.Tensor:
    """∂f(x_n)/∂x_n for every row of ``x`` (rows are independent examples), in chunks of at
    most ``batch_size`` rows."""
    rows = len(x)
    size = rows if batch_size is None else batch_size
    parts = []
    for start in range(0, rows, size):
        chunk = x[start:start + size].detach().requires_grad_(True)
        chunk_target = None if target is None else target[start:start + size]
        with torch.enable_grad():
            scores = _pick(model(chunk), chunk_target, len(chunk))
            (grad,) = torch.autograd.grad(scores.sum(), chunk)
        parts.append(grad)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _common(model, x, target, batch_size):
    checks.function(model, "model", "model(x) -> (N, K) or (N,) tensor")
    x = _check_inputs(x)
    target = _check_target(target, len(x))
    if batch_size is not None:
        batch_size = checks.positive_int(batch_size, "batch_size")
    return x, target, batch_size


# ---------------------------------------------------------------------------------------------
# saliency and gradient x input


def saliency(model: Callable, x: torch.Tensor, target: Target = None, *, absolute: bool = True,
             batch_size: int | None = None) -> torch.Tensor:
    """Saliency map (Simonyan et al. 2014): S(x) = |∂f(x)/∂x|, elementwise.

    ``x`` = the inputs x (N × ...), ``target`` = the class whose score f is explained,
    ``absolute`` = take |·| (True, the paper's map and captum's default; False: the signed
    gradient ∂f/∂x). For images the paper then takes the maximum over colour channels; do that
    on the result when wanted (``s.amax(dim=1)``). ``batch_size``: at most this many rows per
    forward/backward pass (None: all at once).
    """
    x, target, batch_size = _common(model, x, target, batch_size)
    grad = _input_gradients(model, x, target, batch_size)
    return grad.abs() if absolute else grad


def gradient_x_input(model: Callable, x: torch.Tensor, target: Target = None, *,
                     batch_size: int | None = None) -> torch.Tensor:
    """Gradient × input (Shrikumar et al. 2016): A(x) = x ⊙ ∂f(x)/∂x.

    For a linear model f(x) = wᵀx + b it is exact: Σᵢ Aᵢ = f(x) − b, each term wᵢxᵢ being
    feature i's share. Same arguments as ``saliency``.
    """
    x, target, batch_size = _common(model, x, target, batch_size)
    return x * _input_gradients(model, x, target, batch_size)


# ---------------------------------------------------------------------------------------------
# integrated gradients


def quadrature(method: str, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes α_k and weights w_k (float64, length ``steps``) of a rule for ∫₀¹ g(α) dα ≈
    Σ_k w_k g(α_k):

    - ``"gausslegendre"``: Gauss–Legendre nodes and weights mapped from [−1, 1] to [0, 1]
      (α = (1 + t)/2, w = w_t/2); exact for polynomials of degree ≤ 2·steps − 1;
    - ``"riemann_left"``: α_k = k/n, ``"riemann_right"``: α_k = (k+1)/n, ``"riemann_middle"``:
      α_k = (k + ½)/n, all with w_k = 1/n (k = 0..n−1, n = ``steps``);
    - ``"riemann_trapezoid"``: α_k = k/(n−1), w = h·(½, 1, ..., 1, ½) with h = 1/(n−1)
      (n ≥ 2) — the trapezoid rule, whose weights sum to 1. captum's "riemann_trapezoid" uses
      h = 1/n on the same nodes (weights summing to 1 − 1/n), so its attributions are
      (n−1)/n times ours; the tests pin that ratio.
    """
    method = checks.choice(method, "method", IG_METHODS)
    steps = checks.positive_int(steps, "steps")
    n = steps
    k = torch.arange(n, dtype=torch.float64)
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (torch.from_numpy(0.5 * (1.0 + nodes)), torch.from_numpy(0.5 * weights))
    if method == "riemann_trapezoid":
        if n < 2:
            raise ValueError(f"steps must be >= 2 for the trapezoid rule, got {n}")
        weights = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
        weights[0] /= 2
        weights[-1] /= 2
        return k / (n - 1), weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (k + offset) / n, torch.full((n,), 1.0 / n, dtype=torch.float64)


def _baseline(baseline, x: torch.Tensor) -> torch.Tensor:
    """The baseline x′ broadcast to ``x``'s shape: None → zeros, a number, or a tensor shaped
    like ``x`` or like one example ``x[0]``."""
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, torch.Tensor) and baseline.dim() > 0:
        baseline = checks.finite_tensor(baseline, "baseline")
        if tuple(baseline.shape) not in (tuple(x.shape), tuple(x.shape[1:])):
            raise ValueError(f"baseline must be a number or a tensor shaped like x "
                             f"{tuple(x.shape)} or like one example {tuple(x.shape[1:])}, got "
                             f"{tuple(baseline.shape)}")
        return baseline.to(device=x.device, dtype=x.dtype).expand_as(x)
    value = checks.real(baseline, "baseline")
    return torch.full_like(x, value)


def integrated_gradients(model: Callable, x: torch.Tensor, target: Target = None, *,
                         baseline=None, steps: int = 50, method: str = "gausslegendre",
                         batch_size: int | None = None) -> torch.Tensor:
    """Integrated gradients (Sundararajan et al. 2017):

        IGᵢ(x) = (xᵢ − x′ᵢ) ∫₀¹ ∂f(x′ + α(x − x′))/∂xᵢ dα
               ≈ (xᵢ − x′ᵢ) Σ_k w_k ∂f(x′ + α_k(x − x′))/∂xᵢ

    with x = ``x``, x′ = ``baseline`` (None: zeros; a number; or a tensor shaped like x or like
    one example), f = the ``target`` score, and (α_k, w_k) the ``steps``-point quadrature rule
    ``method`` (``quadrature``): ``"gausslegendre"`` (default, as captum's), ``"riemann_left"``,
    ``"riemann_right"``, ``"riemann_middle"`` — each equal to captum's ``IntegratedGradients``
    with the same baseline, ``n_steps`` and ``method`` to 1e-5 — or ``"riemann_trapezoid"``
    (the true trapezoid rule; captum's version is (n−1)/n times it).

    Completeness (the fundamental theorem of calculus along the path):
    Σᵢ IGᵢ(x) = f(x) − f(x′), up to the quadrature error, which shrinks as ``steps`` grows
    (``completeness_gap`` measures it).

    The N·steps path points are evaluated in one forward/backward pass, or in passes of at most
    ``batch_size`` rows (whole steps: at least N rows per pass).
    """
    x, target, batch_size = _common(model, x, target, batch_size)
    x_base = _baseline(baseline, x)
    alphas, weights = quadrature(method, steps)
    n = len(x)
    per_pass = len(alphas) if batch_size is None else max(batch_size // n, 1)
    delta = x - x_base
    total = torch.zeros_like(x)
    for start in range(0, len(alphas), per_pass):
        a = alphas[start:start + per_pass].to(device=x.device, dtype=x.dtype)
        w = weights[start:start + per_pass].to(device=x.device, dtype=x.dtype)
        shape = (len(a),) + (1,) * x.dim()
        # path points x′ + α_k (x − x′), laid out step-major: row k·N + n
        points = (x_base.unsqueeze(0) + a.view(shape) * delta.unsqueeze(0)).reshape(
            len(a) * n, *x.shape[1:])
        rows_target = None if target is None else target.repeat(len(a))
        grad = _input_gradients(model, points, rows_target, None)
        total = total + (w.view(shape) * grad.view(len(a), *x.shape)).sum(dim=0)
    return delta * total


def completeness_gap(model: Callable, x: torch.Tensor, attributions: torch.Tensor,
                     target: Target = None, *, baseline=None) -> torch.Tensor:
    """Σᵢ Aᵢ(x) − (f(x) − f(x′)) per example (shape (N,)): zero for attributions A that are
    complete (integrated gradients in the limit of many steps), with x′ = ``baseline`` as in
    ``integrated_gradients``."""
    x = _check_inputs(x)
    attributions = checks.finite_tensor(attributions, "attributions")
    checks.same_shape(attributions, "attributions", x, "x")
    x_base = _baseline(baseline, x)
    difference = target_scores(model, x, target) - target_scores(model, x_base, target)
    return attributions.flatten(1).sum(dim=1) - difference


# ---------------------------------------------------------------------------------------------
# SmoothGrad


def smoothgrad(model: Callable, x: torch.Tensor, target: Target = None, *, samples: int = 50,
               noise_level: float = 0.15, value_range: float | None = None,
               absolute: bool = False, batch_size: int | None = None,
               rng: torch.Generator | None = None) -> torch.Tensor:
    """SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the input,

        M̂(x) = (1/n) Σ_{j=1..n} ∂f(x + ε_j)/∂x,   ε_j ~ N(0, σ² I),
        σ = noise_level · (x_max − x_min)

    with n = ``samples``, ``noise_level`` the paper's noise level (10–20% works well, 15% by
    default) and x_max − x_min = ``value_range`` (None: each example's own max − min). With
    ``absolute`` each sample's gradient enters as |∂f/∂x| (SmoothGrad on the saliency map, as
    captum's ``NoiseTunnel(Saliency())``, whose default is abs=True). The noise is drawn from
    ``rng`` as one tensor of shape (N·n, ...), example-major (row i·n + j), as captum draws it,
    so seeding ``rng`` and torch's global generator alike gives captum's numbers.
    """
    x, target, batch_size = _common(model, x, target, batch_size)
    samples = checks.positive_int(samples, "samples")
    noise_level = checks.nonnegative_number(noise_level, "noise_level")
    rng = checks.generator(rng, "rng")
    n = len(x)
    if value_range is None:
        flat = x.flatten(1)
        spread = (flat.amax(dim=1) - flat.amin(dim=1)).view(n, *([1] * (x.dim() - 1)))
    else:
        spread = torch.tensor(checks.nonnegative_number(value_range, "value_range"),
                              dtype=x.dtype, device=x.device)
    sigma = noise_level * spread  # scalar or (N, 1, ...)
    noise = torch.randn((n * samples, *x.shape[1:]), generator=rng, dtype=x.dtype,
                        device=x.device if rng is None else rng.device).to(x.device)
    sigma_rows = sigma.repeat_interleave(samples, dim=0) if sigma.dim() else sigma
    noisy = x.repeat_interleave(samples, dim=0) + noise * sigma_rows
    rows_target = None if target is None else target.repeat_interleave(samples)
    grad = _input_gradients(model, noisy, rows_target, batch_size)
    if absolute:
        grad = grad.abs()
    return grad.view(n, samples, *x.shape[1:]).mean(dim=1)

