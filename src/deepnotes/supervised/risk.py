"""Risk, empirical risk, and risk per group.

The risk of a predictor f is its expected loss under the test distribution,
R(f) = E_{x,y} L(f(x), y); the empirical risk is its sample mean
R̂(f) = (1/n) Σ_i L(f(x_i), y_i) (weighted: Σ w_i L_i / Σ w_i). ERM minimizes R̂ on the training
data, so a group that is rare in training contributes little to R̂ and its own risk
R_g(f) = E[L | group g] can stay large (the course: "biased toward the training data when a
group is underrepresented"). ``group_risk`` measures R_g on each group and the worst-group gap;
``inverse_frequency_weights`` gives the weights w_i = n / (G n_{g(i)}) that make every group
count equally in R̂.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

LOSSES = ("mse", "absolute", "0-1", "cross-entropy")


def pointwise_loss(loss: str | Callable, prediction, y) -> np.ndarray:
    """Per-example loss L(ŷ_i, y_i) as a NumPy array.

    ``loss``: ``"mse"`` (ŷ − y)², ``"absolute"`` |ŷ − y|, ``"0-1"`` 1[ŷ ≠ y] (ŷ labels),
    ``"cross-entropy"`` −log p̂(y) (``prediction`` = class probabilities (n, K) with the
    columns in label order 0..K−1), or a callable ``(prediction, y) -> per-example losses``.
    """
    prediction, y = _numpy(prediction), _numpy(y)
    if prediction.shape[:1] != y.shape[:1]:
        raise ValueError(f"y must hold one target per prediction: got {y.shape[:1] or 'a scalar'}"
                         f" targets for {prediction.shape[:1] or 'a scalar'} predictions")
    if callable(loss):
        values = _numpy(loss(prediction, y))
    elif loss == "mse":
        values = (prediction.reshape(y.shape) - y) ** 2
    elif loss == "absolute":
        values = np.abs(prediction.reshape(y.shape) - y)
    elif loss == "0-1":
        values = (prediction.reshape(y.shape) != y).astype(float)
    elif loss == "cross-entropy":
        if prediction.ndim != 2:
            raise ValueError("loss='cross-entropy' needs class probabilities of shape (n, K)")
        picked = prediction[np.arange(len(y)), y.astype(int)]
        values = -np.log(np.clip(picked, 1e-300, None))
    else:
        raise ValueError(f"loss must be one of {LOSSES} or a callable, got {loss!r}")
    if values.shape != (len(y),):
        raise ValueError(f"the loss must give one value per example, got shape {values.shape}")
    return values.astype(float)


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def predict_for_loss(model, X, loss: str | Callable):
    """What the loss compares with y: ``predict_proba`` for cross-entropy, ``predict``
    otherwise; a torch module's output (arg-max over classes for the 0-1 loss, softmax for
    cross-entropy)."""
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            out = model(torch.as_tensor(X))
        if loss == "cross-entropy":
            return torch.softmax(out, -1)
        if loss == "0-1" and out.dim() == 2 and out.shape[1] > 1:
            return out.argmax(1)
        return out.reshape(len(out), *out.shape[1:]).squeeze(-1) if out.dim() == 2 \
            and out.shape[1] == 1 else out
    if loss == "cross-entropy":
        return model.predict_proba(X)
    return model.predict(X)


def empirical_risk(model, X, y, loss: str | Callable = "mse", sample_weight=None) -> float:
    """R̂(f) = Σ_i w_i L(f(x_i), y_i) / Σ_i w_i (w = 1 by default): the mean loss on (X, y).

    ``model`` is a fitted estimator (``predict`` / ``predict_proba``) or a torch module.
    """
    values = pointwise_loss(loss, predict_for_loss(model, X, loss), y)
    if sample_weight is None:
        return float(values.mean())
    weights = _numpy(sample_weight).astype(float)
    if weights.shape != values.shape or (weights < 0).any():
        raise ValueError("sample_weight must be (n,) non-negative")
    return float((weights * values).sum() / weights.sum())


@dataclass(frozen=True)
class GroupRisk:
    """Per-group risk R_g = mean loss over the examples of group g, with the group sizes, the
    overall risk, and the worst-group gap = max_g R_g − min_g R_g."""

    groups: tuple
    counts: tuple[int, ...]
    risks: tuple[float, ...]
    overall: float

    @property
    def worst_group(self):
        return self.groups[int(np.argmax(self.risks))]

    @property
    def worst_risk(self) -> float:
        return float(max(self.risks))

    @property
    def gap(self) -> float:
        """max_g R_g − min_g R_g."""
        return float(max(self.risks) - min(self.risks))

    def table(self) -> list[dict]:
        """One row per group: ``{"group", "count", "risk"}``."""
        return [{"group": g, "count": c, "risk": r}
                for g, c, r in zip(self.groups, self.counts, self.risks, strict=True)]


def group_risk(model, X, y, groups, loss: str | Callable = "mse") -> GroupRisk:
    """R_g(f) = (1/n_g) Σ_{i: g_i = g} L(f(x_i), y_i) for every group g in ``groups``
    (one group label per example), plus the overall mean and the worst-group gap."""
    groups = _numpy(groups)
    y_arr = _numpy(y)
    if groups.shape != (len(y_arr),):
        raise ValueError(f"groups must have one label per example ({len(y_arr)}), got shape "
                         f"{groups.shape}")
    values = pointwise_loss(loss, predict_for_loss(model, X, loss), y_arr)
    names = np.unique(groups)
    counts = tuple(int((groups == g).sum()) for g in names)
    risks = tuple(float(values[groups == g].mean()) for g in names)
    return GroupRisk(tuple(names.tolist()), counts, risks, float(values.mean()))


def inverse_frequency_weights(groups) -> np.ndarray:
    """w_i = n / (G · n_{g(i)}): every group gets total weight n / G, the mean weight is 1."""
    groups = _numpy(groups)
    if groups.ndim != 1 or len(groups) == 0:
        raise ValueError("groups must be a non-empty 1-D array of group labels")
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return len(groups) / (len(names) * counts[inverse])
