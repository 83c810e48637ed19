"""nn.models: the MNIST-1D paper's CNN size, shapes, our layers inside the models."""

import pytest
import torch
from torch import nn

from deepnotes.nn import activations, models
from deepnotes.nn.norm import BatchNorm1d, BatchNorm2d


def test_cnn1d_is_the_papers_5k_model():
    """Greydanus (2020) ConvBase: conv 1→25 (k5), 25→25 (k3), 25→25 (k3), stride 2, padding
    1, linear 125→10: (25·5 + 25) + 2·(25·25·3 + 25) + (125·10 + 10) = 5,210 parameters."""
    model = models.CNN1d()
    assert models.count_parameters(model) == 150 + 2 * 1900 + 1260 == 5210
    assert model(torch.randn(7, 40)).shape == (7, 10)
    assert model.classifier.in_features == 125
    table = models.parameter_table(model)
    assert sum(count for _, _, count in table) == 5210
    assert table[0] == ("features.0.weight", (25, 1, 5), 125)


def test_cnn1d_old_arguments_still_work():
    model = models.CNN1d(kernel_size=5, layers=3)
    assert models.count_parameters(model) == 7460
    with pytest.raises(ValueError, match="layers"):
        models.CNN1d(kernel_size=(5, 3), layers=3)
    with pytest.raises(ValueError, match="too short"):
        models.CNN1d(length=2)


def test_mlp_counts_and_layers():
    mlp = models.MLP([40, 100, 10])
    assert models.count_parameters(mlp) == 40 * 100 + 100 + 100 * 10 + 10
    assert mlp(torch.randn(3, 1, 40)).shape == (3, 10)
    bn = models.MLP([8, 16, 16, 2], "tanh", batch_norm=True)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in bn) == 2
    ours = models.MLP([8, 16, 16, 2], activations.Tanh, batch_norm=BatchNorm1d)
    assert sum(isinstance(m, BatchNorm1d) for m in ours) == 2
    ours.load_state_dict(bn.state_dict())  # same parameter and buffer names
    x = torch.randn(5, 8)
    torch.testing.assert_close(ours(x), bn(x))
    prelu = models.MLP([8, 16, 2], "prelu")
    assert models.count_parameters(prelu) == 8 * 16 + 16 + 16 + 16 * 2 + 2
    with pytest.raises(ValueError, match="sizes"):
        models.MLP([40])
    with pytest.raises(ValueError, match="activation"):
        models.MLP([4, 4, 2], "nope")
    with pytest.raises(TypeError, match="batch_norm"):
        models.MLP([4, 4, 2], batch_norm="yes")


def test_cnn2d_any_input_size():
    model = models.CNN2d(channels=(8, 16), batch_norm=True)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    ours = models.CNN2d(channels=(8, 16), batch_norm=BatchNorm2d)
    assert any(isinstance(m, BatchNorm2d) for m in ours.modules())
    for size in [(8, 8), (28, 28), (5, 13)]:
        assert model(torch.randn(2, 1, *size)).shape == (2, 10)


def test_cnn2d_fewer_parameters_than_mlp_on_images():
    cnn = models.CNN2d(channels=(16, 32))
    mlp = models.MLP([28 * 28, 100, 10])
    assert models.count_parameters(cnn) < models.count_parameters(mlp) / 10


def test_our_activation_in_mlp_matches_torch_mlp():
    torch.manual_seed(0)
    ours = models.MLP([5, 7, 3], activations.Tanh)
    reference = nn.Sequential(nn.Flatten(), nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(4, 5)
    torch.testing.assert_close(ours(x), reference(x))


def test_models_take_numpy_sizes_and_refuse_bad_ones():
    import numpy as np

    mlp = models.MLP([np.int64(4), np.int64(8), 2])
    assert models.count_parameters(mlp) == 4 * 8 + 8 + 8 * 2 + 2
    cnn = models.CNN1d(length=np.int64(40), channels=np.int64(25))
    assert models.count_parameters(cnn) == 5210  # the paper's model, as with Python ints
    with pytest.raises(TypeError, match="sizes"):
        models.MLP([4, 2.5, 2])
    with pytest.raises(ValueError, match="channels"):
        models.CNN2d(channels=(8, 0))
    with pytest.raises(ValueError, match="seed"):
        models.build_seeded(lambda: nn.Linear(2, 2), -1)
