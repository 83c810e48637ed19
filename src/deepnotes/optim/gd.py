"""Full-batch gradient descent on a function, and any optimizer driven on a function.

``gd(f, x0, lr, steps)`` is the course's x^{k+1} = x^k − α ∇f(x^k) for small problems given as
a callable (quadratics, Rosenbrock, logistic regression on a fixed data set). ``minimize`` runs
any ``torch.optim.Optimizer`` (ours or torch's) on such a callable, for comparisons. Training a
model on minibatches is ``deepnotes.engine.fit``'s job, not these functions'.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core import checks


@dataclass
class Descent:
    """The outcome of ``gd`` / ``minimize``.

    x: the last iterate. losses: f(x^k) for k = 0..steps (float64, length steps + 1, shorter
    when stopped early). grad_norms: ‖∇f(x^k)‖ for the same k (``gd`` only; empty for
    ``minimize``). path: the iterates (steps + 1, *x.shape) when ``record_path``. converged:
    the stopping tolerance was met; diverged: f became NaN/Inf.
    """

    x: Tensor
    losses: Tensor
    grad_norms: Tensor
    path: Tensor | None
    converged: bool
    diverged: bool

    @property
    def steps(self) -> int:
        return len(self.losses) - 1

    def steps_to(self, target: float) -> int | None:
        """The first k with f(x^k) ≤ ``target`` (None if never)."""
        hits = torch.nonzero(self.losses <= target)
        return int(hits[0]) if len(hits) else None


def _check_problem(f, x0, steps) -> Tensor:
    if not callable(f):
        raise TypeError("f must be callable: f(x) -> scalar tensor")
    if not isinstance(x0, Tensor):
        raise TypeError(f"x0 must be a tensor, got {type(x0).__name__}")
    if not x0.is_floating_point():
        raise TypeError(f"x0 must be a floating-point tensor, got {x0.dtype}")
    if not torch.isfinite(x0).all():
        raise ValueError("x0 contains NaN or Inf")
    checks.nonnegative_int(steps, "steps")
    return x0.detach().clone()


def _value_and_grad(f: Callable, x: Tensor) -> tuple[Tensor, Tensor]:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        value = f(x)
        if not isinstance(value, Tensor) or value.numel() != 1:
            raise ValueError("f must return a scalar tensor")
        (grad,) = torch.autograd.grad(value, x)
    return value.detach(), grad


def gd(
    f: Callable[[Tensor], Tensor],
    x0: Tensor,
    lr: float | Tensor,
    steps: int,
    *,
    grad: Callable[[Tensor], Tensor] | None = None,
    tol: float | None = None,
    record_path: bool = False,
    stop_on_divergence: bool = True,
) -> Descent:
    """Gradient descent x^{k+1} = x^k − α ∇f(x^k) from ``x0`` for ``steps`` steps.

    Arguments:
        f: the objective, x ↦ scalar tensor.
        lr: α, a number ≥ 0, or a tensor broadcastable to ``x0`` (e.g. one step size per row
            of x0 with f summing independent row objectives: a sweep over α in one call).
        grad: ∇f as a callable; default: autograd of ``f``.
        tol: stop when ‖∇f(x^k)‖ ≤ tol (``converged``).
        record_path: keep every iterate in ``path``.
        stop_on_divergence: stop when f(x^k) is NaN/Inf (``diverged``). Turn off for row-wise
            sweeps, where some rows may diverge while the others are still informative.
    """
    x = _check_problem(f, x0, steps)
    steps = checks.nonnegative_int(steps, "steps")
    if isinstance(lr, Tensor) and lr.dim() > 0:
        if not bool(torch.isfinite(lr).all()) or bool((lr < 0).any()):
            raise ValueError("lr must hold finite step sizes >= 0")
        lr = lr.to(dtype=x.dtype, device=x.device)
        try:
            checks.broadcast_shapes(lr.shape, x.shape)
        except RuntimeError:
            raise ValueError(f"lr of shape {tuple(lr.shape)} does not broadcast to x0's shape "
                             f"{tuple(x.shape)}") from None
    else:
        lr = checks.nonnegative_number(lr, "lr")
    if tol is not None:
        tol = checks.nonnegative_number(tol, "tol")

    losses, norms, path = [], [], [x.clone()] if record_path else None
    converged = diverged = False
    for k in range(steps + 1):
        if grad is None:
            value, g = _value_and_grad(f, x)
        else:
            with torch.no_grad():
                value, g = f(x), grad(x)
        value = float(value)
        losses.append(value)
        norms.append(float(g.norm()))
        if not math.isfinite(value) and stop_on_divergence:
            diverged = True
            break
        if tol is not None and norms[-1] <= tol:
            converged = True
            break
        if k == steps:
            break
        x = x - lr * g  # x^{k+1} = x^k − α ∇f(x^k)
        if record_path:
            path.append(x.clone())
    if not diverged and not math.isfinite(losses[-1]):
        diverged = True
    return Descent(
        x=x,
        losses=torch.tensor(losses, dtype=torch.float64),
        grad_norms=torch.tensor(norms, dtype=torch.float64),
        path=torch.stack(path) if record_path else None,
        converged=converged,
        diverged=diverged,
    )


def minimize(
    f: Callable[[Tensor], Tensor],
    x0: Tensor,
    optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    steps: int,
    *,
    record_path: bool = False,
) -> Descent:
    """Run ``optimizer(params)`` (a factory, e.g. ``lambda p: Adam(p, lr=1e-2)``) for ``steps``
    full-gradient steps on f from ``x0``; stops early if f becomes NaN/Inf."""
    x = _check_problem(f, x0, steps).requires_grad_(True)
    steps = checks.nonnegative_int(steps, "steps")
    if not callable(optimizer):
        raise TypeError("optimizer must be a factory: params -> torch.optim.Optimizer")
    opt = optimizer([x])
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError("optimizer factory must return a torch.optim.Optimizer")

    def closure():
        opt.zero_grad(set_to_none=True)
        value = f(x)
        value.backward()
        return value

    losses, path = [], [x.detach().clone()] if record_path else None
    diverged = False
    for k in range(steps + 1):
        if k == steps:
            with torch.no_grad():
                losses.append(float(f(x)))
            break
        value = float(opt.step(closure).detach())
        losses.append(value)
        if not math.isfinite(value):
            diverged = True
            break
        if record_path:
            path.append(x.detach().clone())
    diverged = diverged or not math.isfinite(losses[-1])
    return Descent(
        x=x.detach(),
        losses=torch.tensor(losses, dtype=torch.float64),
        grad_norms=torch.empty(0, dtype=torch.float64),
        path=torch.stack(path) if record_path else None,
        converged=False,
        diverged=diverged,
    )
