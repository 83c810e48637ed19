"""Carlini–Wagner L2 attack (Carlini & Wagner 2017), batched, with a per-example binary search
over the constant c.

The course's problem: min_δ ‖δ‖_p subject to c(x + δ) = t, relaxed to the penalized form

    min_δ ‖δ‖²₂ + c·f(x + δ),   f(x′) = max(max_{i≠t} Z(x′)_i − Z(x′)_t, −κ)       (targeted)
                                f(x′) = max(Z(x′)_y − max_{i≠y} Z(x′)_i, −κ)       (untargeted)

with Z the logits, κ (``kappa``) the confidence and c (``c``, the course's λ) the trade-off.
Correction to the course notes: their untargeted variant reads
"min ‖δ‖ − λ(max_{i≠y} z_i − z_y)⁻", whose sign is garbled; the untargeted penalty is the true
class's margin, c·max(Z_y − max_{i≠y} Z_i, −κ), which is positive while x + δ is still
classified y and is minimized by pushing another class above y.

The box constraint x + δ ∈ [low, high] is removed by the change of variables
x + δ = low + (high − low)·(tanh(w) + 1)/2, and w is optimized with Adam. c is chosen per
example by binary search: after each stage of ``steps`` Adam steps, an example that succeeded
gets a smaller c (upper bound := c), one that failed a larger one (lower bound := c; ×10 while
no upper bound is known). Across all stages each example keeps its smallest successful δ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core import checks
from .attacks import (
    Bounds,
    attack_mode,
    check_inputs,
    check_labels,
    check_radius,
)
from .attacks import _margin as margin  # unchecked: y was checked once, before the loop

__all__ = ["CWResult", "carlini_wagner_l2", "carlini_wagner_l2_search"]

_NO_UPPER = 1e10


@dataclass
class CWResult:
    """The outcome of the search, per example: ``x_adv`` (the smallest successful adversarial,
    or x itself where none was found), ``success`` (bool), ``l2`` = ‖x_adv − x‖₂ (inf where
    no success), ``const`` (the last c tried), and the number of Adam steps taken in total."""

    x_adv: torch.Tensor
    success: torch.Tensor
    l2: torch.Tensor
    const: torch.Tensor
    steps_taken: int


def _to_box(w: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * (torch.tanh(w) + 1) / 2


#: arctanh(±1) is infinite, so the start w = arctanh(2(x − low)/(high − low) − 1) is taken
#: from x shrunk toward the box centre by this fraction. The reference implementation's 1e-6
#: starts bound pixels at |w| ≈ 7.3, where tanh′ ≈ 2e-6: such pixels barely move in 100 Adam
#: steps (on the digits, half the pixels are exactly 0; measured: none of CW's perturbation
#: landed on them in a 5 × 30-step search, mean L2 0.47 against 0.37 with 1e-3). 1e-3 starts
#: them at |w| ≈ 3.8, offset by at most 5e-4 of the range, which the ‖δ‖² term then weighs.
BOX_SHRINK = 1e-3


def _from_box(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    unit = ((x - low) / (high - low) * 2 - 1).clamp(-1, 1) * (1 - BOX_SHRINK)
    return torch.atanh(unit)


def carlini_wagner_l2_search(
    model, x: torch.Tensor, y: torch.Tensor, *, targeted: bool = False, c: float = 1.0,
    kappa: float = 0.0, steps: int = 100, binary_steps: int = 5, lr: float = 0.01,
    abort_early: bool = True, lr_decay: bool = False, bounds: Bounds = (0.0, 1.0),
    rng=None,
) -> CWResult:
    """Carlini–Wagner L2 with batched per-example binary search over c; returns a ``CWResult``.

    Arguments (symbols of the module docstring):
        y: true labels (untargeted) or targets t (``targeted=True``).
        c: the initial constant c for every example.
        kappa: κ ≥ 0; success means the margin exceeds κ (Z_t − max_{i≠t} Z_i > κ targeted,
            max_{i≠y} Z_i − Z_y > κ untargeted).
        steps: Adam steps per binary-search stage; binary_steps: number of stages (each stage
            restarts w at the original image, as in the paper).
        lr: Adam's learning rate on w.
        lr_decay: within each stage, anneal the learning rate from ``lr`` to 0 on a cosine
            (True) or keep it constant (False, default, the paper). Annealing lets the iterate
            settle on the decision boundary instead of oscillating across it, which pays when
            stages are long; measured on the digits CNN (200 examples, 9 × 100 steps, lr 0.1,
            no early abort): CW's ‖δ‖₂ below PGD's per-example minimal ε on 82% of examples,
            against 57% at constant lr. With short stages (≤ 50 steps) it costs success.
        abort_early: end a stage when the total loss has not fallen by 0.01% over the last
            steps/10 steps (the paper's rule).
        rng: unused (the attack is deterministic); accepted for the common signature.
    """
    low, high = check_inputs(model, x, y, bounds)
    c = check_radius(c, "c", len(x), allow_zero=False)
    kappa = check_radius(kappa, "kappa", len(x))
    steps = checks.positive_int(steps, "steps")
    binary_steps = checks.positive_int(binary_steps, "binary_steps")
    lr = check_radius(lr, "lr", len(x), allow_zero=False)
    x = x.detach()
    n = len(x)
    y = y.to(x.device, torch.long)
    shape = (-1,) + (1,) * (x.dim() - 1)
    const = (c.to(x.device, x.dtype).clone() if isinstance(c, torch.Tensor)
             else torch.full((n,), c, device=x.device, dtype=x.dtype))
    lower = torch.zeros(n, device=x.device, dtype=x.dtype)
    upper = torch.full((n,), _NO_UPPER, device=x.device, dtype=x.dtype)
    best_l2sq = torch.full((n,), math.inf, device=x.device, dtype=x.dtype)
    best_adv = x.clone()
    if n == 0:
        return CWResult(best_adv, torch.zeros(0, dtype=torch.bool), best_l2sq, const, 0)
    w_start = _from_box(x, low, high)
    check_every = max(steps // 10, 1)
    total_steps = 0

    with attack_mode(model), torch.enable_grad():
        with torch.no_grad():
            check_labels(model(x[:1]), y)
        for _ in range(binary_steps):
            w = w_start.clone().requires_grad_(True)
            optimizer = torch.optim.Adam([w], lr=lr)
            schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
                        if lr_decay else None)
            stage_success = torch.zeros(n, dtype=torch.bool, device=x.device)
            previous = math.inf
            for step in range(steps):
                x_adv = _to_box(w, low, high)
                l2sq = (x_adv - x).flatten(1).pow(2).sum(1)
                logits = model(x_adv)
                # signed margin toward success: Z_t − max_{i≠t} Z_i, or max_{i≠y} Z_i − Z_y
                toward = margin(logits, y) if targeted else -margin(logits, y)
                f = (-toward).clamp(min=-kappa)
                loss = (l2sq + const * f).sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                total_steps += 1
                with torch.no_grad():
                    hit = (toward > 0) & (toward >= kappa)
                    improved = hit & (l2sq < best_l2sq)
                    best_l2sq = torch.where(improved, l2sq, best_l2sq)
                    best_adv = torch.where(improved.reshape(shape), x_adv, best_adv)
                    stage_success |= hit
                if abort_early and step % check_every == 0:
                    value = loss.item()
                    if value > previous * 0.9999:
                        break
                    previous = value
            with torch.no_grad():
                upper = torch.where(stage_success, torch.minimum(upper, const), upper)
                lower = torch.where(stage_success, lower, torch.maximum(lower, const))
                const = torch.where(upper < _NO_UPPER, (lower + upper) / 2, const * 10)

    found = torch.isfinite(best_l2sq)
    return CWResult(best_adv.detach(), found, best_l2sq.sqrt(), const, total_steps)


def carlini_wagner_l2(
    model, x: torch.Tensor, y: torch.Tensor, *, targeted: bool = False, c: float = 1.0,
    kappa: float = 0.0, steps: int = 100, binary_steps: int = 5, lr: float = 0.01,
    abort_early: bool = True, lr_decay: bool = False, bounds: Bounds = (0.0, 1.0),
    rng=None,
) -> torch.Tensor:
    """Carlini–Wagner L2 (see ``carlini_wagner_l2_search``): returns x_adv only — per example
    the smallest successful adversarial found, or the unchanged input where none was."""
    return carlini_wagner_l2_search(
        model, x, y, targeted=targeted, c=c, kappa=kappa, steps=steps,
        binary_steps=binary_steps, lr=lr, abort_early=abort_early, lr_decay=lr_decay,
        bounds=bounds,
        rng=rng,
    ).x_adv
