"""Adversarial examples (course section 5).

Every attack has one shape: ``attack(model, x, y, *, eps, ..., targeted=False,
bounds=(0.0, 1.0), rng=None) -> x_adv``; the model takes inputs in ``bounds``
(normalization goes inside it: ``Normalize``).

| what | function |
|---|---|
| FGSM x + ε·sgn ∇ₓL | ``fgsm`` |
| PGD in L∞ / L2 balls, random start, restarts, CE or margin loss | ``pgd`` |
| Carlini–Wagner L2, batched binary search over c | ``carlini_wagner_l2`` (``..._search``) |
| adversarial patch with EOT | ``train_patch``, ``apply_patch``, ``EOT`` |
| transfer (black-box) | ``transfer_attack`` |
| adversarial training (Goodfellow, Madry) for ``engine.fit`` | ``AdversarialLoss`` |
"""

from .attacks import (
    Normalize,
    accuracy_under_attack,
    attack_mode,
    fgsm,
    margin,
    minimal_eps,
    pgd,
    predict,
    random_perturbation,
    success,
)
from .cw import CWResult, carlini_wagner_l2, carlini_wagner_l2_search
from .patch import EOT, PatchedModel, apply_patch, patch_fraction, train_patch
from .training import AdversarialLoss
from .transfer import TransferResult, success_rate, transfer_attack

__all__ = [
    "EOT", "AdversarialLoss", "CWResult", "Normalize", "PatchedModel", "TransferResult",
    "accuracy_under_attack", "apply_patch", "attack_mode", "carlini_wagner_l2",
    "carlini_wagner_l2_search", "fgsm", "margin", "minimal_eps", "patch_fraction", "pgd",
    "predict", "random_perturbation", "success", "success_rate", "train_patch",
    "transfer_attack",
]
