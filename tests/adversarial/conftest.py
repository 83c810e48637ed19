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
