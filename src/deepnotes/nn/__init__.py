"""Architectural elements: activations, softmax, convolution, batch norm, models."""

from .models import CNN1d, CNN2d, MLP, count_parameters

__all__ = ["CNN1d", "CNN2d", "MLP", "count_parameters"]
