"""FGSM and PGD: exact agreement with torchattacks and with a plain PyTorch loop, projection,
restarts, and the model left untouched."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepnotes.adversarial import (
    Normalize,
    accuracy_under_attack,
    fgsm,
    margin,
    minimal_eps,
    pgd,
    predict,
    random_perturbation,
    success,
)
from deepnotes.engine import make_generator


def plain_pgd_linf(model, x, y, eps, alpha, steps):
    """The textbook loop, written independently: ascend CE, clip to the ball and to [0, 1]."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv


def test_fgsm_equals_torchattacks_exactly(small_cnn, digits_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits_test
    ours = fgsm(small_cnn, x, y, eps=0.1)
    theirs = torchattacks.FGSM(small_cnn, eps=0.1)(x, y)
    assert torch.equal(ours, theirs)
    assert not torch.equal(ours, x)


def test_targeted_fgsm_equals_torchattacks_exactly(small_cnn, digits_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits_test
    target = (y + 1) % 10
    attack = torchattacks.FGSM(small_cnn, eps=0.1)
    attack.set_mode_targeted_by_label(quiet=True)
    assert torch.equal(fgsm(small_cnn, x, target, eps=0.1, targeted=True), attack(x, target))


def test_pgd_one_step_is_fgsm_exactly(small_cnn, digits_test):
    x, y = digits_test
    for targeted in (False, True):
        labels = (y + 3) % 10 if targeted else y
        one_step = pgd(small_cnn, x, labels, eps=0.07, steps=1, step_size=0.07,
                       random_start=False, targeted=targeted)
        assert torch.equal(one_step, fgsm(small_cnn, x, labels, eps=0.07, targeted=targeted))


def test_pgd_equals_torchattacks_without_random_start(small_cnn, digits_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits_test
    ours = pgd(small_cnn, x, y, eps=0.1, step_size=0.02, steps=10, random_start=False)
    theirs = torchattacks.PGD(small_cnn, eps=0.1, alpha=0.02, steps=10, random_start=False)(x, y)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_pgd_l2_equals_torchattacks_without_random_start(small_cnn, digits_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits_test
    ours = pgd(small_cnn, x, y, eps=0.8, norm="2", step_size=0.2, steps=10, random_start=False)
    theirs = torchattacks.PGDL2(small_cnn, eps=0.8, alpha=0.2, steps=10,
                                random_start=False)(x, y)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_pgd_equals_plain_loop(small_mlp, digits_test):
    x, y = digits_test
    ours = pgd(small_mlp, x, y, eps=0.1, step_size=0.025, steps=8, random_start=False)
    torch.testing.assert_close(ours, plain_pgd_linf(small_mlp, x, y, 0.1, 0.025, 8),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("norm, eps", [("inf", 0.1), ("2", 0.7)])
def test_pgd_stays_in_ball_and_bounds_and_beats_noise(small_cnn, digits_test, norm, eps):
    x, y = digits_test
    x_adv = pgd(small_cnn, x, y, eps=eps, norm=norm, steps=20, rng=make_generator(0))
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "inf" else delta.norm(dim=1)
    assert float(size.max()) <= eps + 1e-6
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    noise = random_perturbation(x, eps=eps, norm=norm, rng=make_generator(0))
    assert success(small_cnn, x_adv, y).float().mean() > success(small_cnn, noise, y).float().mean()


def test_random_start_is_inside_the_ball_and_reproducible(small_cnn, digits_test):
    x, y = digits_test
    # zero step size: the result is the (clipped) random start itself
    for norm, eps in (("inf", 0.2), ("2", 1.0)):
        a = pgd(small_cnn, x, y, eps=eps, norm=norm, steps=1, step_size=0.0,
                rng=make_generator(5))
        b = pgd(small_cnn, x, y, eps=eps, norm=norm, steps=1, step_size=0.0,
                rng=make_generator(5))
        assert torch.equal(a, b) and not torch.equal(a, x)
        delta = (a - x).flatten(1)
        size = delta.abs().amax(1) if norm == "inf" else delta.norm(dim=1)
        assert float(size.max()) <= eps + 1e-6


def test_restarts_keep_the_strongest_per_example(small_mlp, digits_test):
    x, y = digits_test
    kwargs = dict(eps=0.05, steps=3, loss="cw")
    best = pgd(small_mlp, x, y, restarts=3, rng=make_generator(7), **kwargs)
    generator = make_generator(7)  # the same random starts, one run at a time
    runs = [pgd(small_mlp, x, y, rng=generator, **kwargs) for _ in range(3)]
    with torch.no_grad():
        values = torch.stack([-margin(small_mlp(r), y) for r in runs])
        best_value = -margin(small_mlp(best), y)
    # the cw objective's sign is the success indicator, so the strongest is simply the max
    torch.testing.assert_close(best_value, values.amax(0))


def test_pgd_cw_loss_and_targeted_reach_target(small_cnn, digits_test):
    x, y = digits_test
    target = (y + 5) % 10
    x_adv = pgd(small_cnn, x, target, eps=0.3, steps=30, loss="cw", targeted=True,
                rng=make_generator(0))
    assert float(success(small_cnn, x_adv, target, targeted=True).float().mean()) >= 0.8


def test_margin_matches_definition():
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.5, -1.0, 0.0]])
    labels = torch.tensor([1, 2])
    torch.testing.assert_close(margin(logits, labels), torch.tensor([3.0 - 2.0, 0.0 - 0.5]))


def test_per_example_eps_equals_separate_runs(small_mlp, digits_test):
    x, y = digits_test
    eps = torch.linspace(0.0, 0.2, len(x))
    together = pgd(small_mlp, x, y, eps=eps, steps=5, random_start=False)
    for i in (0, 17, 63):
        alone = pgd(small_mlp, x[i : i + 1], y[i : i + 1], eps=float(eps[i]), steps=5,
                    random_start=False)
        torch.testing.assert_close(together[i : i + 1], alone, atol=1e-6, rtol=0)


def test_model_state_restored_and_no_gradient_leak(digits_test):
    x, y = digits_test
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 36, 10))
    model.train()
    model[1].eval()  # a mixed-mode model must come back mixed
    model[4].bias.requires_grad_(False)
    running = model[1].running_mean.clone()
    for attack in (fgsm, pgd):
        attack(model, x, y, eps=0.1)
    assert model.training and not model[1].training and model[0].training
    assert model[0].weight.requires_grad and not model[4].bias.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(model[1].running_mean, running)


def test_works_under_no_grad(small_mlp, digits_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits_test
    with torch.no_grad():
        x_adv = fgsm(small_mlp, x, y, eps=0.1)
    reference = torchattacks.FGSM(small_mlp, eps=0.1)(x, y)  # an independent implementation
    assert torch.equal(x_adv, reference)
    assert not torch.equal(x_adv, x)


@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_equals_closed_form_on_a_linear_model(linear_fgsm, targeted):
    # no autograd in the reference: ∇ₓ CE of z = Wx + b is Wᵀ(softmax(z) − e_y)
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).double()
    x = torch.rand(50, 1, 4, 4, dtype=torch.float64)
    labels = torch.randint(0, 5, (50,))
    ours = fgsm(model, x, labels, eps=0.07, targeted=targeted)
    expected = linear_fgsm(model, x, labels, 0.07, targeted)
    assert torch.equal(ours, expected)
    # the step moved every pixel that the clip leaves free by exactly ε
    free = (expected > 0) & (expected < 1)
    torch.testing.assert_close((ours - x).abs()[free], torch.full_like(ours[free], 0.07))


def test_normalize_wrapper():
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4, 3))
    wrapped = Normalize(inner, mean=[0.5, 0.2], std=[0.25, 2.0])
    x = torch.rand(5, 2, 2, 2)
    mean = torch.tensor([0.5, 0.2]).reshape(1, 2, 1, 1)
    std = torch.tensor([0.25, 2.0]).reshape(1, 2, 1, 1)
    torch.testing.assert_close(wrapped(x), inner((x - mean) / std))
    with pytest.raises(ValueError, match="std"):
        Normalize(inner, mean=0.0, std=0.0)


def test_accuracy_under_attack_matches_closed_form(linear_fgsm):
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    x = torch.rand(45, 1, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:5] = (y[:5] + 1) % 3  # a few already misclassified
    x_adv = linear_fgsm(model, x, y, 0.1)
    with torch.no_grad():
        expected = (model(x_adv).argmax(1) == y).double().mean().item()
        clean = (model(x).argmax(1) == y).double().mean().item()
    assert 0 < expected < clean  # the attack does something, not everything
    assert accuracy_under_attack(model, fgsm, x, y, batch_size=10, eps=0.1) == pytest.approx(
        expected, abs=1e-12)
    assert accuracy_under_attack(model, None, x, y, batch_size=7) == pytest.approx(clean)


def test_bad_inputs_raise_clear_errors(small_mlp, digits_test):
    x, y = digits_test
    with pytest.raises(ValueError, match="bounds"):
        fgsm(small_mlp, x * 2, y, eps=0.1)
    with pytest.raises(ValueError, match="eps"):
        pgd(small_mlp, x, y, eps=-0.1)
    with pytest.raises(ValueError, match="batch size"):
        pgd(small_mlp, x, y[:-1], eps=0.1)
    with pytest.raises(ValueError, match="norm"):
        pgd(small_mlp, x, y, eps=0.1, norm="1")
    with pytest.raises(ValueError, match="class indices"):
        fgsm(small_mlp, x, y + 10, eps=0.1)
    with pytest.raises(ValueError, match="NaN"):
        fgsm(small_mlp, torch.full_like(x, float("nan")), y, eps=0.1)
    with pytest.raises(TypeError, match="y must"):
        fgsm(small_mlp, x, y.float(), eps=0.1)
    with pytest.raises(ValueError, match="steps"):
        pgd(small_mlp, x, y, eps=0.1, steps=0)


def test_minimal_eps_matches_closed_form_for_linear_fgsm():
    # logits z = W x + b; FGSM moves along the fixed s = sgn ∇ₓCE(x), so the margin of class j
    # over y is linear in ε: (z_j − z_y) + ε (W_j − W_y)·s, and the first crossing is closed form
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    x = 0.3 + 0.4 * torch.rand(40, 1, 4, 4)
    y = predict(model, x)
    eps, x_adv = minimal_eps(model, fgsm, x, y, eps_max=0.3, iterations=30)
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x_req), y, reduction="sum"), x_req)
    s = grad.sign().flatten(1)
    with torch.no_grad():
        z = model(x)
        weight = model[1].weight
        gap = z.gather(1, y[:, None]) - z  # z_y − z_j ≥ 0
        slope = s @ weight.T - (s @ weight.T).gather(1, y[:, None])  # d(z_j − z_y)/dε
        crossing = torch.where(slope > 0, gap / slope, torch.full_like(gap, float("inf")))
        crossing.scatter_(1, y[:, None], float("inf"))
        expected = crossing.amin(1)
    inside = expected < 0.3
    assert inside.sum() > 10
    torch.testing.assert_close(eps[inside], expected[inside], atol=1e-6, rtol=0)
    assert torch.isinf(eps[~inside]).all()
    assert bool((predict(model, x_adv[inside]) != y[inside]).all())
