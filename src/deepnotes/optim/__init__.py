"""Optimizers of the course, drop-in replacements for their torch.optim counterparts.

| course | class | torch.optim |
|---|---|---|
| SGD, momentum (Goodfellow Alg. 8.2: v ← αv − εg, θ ← θ + v) | ``SGD`` | ``SGD`` |
| AdaGrad (Alg. 8.4: Δθ = −ε g / (δ + √r)) | ``AdaGrad`` (alias ``Adagrad``) | ``Adagrad`` |
| RMSProp (Alg. 8.5: Δθ = −ε g / √(δ + r)) | ``RMSProp`` (alias ``RMSprop``) | ``RMSprop`` |
| Adam (Kingma & Ba Alg. 1) | ``Adam`` | ``Adam`` |
| gradient descent on a function | ``gd``; any optimizer: ``minimize`` | — |

Keyword names are torch.optim's (``lr``, ``momentum``, ``alpha`` for ρ, ``eps`` for δ,
``betas``), so ``from deepnotes import optim`` runs code written for torch.optim. Each class
validates its hyperparameters, supports param groups, ``state_dict``/``load_state_dict``,
``zero_grad``, closures and lr schedulers, and runs one of three forms of its update rule:

- single-tensor (``foreach=False, fused=False``): the readable reference
  (``optim.functional``);
- multi-tensor (``foreach=True``): ``torch._foreach_*`` ops;
- compiled (``fused=True``): one pass over memory per parameter — torch's own kernel where
  one computes exactly the same update (SGD: an in-place ``add_`` without momentum, torch's
  fused SGD kernel with momentum or decay; AdaGrad: torch's fused AdaGrad kernel), else the
  single-tensor rule through ``torch.compile`` (RMSProp, Adam; ``optim._compiled``).

The default (``foreach=None, fused=None``) picks by device, from measurements: on CUDA the
multi-tensor form; on CPU the compiled form for groups of at least ``COMPILE_MIN_NUMEL`` (2²⁰)
elements, where a step is memory-bound and the one-pass form is the fastest (several times
faster than the multi-tensor form for Adam; a ``torch.compile`` loop pays back its ~7–20 s
compilation within a few thousand steps), and the multi-tensor form below that, where a step
is dispatch-bound (Adam on a 40-100-10 MLP: 104 µs vs 204 µs for the single-tensor loop).

Alternatives to gradient descent: ``optim.alternatives`` (closed-form least squares,
Nelder–Mead, Newton's method).
"""

from __future__ import annotations

from . import alternatives, functional
from ._base import COMPILE_MIN_NUMEL, choose_form
from .adagrad import AdaGrad
from .adam import Adam
from .gd import Descent, gd, minimize
from .rmsprop import RMSProp
from .sgd import SGD

Adagrad = AdaGrad
RMSprop = RMSProp

__all__ = [
    "COMPILE_MIN_NUMEL", "SGD", "AdaGrad", "Adagrad", "Adam", "Descent", "RMSProp",
    "RMSprop", "alternatives", "choose_form", "functional", "gd", "minimize",
]
