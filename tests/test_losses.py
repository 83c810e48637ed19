"""The likelihood losses: the identities the section-1 experiments report as metrics (NLL = CE,
Gaussian NLL = scaled square loss + constant), against independent references."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import norm

from deepnotes.losses import bernoulli_nll, gaussian_nll


def test_bernoulli_nll_is_the_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(200, generator=generator, dtype=torch.float64)
    y = (torch.rand(200, generator=generator, dtype=torch.float64) < 0.4).double()
    p = 1 / (1 + np.exp(-logits.numpy()))
    plain = -np.mean(y.numpy() * np.log(p) + (1 - y.numpy()) * np.log(1 - p))  # −(1/n) log L
    assert float(bernoulli_nll(logits, y)) == pytest.approx(plain, rel=1e-12)
    assert float(bernoulli_nll(logits, y)) == pytest.approx(
        float(F.binary_cross_entropy_with_logits(logits, y)), rel=1e-12)
    # stable where σ(z) rounds to 0 or 1: −log σ(−40) = 40 + log(1 + e^−40)
    extreme = torch.tensor([40.0, -40.0], dtype=torch.float64)
    assert float(bernoulli_nll(extreme, torch.tensor([0.0, 1.0], dtype=torch.float64))) == \
        pytest.approx(40.0, rel=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        bernoulli_nll(logits, y[:-1])


def test_gaussian_nll_is_the_mean_negative_log_density():
    generator = torch.Generator().manual_seed(1)
    mean = torch.randn(50, generator=generator, dtype=torch.float64)
    y = mean + 0.7 * torch.randn(50, generator=generator, dtype=torch.float64)
    log_var = torch.tensor(math.log(0.3), dtype=torch.float64)
    reference = -norm.logpdf(y.numpy(), loc=mean.numpy(), scale=math.sqrt(0.3)).mean()
    assert float(gaussian_nll(mean, y, log_var)) == pytest.approx(reference, rel=1e-12)
    # for fixed σ²: the square loss scaled by 1/(2σ²) plus ½ log(2πσ²)
    mse = float(((y - mean) ** 2).mean())
    assert float(gaussian_nll(mean, y, log_var)) == pytest.approx(
        mse / (2 * 0.3) + 0.5 * math.log(2 * math.pi * 0.3), rel=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        gaussian_nll(mean, y[:-1], log_var)
