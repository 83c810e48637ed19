"""Adversarial training loss: the formula by hand, no gradient through the crafting, batch
norm statistics untouched by the attack, and PGD training raising robust accuracy."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepnotes.adversarial import AdversarialLoss, accuracy_under_attack, pgd
from deepnotes.engine import fit, make_generator
from deepnotes.nn.models import MLP


def fgsm_by_hand(model, x, y, eps):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def test_fgsm_loss_is_goodfellow_formula(small_mlp, digits_test):
    x, y = digits_test
    model = MLP([64, 16, 10])
    loss = AdversarialLoss("fgsm", eps=0.1, alpha=0.3)(model, x, y)
    x_adv = fgsm_by_hand(model, x, y, 0.1)
    expected = 0.3 * F.cross_entropy(model(x), y) + 0.7 * F.cross_entropy(model(x_adv), y)
    torch.testing.assert_close(loss, expected)
    # the perturbation is a constant: gradients equal those of the formula with x_adv detached
    grads = torch.autograd.grad(loss, list(model.parameters()))
    reference = torch.autograd.grad(expected, list(model.parameters()))
    for g, r in zip(grads, reference, strict=True):
        torch.testing.assert_close(g, r)


def test_batch_norm_statistics_not_updated_by_crafting(digits_test):
    x, y = digits_test
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.Linear(16, 10)).train()
    reference = copy.deepcopy(model)
    AdversarialLoss("pgd", eps=0.1, steps=3, alpha=0.5, rng=make_generator(0))(model, x, y)
    # reference: exactly two train-mode forward passes (clean batch, adversarial batch)
    x_adv = pgd(reference, x, y, eps=0.1, steps=3, rng=make_generator(0))
    reference(x)
    reference(x_adv)
    torch.testing.assert_close(model[2].running_mean, reference[2].running_mean)
    torch.testing.assert_close(model[2].running_var, reference[2].running_var)
    assert model.training


def test_pgd_training_raises_robust_accuracy(digits_train, digits_test):
    x_test, y_test = digits_test
    accuracies = {}
    for name, loss in [("clean", F.cross_entropy),
                       ("pgd", AdversarialLoss("pgd", eps=0.1, steps=3))]:
        torch.manual_seed(0)
        model = MLP([64, 64, 10])
        fit(model, loss, torch.optim.Adam(model.parameters(), 1e-2), digits_train, steps=150,
            batch_size=128, device="cpu", progress=False)
        accuracies[name] = accuracy_under_attack(model, pgd, x_test, y_test, eps=0.1, steps=10,
                                                 rng=make_generator(0))
    assert accuracies["pgd"] > accuracies["clean"] + 0.2


def test_adversarial_loss_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        AdversarialLoss("bim", eps=0.1)
    with pytest.raises(ValueError, match="alpha"):
        AdversarialLoss("fgsm", eps=0.1, alpha=1.5)
    with pytest.raises(ValueError, match="eps"):
        AdversarialLoss("pgd", eps=-1.0)
    assert AdversarialLoss("pgd", eps=0.1).alpha == 0.0
    assert AdversarialLoss("fgsm", eps=0.1).alpha == 0.5
