"""Metrics for generators: mode coverage on 2-D mixtures, Fréchet distance on images.

Mode coverage (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018), with the true modes'
centers μ_k and per-coordinate standard deviation σ:

- a sample is **high quality** if its distance to the nearest mode center is at most 3σ;
- a mode is **captured** if it is the nearest mode of at least one high-quality sample;
- **reverse KL** = KL(p̂ ‖ uniform) = Σ_k p̂_k log(K p̂_k), where p̂ is the histogram over the K
  modes of the nearest-mode assignments of the high-quality samples (0 when every mode gets the
  same share, log K when all fall in one mode); undefined (None) without high-quality samples.

The papers draw 2,500 samples from the generator.

Fréchet distance (the FID recipe on a different network): fit Gaussians (μ₁, Σ₁), (μ₂, Σ₂) to
the features of two image sets and compute
d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2}).
The features here come from a small digits classifier that deepnotes trains once and caches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import nn

from ..core import checks
from ..data import cache_dir, digits
from ..engine import fit, load_checkpoint, resolve_device, save_checkpoint
from ..engine.checkpoint import CheckpointError

MODE_SAMPLES = 2500


@dataclass(frozen=True)
class ModeCoverage:
    """``modes`` captured (of ``total_modes``), ``high_quality`` fraction of samples in [0, 1],
    ``reverse_kl`` in nats (None when no sample is of high quality: p̂ is then undefined), and
    ``counts``: high-quality samples per mode."""

    modes: int
    total_modes: int
    high_quality: float
    reverse_kl: float | None
    counts: torch.Tensor

    def as_dict(self) -> dict[str, float | None]:
        return {"modes": self.modes, "high_quality": self.high_quality,
                "reverse_kl": self.reverse_kl}


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float,
                  threshold: float = 3.0) -> ModeCoverage:
    """Modes captured, fraction of high-quality samples and reverse KL (module docstring).

    ``samples`` (N×2), ``centers`` (K×2) the mode centers μ_k, ``std`` = σ, ``threshold`` = 3
    (high quality means ‖x − μ_nearest‖₂ ≤ threshold·σ).
    """
    checks.tensor(samples, "samples", ndim=2)
    if len(samples) == 0:
        raise ValueError("samples must hold at least one sample, got shape (0, d)")
    checks.tensor(centers, "centers", ndim=2)
    if centers.shape[1] != samples.shape[1]:
        raise ValueError(f"centers must be a (K, {samples.shape[1]}) tensor like the samples, got "
                         f"{tuple(centers.shape)}")
    std = checks.positive_number(std, "std")
    threshold = checks.positive_number(threshold, "threshold")
    samples = samples.detach().to(torch.float64).cpu()
    centers = centers.detach().to(torch.float64).cpu()
    finite = torch.isfinite(samples).all(dim=1)
    distances = torch.cdist(samples.nan_to_num(posinf=1e30, neginf=-1e30), centers)
    nearest_distance, nearest = distances.min(dim=1)
    good = finite & (nearest_distance <= threshold * std)
    counts = torch.bincount(nearest[good], minlength=len(centers))
    total = int(counts.sum())
    if total:
        share = counts.to(torch.float64) / total
        reverse_kl = float(torch.special.xlogy(share, share * len(centers)).sum())
    else:
        reverse_kl = None
    return ModeCoverage(int((counts > 0).sum()), len(centers), total / len(samples), reverse_kl,
                        counts)


# ---------------------------------------------------------------------------------------------
# Fréchet distance


def gaussian_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean μ and unbiased covariance Σ (float64) of the rows of ``features`` (N×d, N ≥ 2)."""
    if not isinstance(features, torch.Tensor) or features.dim() != 2 or len(features) < 2:
        raise ValueError(f"features must be an (N, d) tensor with N >= 2, got "
                         f"{getattr(features, 'shape', type(features).__name__)}")
    features = features.detach().to(torch.float64).cpu()
    if not torch.isfinite(features).all():
        raise ValueError("features contain NaN or Inf")
    return features.mean(dim=0), torch.cov(features.T).reshape(features.shape[1], -1)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(mean1: torch.Tensor, cov1: torch.Tensor, mean2: torch.Tensor,
                     cov2: torch.Tensor) -> float:
    """d² = ‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2 tr((Σ₁ Σ₂)^{1/2}).

    tr((Σ₁Σ₂)^{1/2}) is computed as tr((Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}) (same eigenvalues, and the
    inner matrix is symmetric positive semi-definite, so symmetric eigendecompositions suffice).
    """
    mean1, mean2 = (torch.as_tensor(m, dtype=torch.float64) for m in (mean1, mean2))
    cov1, cov2 = (torch.as_tensor(c, dtype=torch.float64) for c in (cov1, cov2))
    d = mean1.numel()
    if mean2.shape != mean1.shape or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"expected means of shape ({d},) and covariances ({d}, {d}); got "
                         f"{tuple(mean2.shape)}, {tuple(cov1.shape)}, {tuple(cov2.shape)}")
    for name, value in (("mean1", mean1), ("cov1", cov1), ("mean2", mean2), ("cov2", cov2)):
        if not torch.isfinite(value).all():
            raise ValueError(f"{name} contains NaN or Inf")
    root1 = _psd_sqrt(cov1)
    inner = root1 @ cov2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    value = ((mean1 - mean2) ** 2).sum() + cov1.trace() + cov2.trace() - 2 * trace_sqrt
    return float(value.clamp_min(0))


def frechet_distance_features(features1: torch.Tensor, features2: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N₁×d, N₂×d)."""
    return frechet_distance(*gaussian_statistics(features1), *gaussian_statistics(features2))


# ---------------------------------------------------------------------------------------------
# the digits feature network


class DigitsClassifier(nn.Module):
    """A small classifier for 8×8 digits (an MLP 64 → ``hidden`` → ``feature_dim`` → 10, ReLU);
    ``features(x)`` is the penultimate layer, the space in which the Fréchet distance is
    measured. An MLP rather than a conv net so that training it takes about a second on a CPU."""

    def __init__(self, hidden: int = 128, feature_dim: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(),
            nn.Linear(hidden, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


_CLASSIFIER_RECIPE = {"hidden": 128, "feature_dim": 64, "steps": 800, "batch_size": 64,
                      "lr": 2e-3, "seed": 0, "version": 2}


def digits_classifier(*, cache: bool = True,
                      device: str | torch.device = "cpu") -> DigitsClassifier:
    """The digits feature network, trained with ``engine.fit`` (Adam, fixed recipe, seed 0) on
    the digits training split and cached under ``data.cache_dir()`` (loaded with
    ``weights_only=True`` afterwards). Test accuracy is ≈ 97%."""
    recipe = _CLASSIFIER_RECIPE
    key = hashlib.sha256(repr(sorted(recipe.items())).encode()).hexdigest()[:16]
    path = cache_dir() / f"digits-classifier-{key}.pt"
    torch.manual_seed(recipe["seed"])
    model = DigitsClassifier(recipe["hidden"], recipe["feature_dim"])
    if cache and path.is_file():
        try:
            model.load_state_dict(load_checkpoint(path)["model"])
            return model.to(resolve_device(device)).eval()
        except (CheckpointError, KeyError, RuntimeError):
            pass  # stale or corrupt cache: retrain below and overwrite
    x_train, y_train = digits("train")
    fit(model, nn.functional.cross_entropy,
        torch.optim.Adam(model.parameters(), lr=recipe["lr"]), (x_train, y_train),
        steps=recipe["steps"], batch_size=recipe["batch_size"], log_every=recipe["steps"],
        device="cpu", seed=recipe["seed"], progress=False, name="digits-classifier")
    model = model.cpu()
    if cache:
        save_checkpoint(path, {"model": model.state_dict()})
    return model.to(resolve_device(device)).eval()


def classifier_features(classifier: DigitsClassifier, images: torch.Tensor,
                        batch_size: int = 1000) -> torch.Tensor:
    """Penultimate-layer features of ``images`` (N×1×8×8), in eval mode without gradients."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1:] != (1, 8, 8):
        raise ValueError(f"images must be an (N, 1, 8, 8) tensor, got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    device = next(classifier.parameters()).device
    classifier.eval()
    with torch.no_grad():
        return torch.cat([classifier.features(images[i:i + batch_size].to(device)).cpu()
                          for i in range(0, len(images), batch_size)])


def class_shares(classifier: DigitsClassifier, images: torch.Tensor,
                 batch_size: int = 1000) -> torch.Tensor:
    """The share of ``images`` (N×1×8×8) that ``classifier`` assigns to each of the 10 digits
    (a float64 tensor of 10 values summing to 1): a collapsed generator puts most of its mass
    on a few digits."""
    features = classifier_features(classifier, images, batch_size)
    with torch.no_grad():
        labels = classifier.head(features.to(next(classifier.parameters()).device)).argmax(1)
    return torch.bincount(labels.cpu(), minlength=10).to(torch.float64) / len(images)


def digits_frechet_distance(images1: torch.Tensor, images2: torch.Tensor,
                            classifier: DigitsClassifier | None = None) -> float:
    """Fréchet distance between two sets of 8×8 digit images in the classifier's feature space."""
    classifier = classifier if classifier is not None else digits_classifier()
    return frechet_distance_features(classifier_features(classifier, images1),
                                     classifier_features(classifier, images2))
