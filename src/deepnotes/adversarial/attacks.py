"""White-box gradient attacks: FGSM and PGD in L∞ and L2 balls, plus the shared plumbing.

Every attack has one shape::

    attack(model, x, y, *, eps, ..., targeted=False, bounds=(0.0, 1.0), rng=None) -> x_adv

``x`` holds inputs already in ``bounds`` (pixels in [0, 1] by default), ``y`` the true labels
(untargeted) or the target classes t (``targeted=True``). The model maps inputs in ``bounds``
to logits; put any normalization inside the model (``Normalize``), so that ε is measured in
input units. While an attack runs, the model is in eval mode and its parameters do not require
gradients (only ∇ₓ is computed); both are restored afterwards, and no ``.grad`` is written
into the model.

Notation of the course: the classifier f_θ(x) gives logits z = Z(x); L is the cross-entropy
L(θ, x, y) = −log softmax(Z(x))_y; P_x = {x′ : ‖x′ − x‖ ≤ ε} is the set of allowed images.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..core import checks

Bounds = tuple[float, float]

__all__ = [
    "Normalize",
    "accuracy_under_attack",
    "attack_mode",
    "fgsm",
    "margin",
    "minimal_eps",
    "pgd",
    "predict",
    "random_perturbation",
    "success",
]


class Normalize(nn.Module):
    """``Normalize(model, mean, std)(x) = model((x − mean) / std)``, per channel.

    Attacks measure ε in the units of the model's input; wrap a model trained on standardized
    inputs in ``Normalize`` so that it takes raw pixels in [0, 1] and ε stays a pixel distance.
    ``mean`` and ``std`` are numbers or one value per channel (dimension 1 of x).
    """

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if not bool((std > 0).all()) or not bool(torch.isfinite(std).all()):
            raise ValueError(f"std must be positive, got {std.tolist()}")
        if not bool(torch.isfinite(mean).all()):
            raise ValueError(f"mean must be finite, got {mean.tolist()}")
        if len(mean) != len(std):
            raise ValueError(f"mean and std must have the same length, got {len(mean)} and "
                             f"{len(std)}")
        self.model = model
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = self.mean.to(x.dtype).reshape(shape)
        std = self.std.to(x.dtype).reshape(shape)
        return self.model((x - mean) / std)


# --------------------------------------------------------------------------------------------
# checks and the model context


def check_bounds(bounds) -> Bounds:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError) as err:
        raise TypeError(f"bounds must be a pair (low, high) of numbers, got {bounds!r}") from err
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"bounds must be finite with low < high, got {bounds!r}")
    return low, high


def check_inputs(model, x, y, bounds) -> Bounds:
    """Validate the arguments every attack shares; return ``bounds`` as floats."""
    if not isinstance(model, nn.Module) and not callable(model):
        raise TypeError(f"model must be a torch.nn.Module (or callable), got "
                        f"{type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point tensor of inputs (N, ...)")
    if x.dim() < 2:
        raise ValueError(f"x must have a batch dimension: shape (N, ...), got {tuple(x.shape)}")
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32):
        raise TypeError("y must be an integer tensor of class indices (N,)")
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},) to match x's batch size, got "
                         f"{tuple(y.shape)}")
    low, high = check_bounds(bounds)
    if len(x) and not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or Inf")
    if len(x) and (float(x.min()) < low or float(x.max()) > high):
        raise ValueError(
            f"x must lie inside bounds={bounds}, got values in [{float(x.min()):.4g}, "
            f"{float(x.max()):.4g}]; put normalization inside the model (adversarial.Normalize)"
        )
    return low, high


def check_radius(value, name: str, n: int, *, allow_zero: bool = True):
    """A finite number ≥ 0 (> 0 unless ``allow_zero``), or a tensor of n such per-example
    values; a 0-d tensor counts as a number."""
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        if value.shape != (n,):
            raise ValueError(f"{name} must be a number or a tensor of shape ({n},), got "
                             f"shape {tuple(value.shape)}")
        if not bool(torch.isfinite(value).all()) or bool((value < 0).any()) or (
            not allow_zero and bool((value == 0).any())
        ):
            raise ValueError(f"{name} must be finite and {'≥' if allow_zero else '>'} 0")
        return value
    if allow_zero:
        return checks.nonnegative_number(value, name)
    return checks.positive_number(value, name)


def check_labels(logits: torch.Tensor, y: torch.Tensor) -> None:
    """After the first forward pass: the labels must index the model's classes."""
    if logits.dim() != 2:
        raise ValueError(f"the model must return logits of shape (N, classes), got "
                         f"{tuple(logits.shape)}")
    classes = logits.shape[1]
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise ValueError(f"y must hold class indices in [0, {classes}), got values in "
                         f"[{int(y.min())}, {int(y.max())}]")


@contextmanager
def attack_mode(model: nn.Module, eval_mode: bool = True) -> Iterator[nn.Module]:
    """Run the model frozen: eval mode (when ``eval_mode``) and parameters without
    ``requires_grad``; restore each module's mode and each parameter's flag afterwards.

    Eval mode makes batch norm use its running statistics (the model as it is deployed, one
    example independent of the others) and turns dropout off.
    """
    if not isinstance(model, nn.Module):
        checks.function(model, "model", "model(x) -> logits")
        yield model
        return
    modes = [(module, module.training) for module in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        if eval_mode:
            model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for module, training in modes:
            module.training = training
        for p, flag in flags:
            p.requires_grad_(flag)


def _per_example(value, like: torch.Tensor):
    """A float stays a float; a (N,) tensor becomes (N, 1, 1, ...) on like's device/dtype."""
    if isinstance(value, torch.Tensor):
        return value.to(device=like.device, dtype=like.dtype).reshape(
            (-1,) + (1,) * (like.dim() - 1)
        )
    return value


def _norms(t: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norms, shape (N, 1, 1, ...)."""
    return t.flatten(1).norm(dim=1).reshape((-1,) + (1,) * (t.dim() - 1))


# --------------------------------------------------------------------------------------------
# losses and success


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example logit margin Z_y − max_{i≠y} Z_i (positive ⇔ class y wins)."""
    checks.tensor(logits, "logits", ndim=2, floating=True)
    checks.class_labels(labels, "labels", logits.shape[1], len(logits))
    return _margin(logits, labels)


def _margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``margin`` without the checks: the attacks' inner loops (labels checked once)."""
    own = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), -math.inf)
    return own - others.amax(dim=1)


def _objective(logits, y, loss: str, targeted: bool) -> torch.Tensor:
    """Per-example quantity the attack increases.

    ce, untargeted: L(x′, y) = CE; ce, targeted: −L(x′, t) (descend toward t).
    cw, untargeted: max_{i≠y} Z_i − Z_y; cw, targeted: Z_t − max_{i≠t} Z_i.
    """
    if loss == "ce":
        value = F.cross_entropy(logits, y, reduction="none")
        return -value if targeted else value
    value = _margin(logits, y)
    return value if targeted else -value


def predict(model, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Arg-max class of ``model`` on ``x`` (eval mode, no gradients, in batches)."""
    batch_size = checks.positive_int(batch_size, "batch_size")
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.long, device=x.device)
    with attack_mode(model), torch.no_grad():
        return torch.cat([model(x[i : i + batch_size]).argmax(1)
                          for i in range(0, len(x), batch_size)])


def success(model, x_adv: torch.Tensor, y: torch.Tensor, *, targeted: bool = False) -> torch.Tensor:
    """Per-example attack success (bool): prediction ≠ y (untargeted) or = t (targeted)."""
    checks.class_labels(y, "y", length=len(x_adv))
    if len(x_adv):
        with attack_mode(model), torch.no_grad():
            check_labels(model(x_adv[:1]), y)
    predicted = predict(model, x_adv)
    return predicted == y if targeted else predicted != y


def random_perturbation(x: torch.Tensor, *, eps: float, norm: str = "inf",
                        bounds: Bounds = (0.0, 1.0), rng=None) -> torch.Tensor:
    """The random-noise baseline: x + ε·s with s a uniformly random sign vector (L∞: a corner
    of the ε-cube) or a uniformly random direction of L2 norm ε; clipped to bounds."""
    low, high = check_bounds(bounds)
    eps = check_radius(eps, "eps", len(x))
    rng = checks.generator(rng)
    if norm not in ("inf", "2"):
        raise ValueError(f"norm must be 'inf' or '2', got {norm!r}")
    noise = _randn_like(x, rng)
    if norm == "inf":
        step = noise.sign() * _per_example(eps, x)
    else:
        step = noise / _norms(noise).clamp_min(1e-12) * _per_example(eps, x)
    return (x + step).clamp(low, high)


def _rand_like(x: torch.Tensor, rng) -> torch.Tensor:
    device = rng.device if rng is not None else x.device
    return torch.rand(x.shape, generator=rng, device=device, dtype=x.dtype).to(x.device)


def _randn_like(x: torch.Tensor, rng) -> torch.Tensor:
    device = rng.device if rng is not None else x.device
    return torch.randn(x.shape, generator=rng, device=device, dtype=x.dtype).to(x.device)


# --------------------------------------------------------------------------------------------
# FGSM


def fgsm(model, x: torch.Tensor, y: torch.Tensor, *, eps: float, targeted: bool = False,
         bounds: Bounds = (0.0, 1.0), rng=None) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015).

    x* = clip(x + ε·sgn ∇ₓL(x, y))        untargeted (``y`` = true labels)
    x* = clip(x − ε·sgn ∇ₓL(x, t))        targeted   (``y`` = target classes t)

    ``eps`` = ε (the L∞ radius, a number or one per example), L = cross-entropy of the
    model's logits, clip = clamp to ``bounds``. One gradient, one step: the special case of
    PGD with one step of size α = ε and no random start. ``rng`` is unused (FGSM is
    deterministic) and accepted for the common signature.
    """
    return pgd(model, x, y, eps=eps, norm="inf", steps=1, step_size=eps, random_start=False,
               targeted=targeted, bounds=bounds, rng=rng)


# --------------------------------------------------------------------------------------------
# PGD


def _random_start(x, eps, norm, low, high, rng):
    if norm == "inf":
        start = (2 * _rand_like(x, rng) - 1) * _per_example(eps, x)
    else:
        # uniform in the L2 ball: a Gaussian direction, radius ε·U^{1/d}
        direction = _randn_like(x, rng)
        direction = direction / _norms(direction).clamp_min(1e-12)
        d = x[0].numel()
        radius = _rand_like(x.new_empty((len(x),) + (1,) * (x.dim() - 1)), rng) ** (1 / d)
        start = direction * radius * _per_example(eps, x)
    return (x + start).clamp(low, high)


def _project(delta: torch.Tensor, eps, norm: str) -> torch.Tensor:
    """Projection onto the ε-ball: clamp each coordinate (L∞) or rescale δ·min(1, ε/‖δ‖₂)."""
    if norm == "inf":
        if isinstance(eps, torch.Tensor):
            return torch.maximum(torch.minimum(delta, eps), -eps)
        return delta.clamp(-eps, eps)
    factor = (eps / _norms(delta).clamp_min(1e-12)).clamp(max=1.0)
    return delta * factor


def _pgd_once(model, x, y, eps, alpha, norm, steps, loss, targeted, low, high, start):
    x_adv = start
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        logits = model(x_adv)
        objective = _objective(logits, y, loss, targeted).sum()
        (grad,) = torch.autograd.grad(objective, x_adv)
        with torch.no_grad():  # in place on the fresh gradient and δ: no temporaries
            if norm == "inf":
                step = grad.sign_().mul_(alpha)
            else:
                step = grad.div_(_norms(grad) + 1e-10).mul_(alpha)
            delta = _project(x_adv.sub(x).add_(step), eps, norm)
            x_adv = delta.add_(x).clamp_(low, high)
    return x_adv.detach()


def pgd(model, x: torch.Tensor, y: torch.Tensor, *, eps, norm: str = "inf", steps: int = 40,
        step_size=None, random_start: bool = True, restarts: int = 1, loss: str = "ce",
        targeted: bool = False, bounds: Bounds = (0.0, 1.0), rng=None) -> torch.Tensor:
    """Projected gradient descent on the loss (Madry et al. 2018).

    x* = argmax_{x′ ∈ P_x} L(f(x′), y),  P_x = {x′ : ‖x′ − x‖_p ≤ ε, x′ in bounds}

    solved by ``steps`` iterations of
        L∞:  x′ ← Π(x′ + α·sgn ∇ₓ′L)
        L2:  x′ ← Π(x′ + α·∇ₓ′L / ‖∇ₓ′L‖₂)
    where Π clamps δ = x′ − x to the ball (coordinate-wise for L∞, δ·min(1, ε/‖δ‖₂) for L2)
    and then x + δ to ``bounds``. Targeted (``y`` = targets t): descend L(f(x′), t) instead.

    Arguments:
        eps: ε, the radius (a number, or a tensor with one radius per example).
        norm: "inf" or "2".
        step_size: α; default 2.5·ε/steps (Madry's choice).
        random_start: start uniformly at random in the ε-ball (L2: uniform in volume) instead
            of at x.
        restarts: runs from independent random starts; each example keeps its strongest
            result (a success over a failure, then the larger loss).
        loss: "ce" (cross-entropy) or "cw" (the margin max_{i≠y} Z_i − Z_y, Carlini–Wagner's
            f without the clamp; targeted: Z_t − max_{i≠t} Z_i).
        rng: a ``torch.Generator`` for the random starts.

    With ``steps=1``, ``step_size=eps`` and no random start this is exactly ``fgsm``.
    """
    low, high = check_inputs(model, x, y, bounds)
    eps = check_radius(eps, "eps", len(x))
    steps = checks.positive_int(steps, "steps")
    restarts = checks.positive_int(restarts, "restarts")
    rng = checks.generator(rng)
    if norm not in ("inf", "2"):
        raise ValueError(f"norm must be 'inf' or '2', got {norm!r}")
    if loss not in ("ce", "cw"):
        raise ValueError(f"loss must be 'ce' or 'cw', got {loss!r}")
    if step_size is None:
        step_size = eps * (2.5 / steps)
    step_size = check_radius(step_size, "step_size", len(x))
    if len(x) == 0:
        return x.clone()
    x = x.detach()
    y = y.to(x.device, torch.long)
    eps_b, alpha_b = _per_example(eps, x), _per_example(step_size, x)
    with attack_mode(model), torch.enable_grad():
        with torch.no_grad():
            check_labels(model(x[:1]), y)
        best = best_success = best_value = None
        for _ in range(restarts):
            start = (_random_start(x, eps, norm, low, high, rng) if random_start
                     else x.clone())
            x_adv = _pgd_once(model, x, y, eps_b, alpha_b, norm, steps, loss, targeted,
                              low, high, start)
            if restarts == 1:
                return x_adv
            with torch.no_grad():
                logits = model(x_adv)
                value = _objective(logits, y, loss, targeted)
                hit = logits.argmax(1) == y if targeted else logits.argmax(1) != y
            if best is None:
                best, best_success, best_value = x_adv, hit, value
                continue
            better = (hit & ~best_success) | ((hit == best_success) & (value > best_value))
            best = torch.where(better.reshape((-1,) + (1,) * (x.dim() - 1)), x_adv, best)
            best_success = best_success | hit
            best_value = torch.where(better, value, best_value)
        return best


def accuracy_under_attack(model, attack, x: torch.Tensor, y: torch.Tensor, *,
                          batch_size: int = 500, **attack_kwargs) -> float:
    """Robust accuracy: the fraction of examples still classified y after
    ``attack(model, x, y, **attack_kwargs)``, crafted in batches of ``batch_size``.
    ``attack=None`` gives the clean accuracy."""
    batch_size = checks.positive_int(batch_size, "batch_size")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if attack is not None:
        checks.function(attack, "attack", "attack(model, x, y, **attack_kwargs) -> x_adv")
    correct = 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        if attack is not None:
            xb = attack(model, xb, yb, **attack_kwargs)
        correct += int((predict(model, xb) == yb).sum())
    return correct / max(len(x), 1)


def minimal_eps(model, attack, x: torch.Tensor, y: torch.Tensor, *, eps_max: float,
                iterations: int = 10, targeted: bool = False,
                **attack_kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example smallest radius at which ``attack`` succeeds, by batched bisection.

    Each example keeps an interval [lo, hi] (start [0, ε_max]); ``attack(model, x, y,
    eps=mid, ...)`` runs once per iteration for the whole batch with per-example
    mid = (lo + hi)/2, and success sets hi = mid, failure lo = mid. Returns ``(eps, x_adv)``:
    hi after ``iterations`` (inf where even ε_max failed) and the adversarial found at that
    radius (x where none).
    """
    eps_max = check_radius(eps_max, "eps_max", len(x), allow_zero=False)
    iterations = checks.positive_int(iterations, "iterations")
    checks.function(attack, "attack", "attack(model, x, y, *, eps, ...) -> x_adv")
    shape = (-1,) + (1,) * (x.dim() - 1)
    at_max = attack(model, x, y, eps=eps_max, targeted=targeted, **attack_kwargs)
    found = success(model, at_max, y, targeted=targeted)
    low = torch.zeros(len(x), device=x.device, dtype=x.dtype)
    high = torch.full((len(x),), float(eps_max), device=x.device, dtype=x.dtype)
    best = torch.where(found.reshape(shape), at_max, x)
    for _ in range(iterations):
        middle = (low + high) / 2
        x_adv = attack(model, x, y, eps=middle, targeted=targeted, **attack_kwargs)
        hit = success(model, x_adv, y, targeted=targeted) & found
        high = torch.where(hit, middle, high)
        low = torch.where(hit, low, middle)
        best = torch.where(hit.reshape(shape), x_adv, best)
    return torch.where(found, high, torch.full_like(high, math.inf)), best
