"""Models of the course: MLP, CNN1d (MNIST-1D), CNN2d (any image size via global pooling),
LocalizationCNN (presence, box and class: classification with localization).

The layers are torch's fused built-ins by default (the fast path, and what other code expects:
``isinstance(m, nn.BatchNorm1d)``, double backward). Our own implementations — ``nn.conv``,
``nn.activations``, ``nn.norm``, equal to torch's in values and gradients (tests/nn) — drop in
through the factories: ``MLP(sizes, activation=nn.activations.Tanh,
batch_norm=nn.norm.BatchNorm1d)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..core import checks
from ..core.rng import check_seed
from .activations import make_activation

__all__ = [
    "CNN1d", "CNN2d", "MLP", "LocalizationCNN", "build_seeded", "count_parameters",
    "make_activation", "parameter_table",
]


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters of ``model``."""
    checks.module(model, "model")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def build_seeded(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``factory()`` with torch's global RNG seeded to ``seed`` (so the initialization is
    reproducible), leaving the caller's RNG state as it was."""
    seed = check_seed(seed)
    checks.function(factory, "factory", "factory() -> nn.Module")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


def parameter_table(model: nn.Module) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, count) of every trainable parameter of ``model``, in registration order."""
    checks.module(model, "model")
    return [(name, tuple(p.shape), p.numel()) for name, p in model.named_parameters()
            if p.requires_grad]


def _norm_layer(batch_norm, default: type[nn.Module], features: int) -> nn.Module:
    """``default(features)`` when ``batch_norm`` is True, else ``batch_norm(features)``."""
    if batch_norm is True:
        return default(features)
    if callable(batch_norm):
        layer = batch_norm(features)
        if not isinstance(layer, nn.Module):
            raise TypeError("batch_norm factory must return a torch.nn.Module")
        return layer
    raise TypeError(f"batch_norm must be a bool or a factory num_features -> module, "
                    f"got {batch_norm!r}")


class MLP(nn.Sequential):
    """Multilayer perceptron h_{l+1} = g(W_l h_l + b_l); no activation after the last layer.

    ``sizes`` = (input, hidden..., output), e.g. ``MLP([40, 100, 10])``; ``activation`` g is a
    name from ``nn.activations.ACTIVATIONS`` ("relu", "abs", "leaky_relu", "prelu" — one learned
    slope per unit —, "tanh", "logistic"; torch's built-in layers) or a zero-argument factory
    (e.g. ``nn.activations.Tanh`` for ours); ``batch_norm`` inserts batch norm before each
    hidden activation (as the course: "before the activation"): True for
    ``torch.nn.BatchNorm1d``, or a factory ``num_features -> module`` such as our
    ``nn.norm.BatchNorm1d``. Inputs with more than 2 dimensions are flattened.
    """

    def __init__(self, sizes: Sequence[int], activation="relu",
                 batch_norm: bool | Callable[[int], nn.Module] = False):
        sizes = [checks.positive_int(s, "sizes") for s in checks.sequence(sizes, "sizes")]
        if len(sizes) < 2:
            raise ValueError(f"sizes must be >= 2 positive ints (input, ..., output), got {sizes}")
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2:
                if batch_norm:
                    layers.append(_norm_layer(batch_norm, nn.BatchNorm1d, fan_out))
                layers.append(make_activation(activation, fan_out, implementation="torch"))
        super().__init__(*layers)


class CNN1d(nn.Module):
    """The MNIST-1D paper's CNN (Greydanus 2020, ``ConvBase``): conv layers of ``channels``
    filters with stride ``stride`` and padding ``padding``, each followed by ReLU, flattened into
    a linear classifier.

    Defaults are the paper's: 3 layers of 25 channels, kernels (5, 3, 3), stride 2, padding 1;
    on length 40 the maps are 19 → 10 → 5 long, so the classifier sees 25·5 = 125 features and
    the model has 5,210 parameters. ``kernel_size`` is one int (every layer; ``layers`` of them,
    default 3) or one per layer. Accepts (N, L) or (N, C, L).
    """

    def __init__(self, length: int = 40, in_channels: int = 1, num_classes: int = 10,
                 channels: int = 25, kernel_size: int | Sequence[int] = (5, 3, 3),
                 stride: int = 2, layers: int | None = None, padding: int = 1):
        super().__init__()
        layers = None if layers is None else checks.positive_int(layers, "layers")
        if isinstance(kernel_size, Sequence):
            kernels = [checks.positive_int(k, "kernel_size") for k in kernel_size]
            if layers is not None and layers != len(kernels):
                raise ValueError(f"layers={layers} but kernel_size gives {len(kernels)} kernels")
        else:
            kernels = [checks.positive_int(kernel_size, "kernel_size")] * (layers or 3)
        if not kernels:
            raise ValueError(f"kernel_size must be a positive int or ints, got {kernel_size!r}")
        length = checks.positive_int(length, "length")
        in_channels = checks.positive_int(in_channels, "in_channels")
        num_classes = checks.positive_int(num_classes, "num_classes")
        channels = checks.positive_int(channels, "channels")
        stride = checks.positive_int(stride, "stride")
        padding = checks.nonnegative_int(padding, "padding")
        convs: list[nn.Module] = []
        size, fan_in = length, in_channels
        for kernel in kernels:
            convs += [nn.Conv1d(fan_in, channels, kernel, stride=stride, padding=padding),
                      nn.ReLU()]
            size = (size + 2 * padding - kernel) // stride + 1
            if size <= 0:
                raise ValueError(f"length={length} is too short for kernels {kernels} with "
                                 f"stride {stride}")
            fan_in = channels
        self.in_channels = in_channels
        self.features = nn.Sequential(*convs)
        self.classifier = nn.Linear(channels * size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and self.in_channels == 1:
            x = x.unsqueeze(1)
        return self.classifier(self.features(x).flatten(1))


def _conv_trunk(in_channels: int, channels: Sequence[int],
                batch_norm: bool | Callable[[int], nn.Module]) -> tuple[nn.Sequential, int]:
    """The convolutional blocks of ``CNN2d`` and ``LocalizationCNN``: Conv(3×3, padding 1) →
    [BatchNorm] → ReLU per width in ``channels``, each block but the first preceded by 2×2
    max-pooling (ceil mode, so an odd side rounds up). Returns the blocks and the last width."""
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence):
        raise TypeError(f"channels must be a sequence of block widths, got {channels!r}")
    channels = [checks.positive_int(c, "channels") for c in channels]
    if not channels:
        raise ValueError("channels must list at least one block width, got none")
    blocks: list[nn.Module] = []
    fan_in = in_channels
    for i, width in enumerate(channels):
        if i > 0:
            blocks.append(nn.MaxPool2d(2, ceil_mode=True))
        blocks.append(nn.Conv2d(fan_in, width, 3, padding=1))
        if batch_norm:
            blocks.append(_norm_layer(batch_norm, nn.BatchNorm2d, width))
        blocks.append(nn.ReLU())
        fan_in = width
    return nn.Sequential(*blocks), fan_in


class CNN2d(nn.Module):
    """Conv(3×3, padding 1) → [BatchNorm] → ReLU blocks, each but the first preceded by 2×2
    max-pooling when the map is large enough, then global average pooling and a linear layer,
    so any input size works. ``channels`` gives the filters per block; ``batch_norm`` is True
    (``torch.nn.BatchNorm2d``) or a factory ``num_features -> module`` (our
    ``nn.norm.BatchNorm2d``)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 channels: Sequence[int] = (32, 64),
                 batch_norm: bool | Callable[[int], nn.Module] = False):
        super().__init__()
        in_channels = checks.positive_int(in_channels, "in_channels")
        num_classes = checks.positive_int(num_classes, "num_classes")
        self.features, width = _conv_trunk(in_channels, channels, batch_norm)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


class LocalizationCNN(nn.Module):
    """A CNN for classification with localization: 1 + 4 + k outputs per image,

        (z, b̂_x, b̂_y, b̂_w, b̂_h, s_1, ..., s_k)

    the presence logit z (p̂_c = σ(z)), the box (centre and size, normalized by the image side,
    as ``data.shapes``) and the class logits s (ĉ = softmax(s)) — the layout
    ``losses.localization_loss`` takes.

    Trunk: ``CNN2d``'s blocks (``channels``, ``batch_norm``; 2×2 max-pooling between blocks).
    Head: the last feature map *flattened*, then Linear → ReLU (``hidden`` units) → Linear.
    Not ``CNN2d``'s global average pooling: averaging over positions throws away where a
    feature fired, and the box (b_x, b_y) is precisely a position. Flattening keeps one weight
    per (channel, row, column), so the head can read off where the object is; the price is a
    fixed input size, ``image_size`` (an int for square images or (height, width)), checked in
    ``forward``. With the defaults on 32×32 images the last map is 32×8×8 (2,048 features).

    The box outputs are unconstrained (the mean of the Gaussian box model, so the square loss
    is exactly its negative log-likelihood); ``vision.decode_localization`` clips sizes to ≥ 0.
    ``num_outputs`` = 5 + ``num_classes``.
    """

    def __init__(self, image_size: int | Sequence[int] = 32, in_channels: int = 1,
                 num_classes: int = 3, channels: Sequence[int] = (16, 32, 32),
                 hidden: int = 64, batch_norm: bool | Callable[[int], nn.Module] = False):
        super().__init__()
        if isinstance(image_size, Sequence) and not isinstance(image_size, str):
            if len(image_size) != 2:
                raise ValueError(f"image_size must be an int or (height, width), got "
                                 f"{image_size!r}")
            height, width = (checks.positive_int(s, "image_size") for s in image_size)
        else:
            height = width = checks.positive_int(image_size, "image_size")
        in_channels = checks.positive_int(in_channels, "in_channels")
        self.num_classes = checks.positive_int(num_classes, "num_classes")
        hidden = checks.positive_int(hidden, "hidden")
        self.features, last = _conv_trunk(in_channels, channels, batch_norm)
        self.image_size = (height, width)
        self.in_channels = in_channels
        self.num_outputs = 5 + self.num_classes
        rows, cols = height, width
        for _ in range(sum(isinstance(m, nn.MaxPool2d) for m in self.features)):
            rows, cols = -(-rows // 2), -(-cols // 2)  # ceil mode
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(last * rows * cols, hidden), nn.ReLU(),
                                  nn.Linear(hidden, self.num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[2:]) != \
                self.image_size:
            raise ValueError(f"x must have shape (N, {self.in_channels}, {self.image_size[0]}, "
                             f"{self.image_size[1]}) (the image_size the model was built for), "
                             f"got {tuple(x.shape)}")
        return self.head(self.features(x))
