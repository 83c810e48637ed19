"""Transfer attacks, against references that share no code with deepnotes: FGSM in closed form
on linear models (and torchattacks' FGSM on the digits models), predictions as plain
``model(x).argmax(1)``; with surrogate = target the transfer rate is the white-box rate; the
eligible set and the targeted variant."""

import pytest
import torch
from torch import nn

from deepnotes.adversarial import fgsm, success_rate, transfer_attack


def _argmax(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


@pytest.fixture
def two_linear_models():
    """A surrogate and a target, both z = W·vec(x) + b with different weights, and inputs on
    which they disagree enough that every bookkeeping mistake changes the numbers."""
    torch.manual_seed(11)
    surrogate = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).double()
    target = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).double()
    with torch.no_grad():  # related but different: transfer is partial
        target[1].weight.copy_(surrogate[1].weight + 0.1 * torch.randn(4, 16, dtype=torch.float64))
        target[1].bias.copy_(surrogate[1].bias)
    x = 0.2 + 0.6 * torch.rand(200, 1, 4, 4, dtype=torch.float64)
    y = _argmax(target, x)
    y[::7] = (y[::7] + 1) % 4  # some images the target gets wrong: not eligible
    return surrogate, target, x, y


def test_transfer_matches_closed_form(two_linear_models, linear_fgsm):
    surrogate, target, x, y = two_linear_models
    eps = 0.3
    result = transfer_attack(fgsm, surrogate, target, x, y, eps=eps)
    x_adv = linear_fgsm(surrogate, x, y, eps)  # crafted on the surrogate only
    eligible = _argmax(target, x) == y
    on_target = _argmax(target, x_adv) != y
    on_surrogate = _argmax(surrogate, x_adv) != y
    # the set-up can tell the models apart: these differ, so a swap shows
    assert not torch.equal(linear_fgsm(target, x, y, eps), x_adv)
    assert not torch.equal(_argmax(surrogate, x) == y, eligible)
    assert not torch.equal(on_target, on_surrogate)
    assert 0 < on_target[eligible].double().mean() < 1
    assert on_target[eligible].double().mean() != pytest.approx(on_target.double().mean())

    assert torch.equal(result.x_adv, x_adv)
    assert torch.equal(result.eligible, eligible)
    assert torch.equal(result.target_success, on_target)
    assert torch.equal(result.surrogate_success, on_surrogate)
    assert result.transfer_rate == pytest.approx(on_target[eligible].double().mean().item())
    assert result.surrogate_rate == pytest.approx(on_surrogate[eligible].double().mean().item())


def test_targeted_transfer_matches_closed_form(two_linear_models, linear_fgsm):
    surrogate, target, x, labels = two_linear_models
    goal = (labels + 2) % 4
    goal[::5] = labels[::5]  # asking for the true class: not eligible
    with pytest.raises(ValueError, match="labels"):
        transfer_attack(fgsm, surrogate, target, x, goal, targeted=True, eps=0.1)
    result = transfer_attack(fgsm, surrogate, target, x, goal, targeted=True, labels=labels,
                             eps=0.3)
    x_adv = linear_fgsm(surrogate, x, goal, 0.3, targeted=True)
    hit = _argmax(target, x_adv) == goal
    eligible = labels != goal
    assert 0 < hit[eligible].double().mean() < 1
    assert torch.equal(result.x_adv, x_adv)
    assert torch.equal(result.eligible, eligible)
    assert torch.equal(result.target_success, hit)
    assert result.transfer_rate == pytest.approx(hit[eligible].double().mean().item())


def test_self_transfer_equals_torchattacks_white_box(small_cnn, digits_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits_test
    result = transfer_attack(fgsm, small_cnn, small_cnn, x, y, eps=0.1)
    white = torchattacks.FGSM(small_cnn, eps=0.1)(x, y)
    eligible = _argmax(small_cnn, x) == y
    hits = _argmax(small_cnn, white) != y
    assert 0 < hits[eligible].float().mean() < 1
    assert torch.equal(result.x_adv, white)
    assert torch.equal(result.eligible, eligible)
    assert result.transfer_rate == pytest.approx(hits[eligible].float().mean().item())
    assert result.surrogate_rate == pytest.approx(result.transfer_rate)


def test_transfer_between_digit_models_equals_torchattacks(small_cnn, small_mlp, digits_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits_test
    result = transfer_attack(fgsm, small_mlp, small_cnn, x, y, eps=0.2)
    crafted = torchattacks.FGSM(small_mlp, eps=0.2)(x, y)
    assert torch.equal(result.x_adv, crafted)
    assert torch.equal(result.target_success, _argmax(small_cnn, crafted) != y)
    assert torch.equal(result.surrogate_success, _argmax(small_mlp, crafted) != y)


def test_success_rate():
    hits = torch.tensor([True, False, True, True])
    assert success_rate(hits) == 0.75
    assert success_rate(hits, torch.tensor([True, True, False, False])) == 0.5
