"""Shared fixtures for the adversarial tests: small models trained briefly on 8×8 digits."""

import pytest
import torch
import torch.nn.functional as F

from deepnotes import data
from deepnotes.engine import fit
from deepnotes.nn.models import MLP, CNN2d


@pytest.fixture(scope="session")
def digits_test():
    x, y = data.digits("test")
    return x[:64], y[:64]


@pytest.fixture(scope="session")
def digits_train():
    return data.digits("train")


@pytest.fixture(scope="session")
def small_cnn(digits_train):
    torch.manual_seed(0)
    model = CNN2d(1, 10, (8, 16))
    fit(model, F.cross_entropy, torch.optim.Adam(model.parameters(), 1e-2), digits_train,
        steps=150, batch_size=128, device="cpu", progress=False)
    return model.eval()


@pytest.fixture(scope="session")
def small_mlp(digits_train):
    torch.manual_seed(1)
    model = MLP([64, 32, 10])
    fit(model, F.cross_entropy, torch.optim.Adam(model.parameters(), 1e-2), digits_train,
        steps=150, batch_size=128, device="cpu", progress=False)
    return model.eval()


def _linear_fgsm(weight, bias, x, y, eps, targeted=False):
    """FGSM on the linear model z = W·vec(x) + b in closed form, without autograd:
    ∇ₓ CE(z, y) = Wᵀ(softmax(z) − e_y), so x* = clip(x ± ε·sgn(Wᵀ(softmax(z) − e_y)), 0, 1)
    (+ untargeted with y the labels, − targeted with y the targets)."""
    flat = x.flatten(1)
    probabilities = torch.softmax(flat @ weight.T + bias, dim=1)
    grad = (probabilities - F.one_hot(y, weight.shape[0]).to(flat)) @ weight
    step = eps * grad.sign()
    return (flat - step if targeted else flat + step).clamp(0, 1).reshape(x.shape)


@pytest.fixture(scope="session")
def linear_fgsm():
    """The closed-form FGSM reference for a ``Sequential(Flatten(), Linear)`` model:
    ``linear_fgsm(model, x, y, eps, targeted=False)``."""

    def reference(model, x, y, eps, targeted=False):
        linear = model[1]
        return _linear_fgsm(linear.weight.detach(), linear.bias.detach(), x, y, eps, targeted)

    return reference
