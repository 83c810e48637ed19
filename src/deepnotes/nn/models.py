"""Models of the course: MLP, CNN1d (MNIST-1D), CNN2d (any image size via global pooling).

Built from torch.nn layers (torch's convolution: our own ``nn.conv`` is the reference
implementation, not the fast path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
}


def make_activation(activation: str | Callable[[], nn.Module]) -> nn.Module:
    if callable(activation) and not isinstance(activation, str):
        return activation()
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)} or a factory, "
                         f"got {activation!r}")
    return _ACTIVATIONS[activation]()


class MLP(nn.Sequential):
    """Multilayer perceptron h_{l+1} = g(W_l h_l + b_l); no activation after the last layer.

    ``sizes`` = (input, hidden..., output), e.g. ``MLP([40, 100, 10])``; ``activation`` g is a
    name or a zero-argument factory; ``batch_norm`` inserts BatchNorm1d before each hidden
    activation. Inputs with more than 2 dimensions are flattened.
    """

    def __init__(self, sizes: Sequence[int], activation="relu", batch_norm: bool = False):
        sizes = list(sizes)
        if len(sizes) < 2 or any(not isinstance(s, int) or s <= 0 for s in sizes):
            raise ValueError(f"sizes must be >= 2 positive ints (input, ..., output), got {sizes}")
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(fan_out))
                layers.append(make_activation(activation))
        super().__init__(*layers)


class CNN1d(nn.Module):
    """The MNIST-1D paper's CNN: ``layers`` conv layers (``channels`` filters of size
    ``kernel_size``, stride ``stride``, padding 1, ReLU), flattened into a linear classifier
    (≈5k parameters at the defaults with length 40). Accepts (N, L) or (N, C, L)."""

    def __init__(self, length: int = 40, in_channels: int = 1, num_classes: int = 10,
                 channels: int = 25, kernel_size: int = 5, stride: int = 2, layers: int = 3):
        super().__init__()
        convs: list[nn.Module] = []
        size, fan_in = length, in_channels
        for _ in range(layers):
            convs += [nn.Conv1d(fan_in, channels, kernel_size, stride=stride, padding=1), nn.ReLU()]
            size = (size + 2 - kernel_size) // stride + 1
            fan_in = channels
        if size <= 0:
            raise ValueError(f"length={length} is too short for {layers} conv layers")
        self.features = nn.Sequential(*convs)
        self.classifier = nn.Linear(channels * size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.classifier(self.features(x).flatten(1))


class CNN2d(nn.Module):
    """Conv(3×3, padding 1) → [BatchNorm] → ReLU blocks, each but the first preceded by 2×2
    max-pooling when the map is large enough, then global average pooling and a linear layer,
    so any input size works. ``channels`` gives the filters per block."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 channels: Sequence[int] = (32, 64), batch_norm: bool = False):
        super().__init__()
        blocks: list[nn.Module] = []
        fan_in = in_channels
        for i, width in enumerate(channels):
            if i > 0:
                blocks.append(nn.MaxPool2d(2, ceil_mode=True))
            blocks.append(nn.Conv2d(fan_in, width, 3, padding=1))
            if batch_norm:
                blocks.append(nn.BatchNorm2d(width))
            blocks.append(nn.ReLU())
            fan_in = width
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(fan_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))
