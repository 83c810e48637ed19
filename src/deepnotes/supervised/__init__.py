"""Supervised learning: linear regression (Gaussian MLE = least squares), logistic and softmax
regression (cross-entropy = negative log-likelihood), and risk per group.

Functional cores (``least_squares``, ``newton``, ``gradient_descent``) with scikit-learn
estimators on top (``LinearRegression``, ``LogisticRegression``).
"""

from .linear import LinearRegression, gaussian_log_likelihood, gradient_descent, least_squares
from .logistic import LogisticRegression, cross_entropy_objective, newton
from .risk import (
    GroupRisk,
    empirical_risk,
    group_risk,
    inverse_frequency_weights,
    pointwise_loss,
)

__all__ = [
    "GroupRisk",
    "LinearRegression",
    "LogisticRegression",
    "cross_entropy_objective",
    "empirical_risk",
    "gaussian_log_likelihood",
    "gradient_descent",
    "group_risk",
    "inverse_frequency_weights",
    "least_squares",
    "newton",
    "pointwise_loss",
]
