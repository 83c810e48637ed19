"""GAN theory on 1-D grids (against scipy) and the mode-coverage / Fréchet metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepnotes import data
from deepnotes.generative import metrics as M
from deepnotes.generative import theory as T

GRID = torch.linspace(-8, 8, 4001, dtype=torch.float64)
DX = float(GRID[1] - GRID[0])


def test_gaussian_density_matches_scipy():
    from scipy.stats import norm

    values = T.gaussian_density(GRID, 0.5, 1.7)
    np.testing.assert_allclose(values.numpy(), norm.pdf(GRID.numpy(), 0.5, 1.7), rtol=1e-12)


def test_optimal_discriminator_maximizes_the_value_function():
    p_d = T.mixture_density(GRID, [-2.0, 1.5], [0.5, 0.8])
    p_g = T.gaussian_density(GRID, 0.5, 1.2)
    d_star = T.optimal_discriminator(p_d, p_g)
    torch.testing.assert_close(d_star, p_d / (p_d + p_g))
    best = T.value_function(d_star, p_d, p_g, DX)
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        bump = 0.2 * torch.rand(GRID.shape, generator=generator, dtype=torch.float64) - 0.1
        other = (d_star + bump).clamp(1e-6, 1 - 1e-6)
        assert T.value_function(other, p_d, p_g, DX) < best


def test_virtual_training_criterion_is_minus_log4_plus_twice_jsd():
    from scipy.spatial.distance import jensenshannon

    p_d = T.mixture_density(GRID, [-2.0, 1.5], [0.5, 0.8])
    p_g = T.gaussian_density(GRID, 0.5, 1.2)
    c = T.virtual_training_criterion(p_d, p_g, DX).item()
    jsd = T.jensen_shannon_divergence(p_d, p_g, DX).item()
    # scipy returns the Jensen-Shannon *distance* sqrt(JSD) of the normalized vectors
    jsd_scipy = jensenshannon(p_d.numpy(), p_g.numpy()) ** 2
    assert jsd == pytest.approx(jsd_scipy, rel=1e-6)
    assert c == pytest.approx(-math.log(4) + 2 * jsd, abs=1e-9)
    # the global minimum −log 4 is reached at p_g = p_d
    assert T.virtual_training_criterion(p_d, p_d, DX).item() == pytest.approx(-math.log(4),
                                                                              abs=1e-6)


def test_theory_refuses_bad_input():
    with pytest.raises(ValueError, match="p_g"):
        T.optimal_discriminator(torch.ones(3), -torch.ones(3))
    with pytest.raises(ValueError, match="same shape"):
        T.optimal_discriminator(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="dx"):
        T.virtual_training_criterion(torch.ones(3), torch.ones(3), 0)
    with pytest.raises(ValueError, match="discriminator"):
        T.value_function(torch.full((3,), 1.5), torch.ones(3), torch.ones(3), 0.1)


def test_mode_coverage_of_real_ring_samples():
    ring = data.mixture_ring(M.MODE_SAMPLES, seed=3)
    coverage = M.mode_coverage(ring.samples, ring.centers, ring.std)
    assert coverage.modes == 8 and coverage.total_modes == 8
    # P(‖N(0, σ²I₂)‖ ≤ 3σ) = 1 − exp(−9/2) (Rayleigh); allow 4 binomial standard errors
    p = 1 - math.exp(-4.5)
    assert abs(coverage.high_quality - p) < 4 * math.sqrt(p * (1 - p) / M.MODE_SAMPLES)
    assert coverage.reverse_kl < 0.01
    assert int(coverage.counts.sum()) == round(coverage.high_quality * M.MODE_SAMPLES)


def test_mode_coverage_of_a_collapsed_generator_and_of_the_grid():
    grid = data.mixture_grid(M.MODE_SAMPLES, seed=1)
    assert M.mode_coverage(grid.samples, grid.centers, grid.std).modes == 25
    collapsed = grid.centers[7].repeat(100, 1) + 0.01
    coverage = M.mode_coverage(collapsed, grid.centers, grid.std)
    assert (coverage.modes, coverage.high_quality) == (1, 1.0)
    assert coverage.reverse_kl == pytest.approx(math.log(25))


def test_mode_coverage_by_hand():
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    samples = torch.tensor([[0.02, 0.0], [0.0, 0.029], [1.0, 0.031], [0.5, 0.5], [0.0, 0.99]])
    coverage = M.mode_coverage(samples, centers, std=0.01)
    # high quality: within 0.03 of the nearest center → samples 0, 1, 4
    assert coverage.high_quality == pytest.approx(3 / 5)
    assert coverage.modes == 2
    assert coverage.counts.tolist() == [2, 0, 1]
    share = torch.tensor([2 / 3, 1 / 3], dtype=torch.float64)
    assert coverage.reverse_kl == pytest.approx(float((share * (share * 3).log()).sum()))


def test_mode_coverage_without_high_quality_samples_has_no_reverse_kl():
    """p̂ is undefined without high-quality samples: reverse KL is None (never NaN), and the
    counts are all zero."""
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    coverage = M.mode_coverage(torch.tensor([[0.5, 0.5], [3.0, 3.0]]), centers, std=0.01)
    assert (coverage.modes, coverage.high_quality, coverage.reverse_kl) == (0, 0.0, None)
    assert coverage.counts.tolist() == [0, 0]
    assert coverage.as_dict() == {"modes": 0, "high_quality": 0.0, "reverse_kl": None}


def test_mode_coverage_threshold_is_in_units_of_std():
    centers = torch.tensor([[0.0, 0.0]])
    samples = torch.tensor([[0.025, 0.0], [0.035, 0.0]])
    assert M.mode_coverage(samples, centers, std=0.01).high_quality == 0.5  # 3σ = 0.03
    assert M.mode_coverage(samples, centers, std=0.01, threshold=4.0).high_quality == 1.0


def test_mode_coverage_refuses_bad_input():
    with pytest.raises(ValueError, match="centers"):
        M.mode_coverage(torch.zeros(5, 2), torch.zeros(3, 3), 0.1)
    with pytest.raises(ValueError, match="std"):
        M.mode_coverage(torch.zeros(5, 2), torch.zeros(3, 2), 0)
    with pytest.raises(ValueError, match="samples"):
        M.mode_coverage(torch.zeros(5), torch.zeros(3, 2), 0.1)
    with pytest.raises(ValueError, match="samples"):
        M.mode_coverage(torch.zeros(0, 2), torch.zeros(3, 2), 0.1)
    with pytest.raises(TypeError, match="samples"):
        M.mode_coverage([[0.0, 0.0]], torch.zeros(3, 2), 0.1)
    with pytest.raises(ValueError, match="threshold"):
        M.mode_coverage(torch.zeros(5, 2), torch.zeros(3, 2), 0.1, threshold=-1)


def test_frechet_distance_matches_scipy_sqrtm():
    from scipy.linalg import sqrtm

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(5, 5, generator=generator, dtype=torch.float64)
    b = torch.randn(5, 5, generator=generator, dtype=torch.float64)
    cov1, cov2 = a @ a.T + 0.1 * torch.eye(5), b @ b.T
    mean1 = torch.randn(5, generator=generator, dtype=torch.float64)
    mean2 = torch.randn(5, generator=generator, dtype=torch.float64)
    ours = M.frechet_distance(mean1, cov1, mean2, cov2)
    c1, c2 = cov1.numpy(), cov2.numpy()
    reference = (((mean1 - mean2) ** 2).sum().item() + np.trace(c1) + np.trace(c2)
                 - 2 * np.trace(sqrtm(c1 @ c2)).real)
    assert ours == pytest.approx(reference, rel=1e-8)


def test_frechet_distance_one_dimensional_closed_form_and_zero():
    # d² between N(μ₁, σ₁²) and N(μ₂, σ₂²) is (μ₁ − μ₂)² + (σ₁ − σ₂)²
    value = M.frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-1.0]),
                               torch.tensor([[1.0]]))
    assert value == pytest.approx(4.0 + 1.0)
    features = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    assert M.frechet_distance_features(features, features) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="features"):
        M.gaussian_statistics(torch.zeros(1, 3))


def test_class_shares_count_the_classifier_labels():
    """Shares are the fraction of images per predicted digit: a head that always answers 3
    gives all mass to 3; one that answers by the image's mean brightness splits it."""
    torch.manual_seed(0)
    classifier = M.DigitsClassifier(hidden=8, feature_dim=4)
    with torch.no_grad():
        classifier.head.weight.zero_()
        classifier.head.bias.zero_()
        classifier.head.bias[3] = 1.0
    images = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    shares = M.class_shares(classifier, images)
    assert shares.dtype == torch.float64 and shares.shape == (10,)
    assert shares.tolist() == [0, 0, 0, 1.0, 0, 0, 0, 0, 0, 0]
    # labels 0 or 9 by a feature's sign: the shares are the label counts over 5 images
    with torch.no_grad():
        classifier.body[1].weight.fill_(1.0)  # hidden units = sum of pixels + bias
        classifier.body[1].bias.fill_(-32.0)  # positive iff the image's total exceeds 32
        classifier.body[3].weight.fill_(1.0)
        classifier.body[3].bias.zero_()
        classifier.head.bias.zero_()
        classifier.head.weight.zero_()
        classifier.head.weight[9, 0] = 1.0
        classifier.head.bias[0] = 0.5
    bright, dark = torch.ones(2, 1, 8, 8), torch.zeros(3, 1, 8, 8)
    shares = M.class_shares(classifier, torch.cat([bright, dark]))
    torch.testing.assert_close(shares, torch.tensor([0.6] + [0.0] * 8 + [0.4],
                                                    dtype=torch.float64))


@pytest.mark.slow
def test_digits_classifier_is_accurate_and_its_real_vs_real_distance_is_small(tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("DEEPNOTES_CACHE", str(tmp_path))
    classifier = M.digits_classifier()
    x_test, y_test = data.digits("test")
    with torch.no_grad():
        accuracy = (classifier(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.9
    x_train, _ = data.digits("train")
    real = M.digits_frechet_distance(x_train, x_test, classifier)
    noise = M.digits_frechet_distance(torch.rand(450, 1, 8, 8), x_test, classifier)
    assert real < noise / 10
    assert any(tmp_path.iterdir())  # cached
    shares = M.class_shares(classifier, x_test)
    assert shares.sum().item() == pytest.approx(1.0) and (shares >= 0.05).all()
