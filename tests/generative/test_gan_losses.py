"""The seven GAN losses: values and gradients at hand-picked discriminator outputs, against
closed forms and PyTorch built-ins; per-example gradient penalties."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepnotes.generative import losses as L

P_REAL = torch.tensor([0.9, 0.6, 0.75], dtype=torch.float64)
P_FAKE = torch.tensor([0.2, 0.4], dtype=torch.float64)


@pytest.fixture(autouse=True)
def _float64():
    """Exact comparisons in double precision; the default is restored after each test."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _logits_of(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A leaf tensor p (the discriminator's probabilities) and the logits computed from it, so
    autograd gives gradients with respect to D's outputs."""
    p = p.clone().requires_grad_(True)
    return p, torch.log(p) - torch.log1p(-p)


def test_minimax_discriminator_loss_value_and_gradient():
    p_real, l_real = _logits_of(P_REAL)
    p_fake, l_fake = _logits_of(P_FAKE)
    loss = L.minimax_discriminator_loss(l_real, l_fake)
    expected = -P_REAL.log().mean() - (1 - P_FAKE).log().mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    reference = F.binary_cross_entropy(P_REAL, torch.ones(3)) + F.binary_cross_entropy(
        P_FAKE, torch.zeros(2))
    assert loss.item() == pytest.approx(reference.item(), rel=1e-12)
    loss.backward()
    # ∂/∂D(x_i) [−(1/n) Σ log D(x_i)] = −1/(n D(x_i)); ∂/∂D(x̂_j) = +1/(m (1 − D(x̂_j)))
    torch.testing.assert_close(p_real.grad, -1 / (3 * P_REAL))
    torch.testing.assert_close(p_fake.grad, 1 / (2 * (1 - P_FAKE)))


def test_minimax_and_nonsaturating_generator_losses():
    p, logits = _logits_of(P_FAKE)
    mm = L.minimax_generator_loss(logits)
    assert mm.item() == pytest.approx((1 - P_FAKE).log().mean().item(), rel=1e-12)
    mm.backward()
    torch.testing.assert_close(p.grad, -1 / (2 * (1 - P_FAKE)))

    p, logits = _logits_of(P_FAKE)
    ns = L.nonsaturating_generator_loss(logits)
    assert ns.item() == pytest.approx(-P_FAKE.log().mean().item(), rel=1e-12)
    ns.backward()
    torch.testing.assert_close(p.grad, -1 / (2 * P_FAKE))


def test_generator_gradients_in_logit_space_saturate_only_for_minimax():
    # d/dℓ log(1 − σ(ℓ)) = −σ(ℓ) (vanishes as D → 0); d/dℓ −log σ(ℓ) = −(1 − σ(ℓ))
    logits = torch.tensor([-8.0, -2.0, 0.0]).requires_grad_(True)
    L.minimax_generator_loss(logits).backward()
    torch.testing.assert_close(logits.grad, -torch.sigmoid(logits.detach()) / 3)
    logits.grad = None
    L.nonsaturating_generator_loss(logits).backward()
    torch.testing.assert_close(logits.grad, -(1 - torch.sigmoid(logits.detach())) / 3)


def test_losses_stay_finite_when_the_sigmoid_saturates():
    logits = torch.tensor([-200.0, 200.0])
    assert math.isfinite(L.minimax_discriminator_loss(logits, logits).item())
    assert math.isfinite(L.nonsaturating_generator_loss(logits).item())


def test_wasserstein_losses():
    real = torch.tensor([1.5, -0.5, 2.0]).requires_grad_(True)
    fake = torch.tensor([0.25, -1.0]).requires_grad_(True)
    loss = L.wasserstein_critic_loss(real, fake)
    assert loss.item() == pytest.approx(-1.0 + (-0.375))
    loss.backward()
    torch.testing.assert_close(real.grad, torch.full((3,), -1 / 3))
    torch.testing.assert_close(fake.grad, torch.full((2,), 1 / 2))
    fake.grad = None
    L.wasserstein_generator_loss(fake).backward()
    torch.testing.assert_close(fake.grad, torch.full((2,), -1 / 2))


def test_least_squares_losses_have_corrected_signs():
    real = torch.tensor([0.5, 2.0]).requires_grad_(True)
    fake = torch.tensor([0.3, -1.0]).requires_grad_(True)
    loss = L.least_squares_discriminator_loss(real, fake)
    reference = F.mse_loss(real, torch.ones(2)) + F.mse_loss(fake, torch.zeros(2))
    assert loss.item() == pytest.approx(reference.item(), rel=1e-12)
    loss.backward()
    torch.testing.assert_close(real.grad, (real.detach() - 1))  # 2(D − 1)/n, n = 2
    torch.testing.assert_close(fake.grad, fake.detach())
    # a gradient-descent step moves D(x) toward 1 and D(x̂) toward 0 (the notes' signs would not)
    assert (real.grad * (real.detach() - 1) > 0).all() and (fake.grad * fake.detach() > 0).all()
    fake.grad = None
    g = L.least_squares_generator_loss(fake)
    assert g.item() == pytest.approx(F.mse_loss(fake, torch.ones(2)).item())
    g.backward()
    torch.testing.assert_close(fake.grad, fake.detach() - 1)


class HalfSquaredNorm(nn.Module):
    """D(x) = a·½‖x‖²: ∇ₓD = a x, so every example has its own known gradient norm a‖x‖."""

    def __init__(self, a: float = 1.0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))

    def forward(self, x):
        return self.a * 0.5 * (x**2).flatten(1).sum(1)


def test_gradient_penalty_is_per_example():
    real = torch.tensor([[3.0, 0.0], [0.0, 0.5], [1.0, 1.0], [2.0, -2.0]])
    fake = torch.tensor([[-1.0, 0.0], [0.0, 0.0], [0.5, 0.0], [0.0, 1.0]])
    critic = HalfSquaredNorm(1.3)
    penalty = L.gradient_penalty(critic, real, fake, rng=torch.Generator().manual_seed(7))
    # reference: the same per-example ε stream, by hand
    epsilon = torch.rand((4, 1), generator=torch.Generator().manual_seed(7))
    assert len(set(epsilon.flatten().tolist())) == 4
    points = epsilon * real + (1 - epsilon) * fake
    norms = 1.3 * points.norm(dim=1)
    expected = ((norms - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-12)
    # the two common mistakes give different numbers on this batch
    one_epsilon = epsilon[0] * real + (1 - epsilon[0]) * fake
    per_batch_epsilon = ((1.3 * one_epsilon.norm(dim=1) - 1) ** 2).mean()
    whole_batch_norm = (1.3 * points.norm() - 1) ** 2
    assert abs(penalty.item() - per_batch_epsilon.item()) > 1e-2
    assert abs(penalty.item() - whole_batch_norm.item()) > 1e-2
    # ∂/∂a mean (a‖x̃ᵢ‖ − 1)² = mean 2(a‖x̃ᵢ‖ − 1)‖x̃ᵢ‖: the penalty trains D
    penalty.backward()
    r = points.norm(dim=1)
    assert critic.a.grad.item() == pytest.approx((2 * (1.3 * r - 1) * r).mean().item(), rel=1e-10)


def test_input_gradient_norms_match_torch_func_per_example_gradients():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    x = torch.randn(6, 3)
    ours = L.input_gradient_norms(lambda v: net(v)[:, 0], x)
    per_example = torch.func.vmap(torch.func.grad(lambda v: net(v[None])[0, 0]))(x)
    torch.testing.assert_close(ours, per_example.norm(dim=1))


def test_dragan_penalty_perturbs_the_real_data():
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5]])
    critic = HalfSquaredNorm(1.0)
    penalty = L.dragan_penalty(critic, real, noise_std=0.3,
                               rng=torch.Generator().manual_seed(3))
    noise = torch.randn((3, 2), generator=torch.Generator().manual_seed(3))
    expected = (((real + 0.3 * noise).norm(dim=1) - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-12)


def test_dragan_loss_adds_lambda_times_penalty_to_cross_entropy():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    critic = lambda v: net(v)[:, 0]  # noqa: E731
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    loss, stats = L.DraganLoss(lam=10, noise_std=0.1).discriminator_loss(
        critic, real, fake, torch.Generator().manual_seed(1))
    base = L.minimax_discriminator_loss(critic(real), critic(fake))
    penalty = L.dragan_penalty(critic, real, noise_std=0.1,
                               rng=torch.Generator().manual_seed(1))
    assert loss.item() == pytest.approx((base + 10 * penalty).item(), rel=1e-12)
    assert stats["penalty"].item() == pytest.approx(penalty.item())


def test_wgan_gp_loss_is_critic_loss_plus_ten_penalties():
    torch.manual_seed(0)
    critic = HalfSquaredNorm(0.7)
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    loss, _ = L.WassersteinGPLoss().discriminator_loss(critic, real, fake,
                                                      torch.Generator().manual_seed(5))
    expected = L.wasserstein_critic_loss(critic(real), critic(fake)) + 10 * L.gradient_penalty(
        critic, real, fake, rng=torch.Generator().manual_seed(5))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)


def test_began_pieces():
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    recon = torch.tensor([[1.5, 2.0], [0.0, 1.0]])
    l1 = L.autoencoder_l1(x, recon)
    torch.testing.assert_close(l1, F.l1_loss(recon, x, reduction="none").mean(dim=1))
    torch.testing.assert_close(l1, torch.tensor([0.25, 1.0]))
    assert L.began_discriminator_loss(l1, torch.tensor([2.0, 4.0]), 0.25).item() == \
        pytest.approx(0.625 - 0.25 * 3.0)
    assert L.began_generator_loss(torch.tensor([2.0, 4.0])).item() == pytest.approx(3.0)
    # k ← clip(k + λ_k (γ L(x) − L(x̂)), 0, 1)
    assert L.began_update_k(0.5, 0.4, 0.1, gamma=0.5, lambda_k=0.1) == pytest.approx(0.51)
    assert L.began_update_k(0.999, 10.0, 0.0, gamma=0.5, lambda_k=0.1) == 1.0
    assert L.began_update_k(0.001, 0.0, 10.0, gamma=0.5, lambda_k=0.1) == 0.0
    assert L.began_convergence(0.4, 0.5, gamma=0.5) == pytest.approx(0.4 + 0.3)


def _shift(c: float):
    """An "auto-encoder" reconstructing v as v + c: every example's L1 error is exactly c."""
    return lambda v: v + c


def test_began_k_follows_its_update_rule_from_a_nonzero_start():
    """k_{t+1} = clip(k_t + λ_k (γ L(x) − L(x̂)), 0, 1), started away from the clip at 0 so that
    a k that never moves, a flipped sign or γ on the wrong term each give another number."""
    loss = L.BeganLoss(gamma=0.5, lambda_k=0.1, k=0.3)
    real, fake = torch.zeros(4, 2), torch.ones(4, 2)
    # step 1: L(x) = 0.4 in D's step; L(x̂) = 0.1 in G's step
    d_loss, stats = loss.discriminator_loss(_shift(0.4), real, fake)
    assert d_loss.item() == pytest.approx(0.4 - 0.3 * 0.4)  # L_D = L(x) − k₀ L(x̂), k₀ = 0.3
    assert stats["real_l1"].item() == pytest.approx(0.4)
    g_loss, _ = loss.generator_loss(_shift(0.1), fake)
    assert g_loss.item() == pytest.approx(0.1)
    stats = loss.after_generator_step()
    k1 = 0.3 + 0.1 * (0.5 * 0.4 - 0.1)  # 0.31
    assert loss.k == pytest.approx(k1) and stats["k"] == pytest.approx(k1)
    # step 2: L(x) = 0.4, L(x̂) = 0.5 > γ L(x): k falls; D's loss already uses k₁
    d_loss, _ = loss.discriminator_loss(_shift(0.4), real, fake)
    assert d_loss.item() == pytest.approx(0.4 - k1 * 0.4)
    loss.generator_loss(_shift(0.5), fake)
    loss.after_generator_step()
    assert loss.k == pytest.approx(k1 + 0.1 * (0.5 * 0.4 - 0.5))  # 0.28
    assert loss.state_dict() == {"k": pytest.approx(0.28)}


@pytest.mark.parametrize("k0, real_l1, fake_l1, expected", [
    (0.98, 1.0, 0.0, 1.0),   # 0.98 + 0.1·0.5 = 1.03 → clipped to 1
    (0.02, 0.0, 1.0, 0.0),   # 0.02 − 0.1 = −0.08 → clipped to 0
    (0.6, 0.2, 0.3, 0.58),   # inside [0, 1]: 0.6 + 0.1 (0.1 − 0.3)
])
def test_began_k_is_clipped_to_the_unit_interval(k0, real_l1, fake_l1, expected):
    loss = L.BeganLoss(gamma=0.5, lambda_k=0.1, k=k0)
    loss.discriminator_loss(_shift(real_l1), torch.zeros(3, 2), torch.ones(3, 2))
    loss.generator_loss(_shift(fake_l1), torch.ones(3, 2))
    loss.after_generator_step()
    assert loss.k == pytest.approx(expected)


@pytest.mark.parametrize("real_l1, fake_l1, gamma, expected", [
    (0.4, 0.1, 0.5, 0.4 + 0.1),    # γ L(x) − L(x̂) = +0.1
    (0.4, 0.5, 0.5, 0.4 + 0.3),    # γ L(x) − L(x̂) = −0.3: the absolute value matters
    (0.6, 0.3, 0.5, 0.6 + 0.0),    # at equilibrium L(x̂) = γ L(x): M = L(x)
    (0.2, 0.05, 0.75, 0.2 + 0.1),  # γ ≠ ½: |0.15 − 0.05|
])
def test_began_convergence_measure_by_hand(real_l1, fake_l1, gamma, expected):
    """M_global = L(x) + |γ L(x) − L(x̂)|, both as the function and as the value the loss object
    logs after a generator step (a measure that drops the absolute value, or γ, or L(x) gives
    another number on at least one row)."""
    assert L.began_convergence(real_l1, fake_l1, gamma=gamma) == pytest.approx(expected)
    loss = L.BeganLoss(gamma=gamma, lambda_k=0.01, k=0.5)
    loss.discriminator_loss(_shift(real_l1), torch.zeros(3, 2), torch.ones(3, 2))
    loss.generator_loss(_shift(fake_l1), torch.ones(3, 2))
    assert loss.after_generator_step()["convergence"] == pytest.approx(expected)


def test_began_loss_state_round_trips():
    loss = L.BeganLoss()
    loss.load_state_dict({"k": 0.3})
    assert loss.state_dict() == {"k": 0.3} and loss.k == 0.3


def test_clip_weights_matches_clamp():
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    expected = [p.detach().clamp(-0.1, 0.1) for p in net.parameters()]
    L.clip_weights(net, 0.1)
    for p, e in zip(net.parameters(), expected, strict=True):
        torch.testing.assert_close(p.detach(), e)


def test_bad_inputs_are_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="fake_logits"):
        L.minimax_discriminator_loss(torch.zeros(3), torch.zeros(2, 2))
    with pytest.raises(TypeError, match="real_scores"):
        L.wasserstein_critic_loss([1.0], torch.zeros(1))
    with pytest.raises(ValueError, match="same shape"):
        L.gradient_penalty(HalfSquaredNorm(), torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="lam"):
        L.WassersteinGPLoss(lam=-1)
    with pytest.raises(ValueError, match="clip"):
        L.clip_weights(nn.Linear(1, 1), 0)
    with pytest.raises(ValueError, match="loss must be one of"):
        L.make_loss("vanilla")
    with pytest.raises(ValueError, match="k must lie"):
        L.began_discriminator_loss(torch.zeros(1), torch.zeros(1), 1.5)
    with pytest.raises(ValueError, match="reconstructions"):
        L.autoencoder_l1(torch.zeros(2, 3), torch.zeros(2, 1))


def test_registry_has_the_seven_losses_of_the_course():
    assert set(L.LOSSES) == {"mm", "ns", "wgan", "wgan-gp", "lsgan", "dragan", "began"}
    assert L.make_loss("wgan").default_k == 5 and L.make_loss("wgan", clip=0.02).clip == 0.02
