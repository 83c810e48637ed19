"""nn.receptive: hand-computed stacks, and a gradient-based measurement on torch conv stacks."""

import pytest
import torch
from torch import nn

from deepnotes.nn.receptive import (
    ConvLayer,
    filter_size_tradeoff,
    layers_for_receptive_field,
    receptive_field,
    stack_parameters,
)


def _measured_receptive_field(layers) -> int:
    """Width of the input region that influences the centre output unit of a torch stack of
    all-ones 1-D convolutions (nonzero input gradient)."""
    modules = [nn.Conv1d(1, 1, k, stride=s, dilation=d, bias=False) for k, s, d in layers]
    for module in modules:
        nn.init.ones_(module.weight)
    x = torch.zeros(1, 1, 200, requires_grad=True)
    out = nn.Sequential(*modules)(x)
    out[0, 0, out.shape[-1] // 2].backward()
    touched = (x.grad[0, 0] != 0).nonzero().flatten()
    return int(touched.max() - touched.min() + 1)


def test_vgg_three_3x3_equal_one_7x7():
    assert receptive_field([3, 3, 3]).size == 7
    assert receptive_field([7]).size == 7
    assert stack_parameters([3, 3, 3]) == 27
    assert stack_parameters([7]) == 49


@pytest.mark.parametrize("layers", [
    [(3, 1, 1)] * 3,
    [(5, 2, 1), (3, 2, 1), (3, 2, 1)],  # the MNIST-1D CNN
    [(3, 1, 1), (3, 1, 2), (3, 1, 4)],  # dilated (WaveNet-style): 1 + 2 + 4 + 8 = 15
    [(7, 2, 1), (3, 2, 1), (3, 1, 1), (2, 2, 1)],
])
def test_matches_measured_torch_stack(layers):
    assert receptive_field(layers).size == _measured_receptive_field(layers)


def test_hand_computed_values():
    assert receptive_field([(5, 2), (3, 2), (3, 2)]).size == 5 + 2 * 2 + 2 * 4  # 17
    assert receptive_field([(5, 2), (3, 2), (3, 2)]).jump == 8
    mixed = [ConvLayer(3, 1, 1), ConvLayer(3, 1, 2), {"kernel": 3, "dilation": 4}]
    assert receptive_field(mixed).sizes == (3, 7, 15)


def test_parameter_count_matches_torch_modules():
    channels = [3, 16, 32, 32]
    pairs = zip(channels[:-1], channels[1:], [5, 3, 3], strict=True)
    modules = [nn.Conv2d(a, b, k) for a, b, k in pairs]
    expected = sum(p.numel() for m in modules for p in m.parameters())
    assert stack_parameters([5, 3, 3], channels) == expected


def test_exercise_smaller_filters_cheaper():
    rows = filter_size_tradeoff(13, [2, 3, 5, 7, 13])
    by_kernel = {row["kernel"]: row for row in rows}
    assert by_kernel[3]["layers"] == 6 and by_kernel[3]["receptive_field"] == 13
    assert by_kernel[3]["weights_per_channel_pair"] == 54
    assert by_kernel[13]["weights_per_channel_pair"] == 169
    assert by_kernel[7]["weights_per_channel_pair"] == 2 * 49
    costs = [row["weights_per_channel_pair"] for row in rows]
    assert costs == sorted(costs)  # grows with k: smaller filters are cheaper
    assert all(row["receptive_field"] >= 13 for row in rows)
    assert by_kernel[3]["notes_weights"] == 13 * 3  # the notes' k²·d = F·k


def test_bad_inputs():
    with pytest.raises(ValueError, match="kernel"):
        receptive_field([0])
    with pytest.raises(TypeError, match="layers"):
        receptive_field(3)
    with pytest.raises(ValueError, match="channels"):
        stack_parameters([3, 3], [1, 2])
    with pytest.raises(ValueError, match="kernel=1"):
        layers_for_receptive_field(5, 1)


def test_numpy_and_tensor_integers_are_counts_too():
    import numpy as np

    assert receptive_field([np.int64(3), (torch.tensor(3), np.int32(1))]).size == 5
    assert stack_parameters([3, 3], [np.int64(1), 2, np.int16(4)]) == \
        stack_parameters([3, 3], [1, 2, 4])
    assert layers_for_receptive_field(np.int64(7), np.int64(3)) == 3
    layer = receptive_field([np.int64(5)])
    assert type(layer.size) is int
    with pytest.raises(TypeError, match="kernel"):
        receptive_field([(2.5,)])
    with pytest.raises(TypeError, match="layers"):
        receptive_field([None])
