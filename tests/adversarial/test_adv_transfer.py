"""Transfer attacks: with surrogate = target the transfer rate is the white-box rate; the
eligible set and the targeted variant."""

import pytest
import torch

from deepnotes.adversarial import fgsm, predict, success, success_rate, transfer_attack


def test_self_transfer_equals_white_box(small_cnn, digits_test):
    x, y = digits_test
    result = transfer_attack(fgsm, small_cnn, small_cnn, x, y, eps=0.1)
    white = success(small_cnn, fgsm(small_cnn, x, y, eps=0.1), y)
    eligible = predict(small_cnn, x) == y
    assert torch.equal(result.eligible, eligible)
    assert result.transfer_rate == pytest.approx(float(white[eligible].float().mean()))
    assert result.transfer_rate == pytest.approx(result.surrogate_rate)


def test_transfer_between_models_is_reported_per_example(small_cnn, small_mlp, digits_test):
    x, y = digits_test
    result = transfer_attack(fgsm, small_mlp, small_cnn, x, y, eps=0.2)
    on_target = predict(small_cnn, result.x_adv) != y
    assert torch.equal(result.target_success, on_target)
    assert torch.equal(result.x_adv, fgsm(small_mlp, x, y, eps=0.2))


def test_targeted_transfer_needs_labels(small_cnn, small_mlp, digits_test):
    x, y = digits_test
    target = (y + 1) % 10
    with pytest.raises(ValueError, match="labels"):
        transfer_attack(fgsm, small_mlp, small_cnn, x, target, targeted=True, eps=0.1)
    result = transfer_attack(fgsm, small_mlp, small_cnn, x, target, targeted=True, labels=y,
                             eps=0.1)
    assert bool(result.eligible.all())
    assert torch.equal(result.target_success, predict(small_cnn, result.x_adv) == target)


def test_success_rate():
    hits = torch.tensor([True, False, True, True])
    assert success_rate(hits) == 0.75
    assert success_rate(hits, torch.tensor([True, True, False, False])) == 0.5
