"""nn.conv: our im2col convolution against torch.nn.functional and scipy.signal."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from deepnotes.nn import conv


def _grads(fn, *tensors, weights):
    tensors = [t.clone().requires_grad_() if t is not None else None for t in tensors]
    out = fn(*tensors)
    (out * weights).sum().backward()
    return out.detach(), [t.grad for t in tensors if t is not None]


CONFIGS_1D = [
    dict(stride=1, padding=0, dilation=1),
    dict(stride=2, padding=1, dilation=1),
    dict(stride=3, padding=2, dilation=2),
    dict(stride=1, padding="same", dilation=2),
]


@pytest.mark.parametrize("options", CONFIGS_1D, ids=str)
def test_cross_correlation1d_matches_torch(options):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 23, generator=generator)
    w = torch.randn(5, 3, 4, generator=generator)
    b = torch.randn(5, generator=generator)
    expected = F.conv1d(x, w, b, **options)
    weights = torch.randn(expected.shape, generator=generator)
    ours, ours_grads = _grads(lambda *t: conv.cross_correlation1d(*t, **options), x, w, b,
                              weights=weights)
    ref, ref_grads = _grads(lambda *t: F.conv1d(*t, **options), x, w, b, weights=weights)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    for g, r in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-5)


CONFIGS_2D = [
    dict(stride=1, padding=0, dilation=1),
    dict(stride=2, padding=1, dilation=1),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(stride=1, padding="same", dilation=1),
    dict(stride=1, padding="same", dilation=2),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("options", CONFIGS_2D, ids=str)
def test_cross_correlation2d_matches_torch(options):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2, 11, 9, generator=generator)
    w = torch.randn(4, 2, 3, 2, generator=generator)
    b = torch.randn(4, generator=generator)
    expected = F.conv2d(x, w, b, **options)
    weights = torch.randn(expected.shape, generator=generator)
    ours, ours_grads = _grads(lambda *t: conv.cross_correlation2d(*t, **options), x, w, b,
                              weights=weights)
    ref, ref_grads = _grads(lambda *t: F.conv2d(*t, **options), x, w, b, weights=weights)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    for g, r in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_convolution1d_matches_scipy(mode):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=17), rng.normal(size=5)
    ours = conv.convolution1d(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None],
                              padding=mode)[0, 0]
    np.testing.assert_allclose(ours.numpy(), signal.convolve(x, w, mode=mode), atol=1e-12)
    # and it is not the cross-correlation (the kernel is flipped)
    xcorr = conv.cross_correlation1d(torch.from_numpy(x)[None, None],
                                     torch.from_numpy(w)[None, None], padding=mode)[0, 0]
    np.testing.assert_allclose(xcorr.numpy(), signal.correlate(x, w, mode=mode), atol=1e-12)
    assert not np.allclose(ours.numpy(), xcorr.numpy())


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_convolution2d_matches_scipy(mode):
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(9, 12)), rng.normal(size=(3, 5))
    ours = conv.convolution2d(torch.from_numpy(x)[None], torch.from_numpy(w)[None, None],
                              padding=mode)[0]  # unbatched input (C, H, W)
    np.testing.assert_allclose(ours.numpy(), signal.convolve2d(x, w, mode=mode), atol=1e-12)


def test_modules_load_torch_state_dict_and_match():
    torch.manual_seed(0)
    reference = torch.nn.Conv2d(3, 6, 3, stride=2, padding=1)
    ours = conv.Conv2d(3, 6, 3, stride=2, padding=1)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 10, 10)
    torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-5)
    reference1 = torch.nn.Conv1d(2, 4, 5, dilation=2)
    ours1 = conv.Conv1d(2, 4, 5, dilation=2)
    ours1.load_state_dict(reference1.state_dict())
    x1 = torch.randn(3, 2, 20)
    torch.testing.assert_close(ours1(x1), reference1(x1), atol=1e-5, rtol=1e-5)
    flipped = conv.Conv1d(2, 4, 5, dilation=2, flip_kernel=True)
    flipped.load_state_dict(reference1.state_dict())
    torch.testing.assert_close(flipped(x1), F.conv1d(x1, reference1.weight.flip(-1),
                                                     reference1.bias, dilation=2))


def test_module_init_like_torch():
    """Same init distribution as torch: weights within ±1/√fan_in, seeded reproducibly."""
    layer = conv.Conv2d(4, 8, 3, rng=torch.Generator().manual_seed(0))
    again = conv.Conv2d(4, 8, 3, rng=torch.Generator().manual_seed(0))
    bound = 1 / (4 * 9) ** 0.5
    assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.8 * bound
    assert torch.equal(layer.weight, again.weight)


@settings(max_examples=25, deadline=None)
@given(
    shift=st.integers(1, 4),
    kernel=st.integers(1, 5),
    dilation=st.integers(1, 2),
    seed=st.integers(0, 2**16),
    flip=st.booleans(),
)
def test_translation_equivariance(shift, kernel, dilation, seed, flip):
    """Shifting the input by t shifts the output by t (stride 1), away from the borders."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 2, 16, 18, generator=generator, dtype=torch.float64)
    w = torch.randn(3, 2, kernel, kernel, generator=generator, dtype=torch.float64)
    fn = conv.convolution2d if flip else conv.cross_correlation2d
    out = fn(x, w, dilation=dilation)
    shifted = fn(torch.roll(x, shifts=(shift, shift), dims=(2, 3)), w, dilation=dilation)
    span = dilation * (kernel - 1)
    # outputs whose window does not reach the wrapped-around border are exact shifts
    interior = shifted[..., shift:, shift:]
    expected = out[..., : out.shape[2] - shift, : out.shape[3] - shift]
    assert span + shift <= x.shape[2]
    torch.testing.assert_close(interior, expected, atol=1e-10, rtol=1e-10)


def test_bad_inputs():
    x, w = torch.zeros(1, 2, 8, 8), torch.zeros(3, 2, 3, 3)
    with pytest.raises(ValueError, match="channels"):
        conv.cross_correlation2d(torch.zeros(1, 4, 8, 8), w)
    with pytest.raises(ValueError, match="stride"):
        conv.cross_correlation2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv.cross_correlation2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="padding"):
        conv.cross_correlation2d(x, w, padding="same", stride=2)
    with pytest.raises(ValueError, match="shorter than the dilated kernel"):
        conv.cross_correlation2d(torch.zeros(1, 2, 2, 8), w)
    with pytest.raises(ValueError, match="weight"):
        conv.cross_correlation1d(x, w)
    with pytest.raises(TypeError, match="dtype"):
        conv.cross_correlation2d(x.double(), w)
    with pytest.raises(TypeError, match="x"):
        conv.cross_correlation2d(np.zeros((1, 2, 8, 8)), w)
    with pytest.raises(ValueError, match="out_channels"):
        conv.Conv2d(2, 0, 3)


def test_conv_output_size_matches_torch():
    cases = [(28, 3, 1, 1, 1), (40, 5, 2, 1, 1), (19, 3, 2, 1, 1), (20, 3, 3, 0, 2)]
    for length, k, s, p, d in cases:
        out = F.conv1d(torch.zeros(1, 1, length), torch.zeros(1, 1, k), stride=s, padding=p,
                       dilation=d)
        assert conv.conv_output_size(length, k, s, p, d) == out.shape[-1]


def test_numpy_integers_are_accepted_as_sizes():
    x, w = torch.randn(1, 2, 8, 8), torch.randn(3, 2, 3, 3)
    torch.testing.assert_close(conv.cross_correlation2d(x, w, stride=np.int64(2),
                                                        padding=(np.int32(1), 1)),
                               conv.cross_correlation2d(x, w, stride=2, padding=1))
    layer = conv.Conv2d(np.int64(2), np.int64(3), np.int64(3))
    assert (layer.in_channels, layer.out_channels, layer.kernel_size) == (2, 3, (3, 3))
    with pytest.raises(TypeError, match="stride"):
        conv.cross_correlation2d(x, w, stride=1.5)
