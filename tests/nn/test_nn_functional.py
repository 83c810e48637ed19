"""nn.functional: logistic, stable softmax / log-softmax, layout helpers, against torch."""

import pytest
import torch

from deepnotes.nn.functional import log_softmax, logistic, nchw_to_nhwc, nhwc_to_nchw, softmax


def test_logistic_matches_torch_values_and_gradients():
    z = torch.linspace(-30, 30, 601, dtype=torch.float64, requires_grad=True)
    ours = logistic(z)
    ours.sum().backward()
    ours_grad = z.grad.clone()
    z.grad = None
    reference = torch.sigmoid(z)
    reference.sum().backward()
    torch.testing.assert_close(ours, reference, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(ours_grad, z.grad, atol=1e-12, rtol=1e-12)


def test_logistic_gradient_at_zero_is_a_quarter():
    z = torch.zeros(1, requires_grad=True)
    logistic(z).backward()
    assert z.grad.item() == pytest.approx(0.25)


def test_logistic_no_overflow_at_extreme_logits():
    z = torch.tensor([-1e4, -100.0, 100.0, 1e4], requires_grad=True)
    p = logistic(z)
    p.sum().backward()
    assert torch.isfinite(p).all() and torch.isfinite(z.grad).all()
    torch.testing.assert_close(p, torch.tensor([0.0, 0.0, 1.0, 1.0]))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax_match_torch(dim):
    generator = torch.Generator().manual_seed(0)
    z = (5 * torch.randn(7, 11, 3, generator=generator)).requires_grad_()
    weights = torch.randn(7, 11, 3, generator=generator)
    for ours_fn, torch_fn in ((softmax, torch.softmax), (log_softmax, torch.log_softmax)):
        ours = ours_fn(z, dim)
        (ours * weights).sum().backward()
        ours_grad, z.grad = z.grad, None
        reference = torch_fn(z, dim)
        (reference * weights).sum().backward()
        torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(ours_grad, z.grad, atol=1e-6, rtol=1e-6)
        z.grad = None


def test_softmax_stable_at_large_logits():
    z = torch.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]], requires_grad=True)
    p = softmax(z)
    log_p = log_softmax(z)
    (p.sum() + log_p[:, 0].sum()).backward()
    assert torch.isfinite(p).all() and torch.isfinite(log_p).all()
    assert torch.isfinite(z.grad).all()
    torch.testing.assert_close(p, torch.softmax(z, -1))
    torch.testing.assert_close(log_p, torch.log_softmax(z, -1))
    torch.testing.assert_close(p.sum(-1), torch.ones(3))
    # the naive formula overflows: e^{1e4} = inf and inf/inf = nan
    naive = torch.exp(z) / torch.exp(z).sum(-1, keepdim=True)
    assert torch.isnan(naive).any()


def test_layout_round_trip_and_values():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    nhwc = nchw_to_nhwc(x)
    assert nhwc.shape == (2, 4, 5, 3)
    assert nhwc[1, 2, 3, 0] == x[1, 0, 2, 3]
    assert torch.equal(nhwc_to_nchw(nhwc), x)


def test_bad_inputs():
    with pytest.raises(TypeError, match="z"):
        softmax([1.0, 2.0])
    with pytest.raises(TypeError, match="floating"):
        logistic(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="dim"):
        softmax(torch.zeros(3), dim=2)
    with pytest.raises(ValueError, match="4-D"):
        nchw_to_nhwc(torch.zeros(3, 4, 5))
