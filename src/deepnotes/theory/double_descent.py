"""Double descent: test error peaks when the number of parameters reaches the number of
samples, then falls again.

Three measurements:

- ``random_features_curve``: minimum-norm least squares on N random features
  φ(x) = (g(w_1ᵀx + b_1), …, g(w_Nᵀx + b_N)) (g = ReLU, or cos for random Fourier features),
  â = argmin { ‖a‖ : a minimizes ‖Φa − y‖² } = Φ⁺y, swept across N around the sample count n.
  At N = n the square system Φa = y is interpolated with the smallest singular value of Φ near
  zero, so ‖â‖ and the test error blow up; past it the minimum-norm interpolant gets smoother.
- ``ridgeless_risk`` / ``ridgeless_simulation``: the isotropic linear model y = xᵀa + ε,
  x ~ N(0, I_d), ε ~ N(0, σ²), ‖a‖ = r, min-norm least squares, γ = d/n (Hastie, Montanari,
  Rosset & Tibshirani 2019, "Surprises in high-dimensional ridgeless least squares
  interpolation", Thm 1 with Σ = I). The excess risk E(xᵀ(â − a))² = ‖â − a‖² tends to

      σ² γ / (1 − γ)                        for γ < 1,
      r² (1 − 1/γ) + σ² / (γ − 1)            for γ > 1.

- ``mlp_width_sweep``: MLPs of several widths trained on the same data (MNIST-1D with label
  noise in the experiment), all at once: each width's model is zero-padded to a common width
  and the padded models train as one ``StackedModules`` through ``engine.fit``. A zero-padded
  hidden unit is inert: its pre-activation is 0, ReLU(0) = 0 with ReLU'(0) = 0 in PyTorch, so
  the gradients of its incoming and outgoing weights are exactly zero and it stays zero under
  SGD, momentum, weight decay or Adam — the padded model computes, and trains, exactly like the
  narrow one (it starts from the narrow model's own initialization). Widths are grouped into
  buckets within a factor ``bucket_ratio`` of each other to bound the padding waste.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core import checks, linalg
from ..core.rng import RandomStreams, make_generator
from ..nn.models import MLP, count_parameters
from .bias_variance import Training, make_replicas, train_replicas

FEATURES = ("relu", "fourier")


# --------------------------------------------------------------------------------------------
# random features + minimum-norm least squares


@dataclass(frozen=True)
class RandomFeatures:
    """φ(x) = g(W x + b) / √N with W (N, d), b (N,); g = ReLU (``kind="relu"``) or
    √2 cos (``kind="fourier"``, random Fourier features of the Gaussian kernel)."""

    weight: torch.Tensor
    bias: torch.Tensor
    kind: str

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        checks.tensor(X, "X")
        if X.dim() == 0 or X.shape[-1] != self.weight.shape[1]:
            raise ValueError(f"X must have {self.weight.shape[1]} features (the map's d) in its "
                             f"last dimension, got shape {tuple(X.shape)}")
        z = X.to(self.weight.dtype) @ self.weight.T + self.bias
        g = torch.relu(z) if self.kind == "relu" else math.sqrt(2) * torch.cos(z)
        return g / math.sqrt(self.weight.shape[0])


def random_features(
    d: int, n_features: int, kind: str = "relu", *, bandwidth: float = 1.0,
    rng: torch.Generator | None = None, seed: int = 0, dtype=torch.float64,
) -> RandomFeatures:
    """Draw a random feature map R^d → R^N (see ``RandomFeatures``): w_k ~ N(0, I/(d·ℓ²)) with
    ℓ = ``bandwidth``; b_k ~ N(0, 1/(d·ℓ²)) for ReLU, U[0, 2π] for Fourier."""
    if kind not in FEATURES:
        raise ValueError(f"kind must be one of {FEATURES}, got {kind!r}")
    n_features = checks.positive_int(n_features, "n_features")
    d = checks.positive_int(d, "d")
    bandwidth = checks.positive_number(bandwidth, "bandwidth")
    rng = checks.generator(rng)
    rng = rng if rng is not None else make_generator(seed)
    scale = 1.0 / (math.sqrt(d) * bandwidth)
    weight = torch.randn(n_features, d, generator=rng, dtype=dtype) * scale
    if kind == "relu":
        bias = torch.randn(n_features, generator=rng, dtype=dtype) * scale
    else:
        bias = torch.rand(n_features, generator=rng, dtype=dtype) * 2 * math.pi
    return RandomFeatures(weight, bias, kind)


def min_norm_least_squares(Phi: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """â = Φ⁺ y: the least-squares solution of smallest norm (``core.linalg.least_squares``,
    SVD route: LAPACK gelsd); on an under-determined full-rank system it is the minimum-norm
    interpolant. Batched over leading dimensions: Φ (..., n, N), y (..., n) → â (..., N)."""
    return linalg.least_squares(Phi, y, method="svd").coef


def min_norm_full_rank(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Φ⁺Y for a well-conditioned Φ by the Gram route (batched Cholesky, much faster than SVD):
    (ΦᵀΦ)⁻¹ΦᵀY when n ≥ N, Φᵀ(ΦΦᵀ)⁻¹Y when n < N (the minimum-norm interpolant). Φ (..., n, N);
    Y (..., n) or several right-hand sides (..., n, k). ``core.linalg.least_squares`` with
    method "normal": raises ``core.linalg.IllConditionedError`` (a ValueError) where the Gram
    route would be inaccurate; ``min_norm_least_squares`` solves those."""
    return linalg.least_squares(X, Y, method="normal").coef


def random_features_curve(
    X_train: torch.Tensor, y_train: torch.Tensor, X_test: torch.Tensor, y_test: torch.Tensor,
    feature_counts: Sequence[int], *, kind: str = "relu", trials: int = 5,
    bandwidth: float = 1.0, seed: int = 0,
) -> dict[str, list[float]]:
    """Train and test MSE of min-norm least squares on N random features, for each N in
    ``feature_counts``, averaged over ``trials`` feature draws; also ‖â‖ (mean) and the test
    MSE's standard error over trials."""
    trials = checks.positive_int(trials, "trials")
    feature_counts = [checks.positive_int(N, "feature_counts") for N in feature_counts]
    checks.same_length(X_train, "X_train", y_train, "y_train")
    checks.same_length(X_test, "X_test", y_test, "y_test")
    checks.same_rows(X_test, "X_test", X_train, "X_train")
    rng = make_generator(seed)
    out = {"n_features": [], "train_mse": [], "test_mse": [], "test_mse_stderr": [],
           "coef_norm": []}
    X_train, X_test = X_train.double(), X_test.double()
    y_train, y_test = y_train.double(), y_test.double()
    for N in feature_counts:
        train, test, norm = [], [], []
        for _ in range(trials):
            phi = random_features(X_train.shape[1], int(N), kind, bandwidth=bandwidth,
                                  rng=rng)
            coef = min_norm_least_squares(phi(X_train), y_train)
            train.append(float(((phi(X_train) @ coef - y_train) ** 2).mean()))
            test.append(float(((phi(X_test) @ coef - y_test) ** 2).mean()))
            norm.append(float(coef.norm()))
        test_t = torch.tensor(test)
        out["n_features"].append(int(N))
        out["train_mse"].append(sum(train) / trials)
        out["test_mse"].append(float(test_t.mean()))
        out["test_mse_stderr"].append(float(test_t.std() / math.sqrt(trials)) if trials > 1
                                      else 0.0)
        out["coef_norm"].append(sum(norm) / trials)
    return out


# --------------------------------------------------------------------------------------------
# the ridgeless linear model


def ridgeless_risk(gamma: float, sigma2: float, r2: float) -> float:
    """Asymptotic excess risk of min-norm least squares, isotropic design, γ = d/n:
    σ²γ/(1 − γ) for γ < 1, r²(1 − 1/γ) + σ²/(γ − 1) for γ > 1 (∞ at γ = 1)."""
    gamma = checks.positive_number(gamma, "gamma")
    sigma2 = checks.nonnegative_number(sigma2, "sigma2")
    r2 = checks.nonnegative_number(r2, "r2")
    if gamma == 1:
        return math.inf
    if gamma < 1:
        return sigma2 * gamma / (1 - gamma)
    return r2 * (1 - 1 / gamma) + sigma2 / (gamma - 1)


def ridgeless_simulation(
    n: int, gammas: Sequence[float], *, sigma: float = 1.0, r: float = 1.0, trials: int = 20,
    draws: int = 16, seed: int = 0,
) -> dict[str, list[float]]:
    """Measured excess risk ‖â − a‖² of min-norm least squares (Σ = I so E(xᵀ(â − a))² =
    ‖â − a‖²) for d = round(γ n), a uniform on the sphere of radius r, with its standard error
    and the formula's value. ``trials`` designs X, each with ``draws`` independent (a, ε) pairs
    (several right-hand sides of one batched ``core.linalg.least_squares``: Cholesky on the Gram
    matrix, as a Gaussian design is well-conditioned away from γ = 1, the SVD otherwise); the
    standard error is over designs."""
    n = checks.positive_int(n, "n")
    trials = checks.positive_int(trials, "trials")
    draws = checks.positive_int(draws, "draws")
    sigma = checks.nonnegative_number(sigma, "sigma")
    r = checks.nonnegative_number(r, "r")
    gammas = [checks.positive_number(gamma, "gammas") for gamma in gammas]
    rng = make_generator(seed)
    out = {"gamma": [], "d": [], "excess_risk": [], "stderr": [], "formula": []}
    for gamma in gammas:
        d = max(1, round(gamma * n))
        X = torch.randn(trials, n, d, generator=rng, dtype=torch.float64)
        a = torch.randn(trials, d, draws, generator=rng, dtype=torch.float64)
        a = r * a / a.norm(dim=1, keepdim=True)
        Y = X @ a + sigma * torch.randn(trials, n, draws, generator=rng,
                                        dtype=torch.float64)
        excess = ((linalg.least_squares(X, Y).coef - a) ** 2).sum(1).mean(1)  # (trials,)
        out["gamma"].append(d / n)
        out["d"].append(d)
        out["excess_risk"].append(float(excess.mean()))
        out["stderr"].append(float(excess.std() / math.sqrt(trials)) if trials > 1 else 0.0)
        out["formula"].append(ridgeless_risk(d / n, sigma**2, r**2))
    return out


# --------------------------------------------------------------------------------------------
# MLP width sweep, vectorized over widths


def add_label_noise(y: torch.Tensor, fraction: float, n_classes: int, *,
                    rng: torch.Generator | None = None) -> torch.Tensor:
    """Replace each label, with probability ``fraction``, by a uniformly random class (which
    may equal the original, as in the MNIST-1D notebook)."""
    fraction = checks.probability(fraction, "fraction")
    n_classes = checks.int_at_least(n_classes, "n_classes", 2)
    checks.class_labels(y, "y", n_classes)
    rng = checks.generator(rng)
    flip = torch.rand(len(y), generator=rng) < fraction
    random = torch.randint(0, n_classes, (len(y),), generator=rng)
    return torch.where(flip, random, y)


def pad_mlp(model: MLP, width: int) -> MLP:
    """A copy of ``model`` (an ``MLP`` whose hidden layers share one width) widened to
    ``width`` hidden units per layer by zero rows/columns: same function, same training
    trajectory (the zero units are inert, see the module docstring)."""
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a deepnotes.nn.MLP, got {type(model).__name__}")
    width = checks.positive_int(width, "width")
    linears = [m for m in model if isinstance(m, nn.Linear)]
    widest = max((m.out_features for m in linears[:-1]), default=0)
    if width < widest:
        raise ValueError(f"width must be >= the model's hidden width {widest} (padding only "
                         f"widens), got {width}")
    sizes = [linears[0].in_features] + [width] * (len(linears) - 1) + [linears[-1].out_features]
    padded = MLP(sizes)
    padded = padded.to(linears[0].weight.dtype)
    with torch.no_grad():
        for small, big in zip(linears, [m for m in padded if isinstance(m, nn.Linear)],
                              strict=True):
            big.weight.zero_()
            big.bias.zero_()
            big.weight[: small.out_features, : small.in_features] = small.weight
            big.bias[: small.out_features] = small.bias
    return padded


def width_buckets(widths: Sequence[int], ratio: float = 2.0) -> list[list[int]]:
    """Group sorted widths so that each bucket's widest is < ``ratio`` × its narrowest."""
    ratio = checks.real(ratio, "ratio")
    if ratio < 1:
        raise ValueError(f"ratio must be >= 1, got {ratio}")
    widths = [checks.positive_int(w, "widths") for w in widths]
    buckets: list[list[int]] = []
    for w in sorted(widths, reverse=True):
        if buckets and buckets[-1][0] < ratio * w:
            buckets[-1].append(w)
        else:
            buckets.append([w])
    return [sorted(b) for b in reversed(buckets)]


def mlp_width_sweep(
    X_train: torch.Tensor, y_train: torch.Tensor, X_test: torch.Tensor, y_test: torch.Tensor,
    widths: Sequence[int], *, hidden_layers: int = 2, epochs: int = 500, lr: float = 0.01,
    momentum: float = 0.9, batch_size: int = 100, bucket_ratio: float = 2.0,
    vectorize: bool = True, device: str | torch.device = "auto", seed: int = 0, run=None,
) -> dict[str, list]:
    """Train one MLP per width (``hidden_layers`` layers of that width, ReLU, cross-entropy,
    SGD with momentum) on the same data; return per width the parameter count and the final
    train/test error (fraction misclassified) and loss.

    ``vectorize=True`` trains each bucket of widths at once as zero-padded replicas in one
    ``StackedModules`` (see the module docstring); ``vectorize=False`` one at a time. The
    model of width w is initialized by ``MLP`` under the stream seed of (``seed``, w), so both
    modes start from the same weights and see the same batches.
    """
    widths = sorted({checks.positive_int(w, "widths") for w in widths})
    checks.same_length(X_train, "X_train", y_train, "y_train")
    checks.same_length(X_test, "X_test", y_test, "y_test")
    checks.same_rows(X_test, "X_test", X_train, "X_train")
    if not widths:
        raise ValueError("widths must hold at least one positive int, got none")
    hidden_layers = checks.positive_int(hidden_layers, "hidden_layers")
    d, n_classes = X_train.shape[1], int(max(y_train.max(), y_test.max())) + 1
    training = Training(
        loss_fn=F.cross_entropy,
        optimizer=lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum),
        steps=None, epochs=epochs, batch_size=batch_size)
    sizes = {w: [d] + [w] * hidden_layers + [n_classes] for w in widths}
    width_seeds = RandomStreams(seed)
    models = {w: make_replicas(lambda s=sizes[w]: MLP(s), 1, width_seeds.seed(f"width-{w}"))[0]
              for w in widths}
    results = {}
    groups = width_buckets(widths, bucket_ratio) if vectorize else [[w] for w in widths]
    for group in groups:
        top = max(group)
        replicas = [pad_mlp(models[w], top) for w in group] if vectorize else \
            [models[group[0]]]
        predict = train_replicas(replicas, training, X_train, y_train, shared_data=True,
                                 vectorize=vectorize, device=device, seed=seed,
                                 name=f"widths-{group[0]}-{top}", run=run)
        for split, (X, y) in {"train": (X_train, y_train), "test": (X_test, y_test)}.items():
            logits = predict(X)  # (replicas, m, classes)
            for i, w in enumerate(group):
                entry = results.setdefault(w, {})
                entry[f"{split}_error"] = float((logits[i].argmax(1) != y).float().mean())
                entry[f"{split}_loss"] = float(F.cross_entropy(logits[i], y))
    return {
        "width": widths,
        "parameters": [count_parameters(models[w]) for w in widths],
        **{key: [results[w][key] for w in widths]
           for key in ("train_error", "test_error", "train_loss", "test_loss")},
    }
