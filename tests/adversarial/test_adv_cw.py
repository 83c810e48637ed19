"""Carlini–Wagner L2: beside torchattacks' CW (no binary search) on the same model and inputs,
and the bookkeeping of the binary search."""

import pytest
import torch

from deepnotes.adversarial import carlini_wagner_l2, carlini_wagner_l2_search, predict
from deepnotes.adversarial.cw import BOX_SHRINK, _from_box, _to_box


def test_cw_at_least_as_successful_and_smaller_than_torchattacks(small_cnn, digits_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits_test
    theirs = torchattacks.CW(small_cnn, c=1.0, kappa=0, steps=50, lr=0.01)(x, y)
    ours = carlini_wagner_l2(small_cnn, x, y, c=1.0, steps=50, binary_steps=4, lr=0.01)
    ours_hit, theirs_hit = predict(small_cnn, ours) != y, predict(small_cnn, theirs) != y
    assert ours_hit.float().mean() >= theirs_hit.float().mean()
    both = ours_hit & theirs_hit
    assert both.sum() > len(x) // 2
    l2_ours = (ours - x).flatten(1).norm(dim=1)[both].mean()
    l2_theirs = (theirs - x).flatten(1).norm(dim=1)[both].mean()
    assert l2_ours <= l2_theirs


def test_search_bookkeeping(small_mlp, digits_test):
    x, y = digits_test
    result = carlini_wagner_l2_search(small_mlp, x, y, c=0.1, steps=30, binary_steps=3, lr=0.05)
    hit = predict(small_mlp, result.x_adv) != y
    # success is reported exactly where the returned example is misclassified
    assert torch.equal(hit, result.success)
    assert result.success.float().mean() > 0.9
    torch.testing.assert_close(result.l2[result.success],
                               (result.x_adv - x).flatten(1).norm(dim=1)[result.success])
    assert torch.equal(result.x_adv[~result.success], x[~result.success])
    assert torch.isinf(result.l2[~result.success]).all()
    assert float(result.x_adv.min()) >= 0 and float(result.x_adv.max()) <= 1
    assert 0 < result.steps_taken <= 90


def test_binary_search_lowers_distortion(small_mlp, digits_test):
    x, y = digits_test
    one = carlini_wagner_l2_search(small_mlp, x, y, c=10.0, steps=40, binary_steps=1, lr=0.05)
    many = carlini_wagner_l2_search(small_mlp, x, y, c=10.0, steps=40, binary_steps=5, lr=0.05)
    both = one.success & many.success
    assert many.success.sum() >= one.success.sum()
    # later stages can only replace an example by a smaller successful perturbation
    assert (many.l2[both] <= one.l2[both] + 1e-6).all()
    assert many.l2[both].mean() < one.l2[both].mean()


def test_targeted_cw_with_confidence(small_mlp, digits_test):
    x, y = digits_test
    target = (y + 1) % 10
    result = carlini_wagner_l2_search(small_mlp, x, target, targeted=True, kappa=1.0, c=1.0,
                                      steps=50, binary_steps=3, lr=0.05)
    assert result.success.float().mean() > 0.9
    with torch.no_grad():
        logits = small_mlp(result.x_adv[result.success])
    t = target[result.success]
    own = logits.gather(1, t[:, None]).squeeze(1)
    others = logits.scatter(1, t[:, None], float("-inf")).amax(1)
    assert bool((own - others >= 1.0 - 1e-4).all())


def test_tanh_box_roundtrip():
    """The start point is x shrunk toward the box centre by BOX_SHRINK: finite at the bounds."""
    x = torch.rand(4, 1, 5, 5, dtype=torch.float64) * 2 - 0.5
    x[0, 0, 0] = -0.5
    x[0, 0, 1] = 1.5
    w = _from_box(x, -0.5, 1.5)
    assert torch.isfinite(w).all()
    torch.testing.assert_close(_to_box(w, -0.5, 1.5), 0.5 + (x - 0.5) * (1 - BOX_SHRINK),
                               atol=1e-12, rtol=0)


def test_cw_moves_pixels_that_start_at_the_bounds(small_mlp, digits_test):
    """Half the digits' pixels are exactly 0; with the start shrunk off the bound CW's
    perturbation uses them (with the reference's 1e-6 they stay frozen at tanh′ ≈ 2e-6)."""
    x, y = digits_test
    at_bound = x == 0
    assert at_bound.float().mean() > 0.3
    result = carlini_wagner_l2_search(small_mlp, x, y, c=1.0, steps=30, binary_steps=3, lr=0.1)
    delta = (result.x_adv - x)[result.success]
    share = (delta.pow(2) * at_bound[result.success]).sum() / delta.pow(2).sum()
    assert share > 0.1


def test_cw_bad_inputs(small_mlp, digits_test):
    x, y = digits_test
    with pytest.raises(ValueError, match="c must"):
        carlini_wagner_l2(small_mlp, x, y, c=0.0)
    with pytest.raises(ValueError, match="binary_steps"):
        carlini_wagner_l2(small_mlp, x, y, binary_steps=0)
    with pytest.raises(ValueError, match="bounds"):
        carlini_wagner_l2(small_mlp, x - 1, y)
