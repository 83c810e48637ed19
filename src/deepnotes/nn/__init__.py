"""Architectural elements: activations, softmax, convolution, receptive fields, batch norm,
models. Every piece is a plain function on tensors plus an ``nn.Module`` where one is expected.
"""

from . import activations, conv, functional, norm, receptive
from .activations import (
    AbsoluteRectification,
    LeakyReLU,
    Logistic,
    ParametricLeakyReLU,
    ReLU,
    Tanh,
)
from .conv import (
    Conv1d,
    Conv2d,
    convolution1d,
    convolution2d,
    cross_correlation1d,
    cross_correlation2d,
)
from .functional import log_softmax, logistic, nchw_to_nhwc, nhwc_to_nchw, softmax
from .models import (
    MLP,
    CNN1d,
    CNN2d,
    LocalizationCNN,
    build_seeded,
    count_parameters,
    make_activation,
    parameter_table,
)
from .norm import BatchNorm, BatchNorm1d, BatchNorm2d, batch_norm
from .receptive import filter_size_tradeoff, receptive_field, stack_parameters

__all__ = [
    "AbsoluteRectification", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "CNN1d", "CNN2d",
    "Conv1d", "Conv2d", "LeakyReLU", "LocalizationCNN", "Logistic", "MLP",
    "ParametricLeakyReLU", "ReLU", "Tanh",
    "activations", "batch_norm", "build_seeded", "conv", "convolution1d", "convolution2d",
    "count_parameters",
    "cross_correlation1d", "cross_correlation2d", "filter_size_tradeoff", "functional",
    "log_softmax", "logistic", "make_activation", "nchw_to_nhwc", "nhwc_to_nchw", "norm",
    "parameter_table", "receptive", "receptive_field", "softmax", "stack_parameters",
]
