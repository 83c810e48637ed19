"""Continual-learning metrics on the accuracy matrix.

R is T×T: R[i, j] = accuracy on task j's test set after training on tasks 0..i (row i is
measured right after task i). With the final row R[T−1, ·]:

- average accuracy (Lopez-Paz & Ranzato 2017, "ACC"):  ACC = (1/T) Σ_j R[T−1, j];
- forgetting of task j < T−1 (Chaudhry et al. 2018, "Riemannian walk", eq. 3):
      f_j = max_{l ∈ {0..T−2}} R[l, j] − R[T−1, j],
  the drop from the best accuracy it had before the last task to the final one; average
  forgetting = mean of f_j over j = 0..T−2;
- backward transfer (Lopez-Paz & Ranzato 2017):  BWT = 1/(T−1) Σ_{j=0}^{T−2} (R[T−1, j] − R[j, j])
  (negative = forgetting);
- forward transfer (Lopez-Paz & Ranzato 2017):  FWT = 1/(T−1) Σ_{j=1}^{T−1} (R[j−1, j] − b_j),
  with b_j the accuracy on task j of the model at random initialization (``baseline``).

Accuracies may be fractions or percentages; the metrics are in the same unit.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["average_accuracy", "average_forgetting", "backward_transfer",
           "check_accuracy_matrix", "forgetting", "forward_transfer"]


def check_accuracy_matrix(R, name: str = "R", *, min_tasks: int = 1) -> Tensor:
    """``R`` as a float64 T×T tensor with finite entries and T ≥ ``min_tasks`` (nested lists,
    arrays and tensors are accepted); ValueError/TypeError naming ``name`` otherwise."""
    try:
        matrix = torch.as_tensor(R, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a T×T matrix of accuracies (tensor, array or nested "
                        f"lists), got {type(R).__name__}") from err
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square T×T matrix, got shape {tuple(matrix.shape)}")
    if matrix.shape[0] < min_tasks:
        raise ValueError(f"{name} must cover at least {min_tasks} task(s), got "
                         f"{matrix.shape[0]}")
    if not bool(torch.isfinite(matrix).all()):
        raise ValueError(f"{name} holds NaN or infinite entries")
    return matrix


def average_accuracy(R) -> float:
    """ACC = (1/T) Σ_j R[T−1, j]: mean final accuracy over all tasks."""
    matrix = check_accuracy_matrix(R)
    return float(matrix[-1].mean())


def forgetting(R) -> Tensor:
    """Per-task forgetting f_j = max_{l ≤ T−2} R[l, j] − R[T−1, j] for j = 0..T−2 (length T−1,
    float64); needs T ≥ 2."""
    matrix = check_accuracy_matrix(R, min_tasks=2)
    return matrix[:-1, :-1].max(dim=0).values - matrix[-1, :-1]


def average_forgetting(R) -> float:
    """Mean of ``forgetting(R)`` over tasks 0..T−2."""
    return float(forgetting(R).mean())


def backward_transfer(R) -> float:
    """BWT = 1/(T−1) Σ_{j<T−1} (R[T−1, j] − R[j, j]); needs T ≥ 2."""
    matrix = check_accuracy_matrix(R, min_tasks=2)
    return float((matrix[-1, :-1] - matrix.diagonal()[:-1]).mean())


def forward_transfer(R, baseline) -> float:
    """FWT = 1/(T−1) Σ_{j≥1} (R[j−1, j] − b_j) with b = ``baseline`` (length T: each task's
    accuracy at random initialization; b_0 is not used); needs T ≥ 2."""
    matrix = check_accuracy_matrix(R, min_tasks=2)
    try:
        b = torch.as_tensor(baseline, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"baseline must be a vector of T accuracies, got "
                        f"{type(baseline).__name__}") from err
    T = matrix.shape[0]
    if b.shape != (T,):
        raise ValueError(f"baseline must hold one accuracy per task ({T}), got shape "
                         f"{tuple(b.shape)}")
    if not bool(torch.isfinite(b).all()):
        raise ValueError("baseline holds NaN or infinite entries")
    return float((matrix.diagonal(offset=1) - b[1:]).mean())
