"""The update rules of the course as plain functions on lists of tensors.

Each rule comes in two forms that give the same numbers:

- the **single-tensor** form (``sgd``, ``adagrad``, ``rmsprop``, ``adam``): a loop over the
  parameters, one line per line of the textbook algorithm. It is the readable reference, the
  path for small models, and the function that ``torch.compile`` turns into one fused kernel per
  parameter (``deepnotes.optim._compiled``). Scalars that change from step to step (``lr``, the
  step counts) may be Python numbers or 0-d tensors, so the compiled graph is not rebuilt when
  a scheduler changes ``lr`` or the step count grows;
- the **multi-tensor** form (``*_foreach``): the same arithmetic with ``torch._foreach_*`` ops,
  one dispatch per operation for the whole list: the fast form on CUDA and, on CPU, for small
  (dispatch-bound) groups; for large CPU tensors it is no faster than the single-tensor loop,
  and the one-pass forms win (``optim._base.COMPILE_MIN_NUMEL``, ``benchmarks/optimizers.py``).

Where torch has a kernel for exactly the same update (``sgd_native``, ``sgd_momentum_native``,
``adagrad_native``), the optimizers' compiled form runs it instead of compiling.

Everything updates ``params`` and the state tensors in place and returns nothing. Call them
under ``torch.no_grad()``. Symbols: θ = ``params``, g = ``grads``; the hyperparameter keywords
are torch.optim's names, mapped to the course's symbols in each docstring.

``weight_decay`` = λ adds L2 regularisation to the gradient, g ← g + λθ, as torch.optim does.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "adagrad", "adagrad_foreach", "adagrad_rates", "adagrad_update", "adam", "adam_corrections",
    "adam_foreach", "adam_update", "rmsprop", "rmsprop_foreach", "sgd", "sgd_foreach",
    "sgd_momentum_native", "sgd_native",
]


def _with_weight_decay(grad: Tensor, param: Tensor, weight_decay: float) -> Tensor:
    return grad.add(param, alpha=weight_decay) if weight_decay != 0 else grad


# --------------------------------------------------------------------------------------------
# SGD and momentum


def sgd(
    params: list[Tensor],
    grads: list[Tensor],
    velocities: list[Tensor | None],
    *,
    lr: float | Tensor,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> None:
    """Minibatch SGD, with momentum in the textbook form (Goodfellow et al. Alg. 8.2).

    Without momentum:  θ ← θ − ε g.
    With momentum:     v ← α v − ε g;   θ ← θ + v.

    Symbols → arguments: ε (learning rate) = ``lr``, α (momentum parameter) = ``momentum``,
    v (velocity) = ``velocities[i]`` (initially 0; ignored when ``momentum`` is 0).

    At constant ε this is torch.optim.SGD(momentum=α) exactly: torch keeps b = −v/ε and steps
    θ ← θ − ε b. They differ when ε changes during training: the textbook velocity keeps the old
    ε inside it, torch's buffer is rescaled by the new ε.
    """
    for param, grad, velocity in zip(params, grads, velocities, strict=True):
        grad = _with_weight_decay(grad, param, weight_decay)
        if momentum == 0:
            param.sub_(grad * lr)  # θ ← θ − εg
        else:
            velocity.mul_(momentum).sub_(grad * lr)  # v ← αv − εg
            param.add_(velocity)  # θ ← θ + v


def _one_device_and_dtype(params: list[Tensor]) -> bool:
    """torch's fused kernels take one list on one device in one dtype."""
    first = params[0]
    return all(p.device == first.device and p.dtype == first.dtype for p in params)


def sgd_momentum_native(
    params: list[Tensor],
    grads: list[Tensor],
    velocities: list[Tensor | None],
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> bool:
    """The textbook momentum update of ``sgd`` through torch's own fused SGD kernel.

    torch's kernel computes, with decay λ, momentum α, dampening τ and lr η:
    d = g + λθ;  b ← α b + (1 − τ) d;  θ ← θ − η b.  With τ = 1 + ε and η = −1 this is
    b ← α b − ε(g + λθ);  θ ← θ + b, i.e. Alg. 8.2 with b = v — the same velocity, also after
    an lr change, and the gradients are left untouched (the kernel's ``grad_scale`` would
    overwrite them). 1 − τ is formed in float64, exact to 1.2e-16/ε relative, far below float32
    rounding for ε ≥ 1e-6; smaller ε, no momentum, mixed devices/dtypes or a torch without the
    kernel return False (nothing done), and the caller runs another form.
    """
    fused_sgd = getattr(torch, "_fused_sgd_", None)
    if momentum == 0 or lr < 1e-6 or fused_sgd is None or not _one_device_and_dtype(params):
        return False
    fused_sgd(params, grads, velocities, weight_decay=weight_decay, momentum=momentum,
              lr=-1.0, dampening=1.0 + lr, nesterov=False, maximize=False, is_first_step=False)
    return True


def sgd_native(
    params: list[Tensor],
    grads: list[Tensor],
    velocities: list[Tensor | None],
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> bool:
    """``sgd`` through torch's own kernels, where one computes exactly the same update in one
    pass over memory (the compiled form's choice for SGD):

    - no momentum, no decay: θ ← θ − εg is one in-place ``add_(g, alpha=−ε)`` per tensor
      (``torch._foreach_add_``: on CPU that loop, on CUDA one multi-tensor launch) — what
      torch.optim.SGD(foreach=False) runs, the fastest of torch's forms on CPU; a compiled loop
      moves the same 12 bytes per element and only adds its call overhead;
    - no momentum, decay λ: torch's fused SGD kernel with momentum 0, θ ← θ − ε(g + λθ);
    - momentum: ``sgd_momentum_native``.

    Returns False (nothing done) where none applies (mixed devices/dtypes, no fused kernel,
    ε < 1e-6 with momentum); the caller then runs another form.
    """
    if momentum != 0:
        return sgd_momentum_native(params, grads, velocities, lr=lr, momentum=momentum,
                                   weight_decay=weight_decay)
    if weight_decay == 0:
        torch._foreach_add_(params, grads, alpha=-lr)
        return True
    fused_sgd = getattr(torch, "_fused_sgd_", None)
    if fused_sgd is None or not _one_device_and_dtype(params):
        return False
    fused_sgd(params, grads, [], weight_decay=weight_decay, momentum=0.0, lr=lr,
              dampening=0.0, nesterov=False, maximize=False, is_first_step=False)
    return True


def sgd_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    velocities: list[Tensor | None],
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> None:
    """``sgd`` with ``torch._foreach_*`` ops (same formula, same numbers)."""
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    if momentum == 0:
        torch._foreach_add_(params, grads, alpha=-lr)
        return
    torch._foreach_mul_(velocities, momentum)
    torch._foreach_add_(velocities, grads, alpha=-lr)
    torch._foreach_add_(params, velocities)


# --------------------------------------------------------------------------------------------
# AdaGrad


def adagrad_rates(steps: list[Tensor], *, lr: float | Tensor, lr_decay: float = 0.0
                  ) -> list[Tensor]:
    """t ← t + 1 for every tensor, and the rate ε_t = ε / (1 + (t − 1) η) of each."""
    rates = []
    for step in steps:
        step.add_(1)
        rates.append(lr / (1 + (step - 1) * lr_decay))
    return rates


def adagrad_update(
    params: list[Tensor],
    grads: list[Tensor],
    sums: list[Tensor],
    rates: list[Tensor],
    *,
    eps: float = 1e-7,
    weight_decay: float = 0.0,
) -> None:
    """The element-wise part of ``adagrad``, given each tensor's rate ε_t."""
    for param, grad, r, rate in zip(params, grads, sums, rates, strict=True):
        grad = _with_weight_decay(grad, param, weight_decay)
        r.addcmul_(grad, grad)  # r ← r + g⊙g
        param.sub_(rate * grad / (r.sqrt() + eps))  # θ ← θ − ε/(δ + √r) ⊙ g


def adagrad(
    params: list[Tensor],
    grads: list[Tensor],
    sums: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float | Tensor,
    eps: float = 1e-7,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
) -> None:
    """AdaGrad (Goodfellow et al. Alg. 8.4).

    r ← r + g ⊙ g;   Δθ = −ε / (δ + √r) ⊙ g;   θ ← θ + Δθ     (element-wise)

    Symbols → arguments: ε (global learning rate) = ``lr``, δ (small constant, 1e-7 in the
    book) = ``eps``, r (accumulated squared gradient) = ``sums[i]``; ``steps[i]`` counts updates.
    ``lr_decay`` = η gives torch's decayed rate ε_t = ε / (1 + (t − 1) η) (0: the book's rule).
    Same as torch.optim.Adagrad(lr=ε, eps=δ). Two steps: the per-tensor scalars
    (``adagrad_rates``), then the element-wise update (``adagrad_update``), which is what the
    compiled path compiles.
    """
    rates = adagrad_rates(steps, lr=lr, lr_decay=lr_decay)
    adagrad_update(params, grads, sums, rates, eps=eps, weight_decay=weight_decay)


def adagrad_native(
    params: list[Tensor],
    grads: list[Tensor],
    sums: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    eps: float = 1e-7,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
) -> bool:
    """``adagrad`` through torch's own fused AdaGrad kernel, which computes the same update
    (r ← r + g⊙g; θ ← θ − ε_t g / (δ + √r)) after the step counts are advanced. Returns False
    (nothing done) when the kernel is missing or the tensors differ in device/dtype."""
    fused_adagrad = getattr(torch, "_fused_adagrad_", None)
    if fused_adagrad is None or not _one_device_and_dtype(params):
        return False
    torch._foreach_add_(steps, 1)
    fused_adagrad(params, grads, sums, steps, lr=lr, lr_decay=lr_decay,
                  weight_decay=weight_decay, eps=eps, maximize=False)
    return True


def adagrad_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    sums: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    eps: float = 1e-7,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
) -> None:
    """``adagrad`` with ``torch._foreach_*`` ops."""
    torch._foreach_add_(steps, 1)
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_addcmul_(sums, grads, grads)
    denominators = torch._foreach_sqrt(sums)
    torch._foreach_add_(denominators, eps)
    rates = [-lr / (1 + (float(step) - 1) * lr_decay) for step in steps]
    torch._foreach_addcdiv_(params, grads, denominators, rates)


# --------------------------------------------------------------------------------------------
# RMSProp


def rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    *,
    lr: float | Tensor,
    alpha: float = 0.99,
    eps: float = 1e-6,
    eps_inside_sqrt: bool = True,
    weight_decay: float = 0.0,
) -> None:
    """RMSProp (Goodfellow et al. Alg. 8.5).

    r ← ρ r + (1 − ρ) g ⊙ g;   Δθ = −ε / √(δ + r) ⊙ g;   θ ← θ + Δθ

    Symbols → arguments: ε (global learning rate) = ``lr``, ρ (decay rate) = ``alpha``
    (torch.optim's name), δ = ``eps``, r = ``square_avgs[i]``. The book puts δ **inside** the
    square root (``eps_inside_sqrt=True``, the default); PyTorch puts it outside,
    Δθ = −ε g / (√r + δ) (``eps_inside_sqrt=False``, identical to torch.optim.RMSprop).
    Inside the root, the denominator is at least √δ, so a tiny r cannot blow the step up.
    """
    for param, grad, r in zip(params, grads, square_avgs, strict=True):
        grad = _with_weight_decay(grad, param, weight_decay)
        r.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)  # r ← ρr + (1−ρ) g⊙g
        denominator = (r + eps).sqrt() if eps_inside_sqrt else r.sqrt() + eps
        param.sub_(lr * grad / denominator)  # θ ← θ − ε g / √(δ + r)


def rmsprop_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-6,
    eps_inside_sqrt: bool = True,
    weight_decay: float = 0.0,
) -> None:
    """``rmsprop`` with ``torch._foreach_*`` ops."""
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_mul_(square_avgs, alpha)
    torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
    if eps_inside_sqrt:
        denominators = torch._foreach_add(square_avgs, eps)
        torch._foreach_sqrt_(denominators)
    else:
        denominators = torch._foreach_sqrt(square_avgs)
        torch._foreach_add_(denominators, eps)
    torch._foreach_addcdiv_(params, grads, denominators, value=-lr)


# --------------------------------------------------------------------------------------------
# Adam


def _one_minus_power(beta: float, step: Tensor) -> Tensor:
    """1 − βᵗ computed as −expm1(t log β): accurate to float32 rounding even for small t, where
    1 − 0.999ᵗ in float32 would lose five digits to cancellation."""
    if beta == 0:
        return torch.ones_like(step)
    return -torch.expm1(step * math.log(beta))


def adam_corrections(steps: list[Tensor], *, lr: float | Tensor, beta1: float = 0.9,
                     beta2: float = 0.999) -> tuple[list[Tensor], list[Tensor]]:
    """t ← t + 1 for every tensor, and its bias-correction scalars α / (1 − β₁ᵗ) and
    1 / √(1 − β₂ᵗ)."""
    step_sizes, inv_sqrt_corrections = [], []
    for step in steps:
        step.add_(1)  # t ← t + 1
        step_sizes.append(lr / _one_minus_power(beta1, step))  # α / (1 − β₁ᵗ)
        inv_sqrt_corrections.append(_one_minus_power(beta2, step).rsqrt())  # 1 / √(1 − β₂ᵗ)
    return step_sizes, inv_sqrt_corrections


def adam_update(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    step_sizes: list[Tensor],
    inv_sqrt_corrections: list[Tensor],
    *,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> None:
    """The element-wise part of ``adam``, given each tensor's bias-correction scalars."""
    for param, grad, m, v, step_size, inv_sqrt_correction2 in zip(
        params, grads, exp_avgs, exp_avg_sqs, step_sizes, inv_sqrt_corrections, strict=True
    ):
        grad = _with_weight_decay(grad, param, weight_decay)
        m.lerp_(grad, 1 - beta1)  # m ← β₁m + (1−β₁)g
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v ← β₂v + (1−β₂)g²
        # θ ← θ − α m̂ / (√v̂ + ε) = θ − (α/(1 − β₁ᵗ)) m / (√v / √(1 − β₂ᵗ) + ε)
        param.sub_(step_size * m / (v.sqrt() * inv_sqrt_correction2 + eps))


def adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float | Tensor,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> None:
    """Adam (Kingma & Ba 2015, Algorithm 1).

    t ← t + 1
    m_t = β₁ m_{t−1} + (1 − β₁) g_t              (biased first moment)
    v_t = β₂ v_{t−1} + (1 − β₂) g_t ⊙ g_t         (biased second raw moment)
    m̂_t = m_t / (1 − β₁ᵗ),  v̂_t = v_t / (1 − β₂ᵗ)  (bias correction)
    θ_t = θ_{t−1} − α m̂_t / (√v̂_t + ε)

    Symbols → arguments: α (step size) = ``lr``, β₁, β₂ = ``beta1``, ``beta2`` (torch's
    ``betas``), ε = ``eps``, m = ``exp_avgs[i]``, v = ``exp_avg_sqs[i]``, t = ``steps[i]``.
    The last line is computed as θ ← θ − (α / (1 − β₁ᵗ)) m / (√v / √(1 − β₂ᵗ) + ε), the same
    number with one division per element. Same as torch.optim.Adam. Two steps: the per-tensor
    scalars (``adam_corrections``), then the element-wise update (``adam_update``), which is
    what the compiled path compiles (inlined into the element loop, the scalars would be
    recomputed for every vector of elements).
    """
    step_sizes, inv_sqrt_corrections = adam_corrections(steps, lr=lr, beta1=beta1, beta2=beta2)
    adam_update(params, grads, exp_avgs, exp_avg_sqs, step_sizes, inv_sqrt_corrections,
                beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)


def adam_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> None:
    """``adam`` with ``torch._foreach_*`` ops."""
    torch._foreach_add_(steps, 1)
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    counts = [float(step) for step in steps]
    denominators = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_mul_(denominators, [1 / math.sqrt(1 - beta2**t) for t in counts])
    torch._foreach_add_(denominators, eps)
    torch._foreach_addcdiv_(
        params, exp_avgs, denominators, [-lr / (1 - beta1**t) for t in counts]
    )
