"""Input checks the two estimators share, with scikit-learn's public helpers and messages.

``sample_weight`` follows scikit-learn's rules and wording (its own validator,
``sklearn.utils.validation._check_sample_weight``, is private): None means 1 for every
sample, a number means that number for every sample, anything else must be a 1-D array of
``n_samples`` finite numbers; negative weights and all-zero weights are refused before any
solver sees them (a negative weight made LAPACK's gelsd fail with an internal error).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_array

from ..core import checks


def sample_weight(value, n_samples: int) -> np.ndarray:
    """The validated weights as a float64 array of shape (n_samples,)."""
    if value is None:
        return np.ones(n_samples)
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        weights = np.full(n_samples, checks.real(value, "sample_weight"), dtype=np.float64)
    else:
        weights = check_array(value, ensure_2d=False, dtype=np.float64,
                              input_name="sample_weight")
        if weights.ndim != 1:
            raise ValueError(f"Sample weights must be 1D array or scalar, got {weights.ndim}D "
                             f"array. Expected either a scalar value or a 1D array of length "
                             f"{n_samples}.")
        if weights.shape != (n_samples,):
            raise ValueError(f"sample_weight.shape == {weights.shape}, expected "
                             f"{(n_samples,)}!")
    if (weights < 0).any():
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if not weights.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weights


def hyperparameters(estimator) -> None:
    """The parameters every estimator of this package has: ``fit_intercept`` (a bool),
    ``max_iter`` (a positive int), ``tol`` (a finite number ≥ 0)."""
    if not isinstance(estimator.fit_intercept, (bool, np.bool_)):
        raise TypeError(f"fit_intercept must be True or False, got {estimator.fit_intercept!r}")
    checks.positive_int(estimator.max_iter, "max_iter")
    checks.nonnegative_number(estimator.tol, "tol")
