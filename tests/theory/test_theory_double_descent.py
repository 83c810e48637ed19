"""Double descent pieces: min-norm solutions vs pinv, the ridgeless formula, zero-padded MLPs."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepnotes.engine import cpu_threads
from deepnotes.nn.models import MLP
from deepnotes.theory import (
    add_label_noise,
    min_norm_full_rank,
    min_norm_least_squares,
    mlp_width_sweep,
    pad_mlp,
    random_features,
    random_features_curve,
    ridgeless_risk,
    ridgeless_simulation,
    width_buckets,
)


def test_min_norm_solutions_equal_pinv():
    generator = torch.Generator().manual_seed(0)
    for n, N in ((10, 30), (30, 10)):
        Phi = torch.randn(3, n, N, generator=generator, dtype=torch.float64)
        y = torch.randn(3, n, generator=generator, dtype=torch.float64)
        reference = (torch.linalg.pinv(Phi) @ y.unsqueeze(-1)).squeeze(-1)
        torch.testing.assert_close(min_norm_least_squares(Phi, y), reference)
        torch.testing.assert_close(min_norm_full_rank(Phi, y), reference)


def test_ridgeless_formula_values_and_simulation():
    assert ridgeless_risk(0.5, 1.0, 1.0) == pytest.approx(1.0)        # σ²γ/(1−γ)
    assert ridgeless_risk(2.0, 1.0, 1.0) == pytest.approx(0.5 + 1.0)  # r²(1−1/γ) + σ²/(γ−1)
    assert math.isinf(ridgeless_risk(1.0, 1.0, 1.0))
    with cpu_threads(1):
        sim = ridgeless_simulation(200, (0.3, 2.0), trials=30, draws=8, seed=0)
    measured, formula = np.array(sim["excess_risk"]), np.array(sim["formula"])
    assert np.all(np.abs(measured - formula) / formula < 0.05)


def test_random_features_peak_at_interpolation_threshold():
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(40, 3, generator=generator, dtype=torch.float64)
    y = torch.sin(X[:, 0]) + 0.5 * torch.randn(40, generator=generator, dtype=torch.float64)
    Xt = torch.randn(500, 3, generator=generator, dtype=torch.float64)
    yt = torch.sin(Xt[:, 0])
    with cpu_threads(1):
        curve = random_features_curve(X, y, Xt, yt, [8, 20, 40, 80, 400], trials=5, seed=0)
    test = curve["test_mse"]
    assert int(np.argmax(test)) == 2  # N = n = 40
    assert curve["train_mse"][3] < 1e-20  # over-parameterized: interpolates
    assert test[-1] < test[2]


def test_fourier_features_are_cosines():
    phi = random_features(2, 5, "fourier", seed=0)
    x = torch.randn(4, 2, dtype=torch.float64)
    expected = math.sqrt(2 / 5) * torch.cos(x @ phi.weight.T + phi.bias)
    torch.testing.assert_close(phi(x), expected)


def test_padded_mlp_computes_and_trains_like_the_narrow_one():
    torch.manual_seed(0)
    narrow = MLP([5, 3, 3, 4]).double()
    wide = pad_mlp(narrow, 8)
    x = torch.randn(16, 5, dtype=torch.float64)
    y = torch.randint(0, 4, (16,))
    torch.testing.assert_close(wide(x), narrow(x))
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (narrow, wide)]
    for _ in range(5):
        for model, opt in zip((narrow, wide), optimizers, strict=True):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    torch.testing.assert_close(wide(x), narrow(x))
    assert float(wide[1].weight.detach()[3:].abs().max()) == 0.0  # padded units stay zero


def test_width_sweep_vectorized_equals_one_at_a_time():
    generator = torch.Generator().manual_seed(2)
    X = torch.randn(60, 6, generator=generator)
    y = torch.randint(0, 3, (60,), generator=generator)
    with cpu_threads(1):
        runs = [mlp_width_sweep(X, y, X[:20], y[:20], [2, 3, 5], epochs=3, lr=0.05,
                                batch_size=20, vectorize=v, device="cpu", seed=0)
                for v in (True, False)]
    assert runs[0]["parameters"] == [6 * 2 + 2 + 2 * 2 + 2 + 2 * 3 + 3, 6 * 3 + 3 + 9 + 3 + 9 + 3,
                                     6 * 5 + 5 + 25 + 5 + 15 + 3]
    np.testing.assert_allclose(runs[0]["train_loss"], runs[1]["train_loss"], rtol=1e-4)
    assert runs[0]["test_error"] == runs[1]["test_error"]


def test_helpers_and_bad_input():
    assert width_buckets([2, 3, 5, 9, 16]) == [[2], [3, 5], [9, 16]]  # widest < 2 × narrowest
    generator = torch.Generator().manual_seed(0)
    y = torch.zeros(10_000, dtype=torch.long)
    noisy = add_label_noise(y, 0.15, 10, rng=generator)
    assert float((noisy != y).float().mean()) == pytest.approx(0.15 * 0.9, abs=0.02)
    with pytest.raises(ValueError, match="kind"):
        random_features(2, 3, "poly")
    with pytest.raises(ValueError, match="gamma"):
        ridgeless_risk(0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="fraction"):
        add_label_noise(y, 1.5, 10, rng=generator)
