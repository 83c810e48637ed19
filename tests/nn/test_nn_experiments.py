"""Pieces of the section-2 and section-3 experiments (cnn-vs-mlp, batchnorm,
activation-saturation, lr-divergence, sgd-noise-floor, optimizers); the generic test runs their
quick presets."""

import math

import pytest
import torch

from deepnotes.experiments import (
    activation_saturation,
    batchnorm,
    cnn_vs_mlp,
    lr_divergence,
    optimizers,
    sgd_noise_floor,
)
from deepnotes.experiments.base import FAILED, PASSED, UNDECIDED, Check
from deepnotes.nn.models import MLP, count_parameters

# -- Check.every (used by several of these experiments) ---------------------------------------


def test_every_fails_when_a_part_fails_and_passes_only_when_all_pass():
    passed = Check.at_least("a", 0.9, 0.5)
    close = Check.at_least("b", 0.6, 0.5, se=0.04)  # passes by 0.1 − 1.96·0.04 = 0.02
    straddles = Check.at_least("c", 0.55, 0.5, se=0.1)
    failed = Check.at_least("d", 0.1, 0.5)
    assert Check.every("all", [passed, close]).outcome == PASSED
    shown = Check.every("all", [passed, close])
    assert shown.value == 0.6 and shown.se == 0.04  # the part nearest its threshold
    assert Check.every("all", [passed, straddles]).outcome == UNDECIDED
    combined = Check.every("all", [straddles, failed, passed])
    assert combined.outcome == FAILED and combined.value == 0.1
    assert "1 of 3 passed" in combined.note
    with pytest.raises(ValueError):
        Check.every("none", [])


# -- cnn-vs-mlp ------------------------------------------------------------------------------


def test_models_of_cnn_vs_mlp_have_the_papers_sizes():
    models = {name: factory() for name, factory in cnn_vs_mlp.build_models(100).items()}
    counts = {name: count_parameters(m) for name, m in models.items()}
    assert counts == {"logistic": 410, "mlp": 15_210, "cnn": 5_210}


def test_shuffling_positions_leaves_the_mlp_function_class_unchanged():
    """An MLP on permuted inputs equals the MLP with permuted first-layer columns: the
    shuffled variant cannot help or hurt the MLP, only the CNN (locality)."""
    order = cnn_vs_mlp.position_permutation(40, rng=torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(40)) and not torch.equal(order, torch.arange(40))
    torch.manual_seed(0)
    mlp = MLP([40, 16, 10])
    permuted = MLP([40, 16, 10])
    permuted.load_state_dict(mlp.state_dict())
    # x'_j = x_{order[j]}, so W' x' = W x for W'[:, j] = W[:, order[j]]
    with torch.no_grad():
        permuted[1].weight.copy_(mlp[1].weight[:, order])
    x = torch.randn(5, 40)
    torch.testing.assert_close(permuted(x[:, order]), mlp(x))
    assert not torch.allclose(mlp(x[:, order]), mlp(x))


def test_paired_difference_uses_per_example_and_per_seed_spread():
    a = torch.tensor([[1, 1, 0, 0, 1, 1]], dtype=torch.bool)
    b = torch.tensor([[0, 1, 0, 1, 0, 1]], dtype=torch.bool)
    mean, se, df = cnn_vs_mlp.paired_difference(a, b)
    d = torch.tensor([1.0, 0, 0, -1, 1, 0])
    assert mean == pytest.approx(1 / 6)
    assert se == pytest.approx(float(d.std()) / math.sqrt(6))  # paired, not two-sample
    assert df == pytest.approx(5)
    # two seeds: the seed-to-seed spread of the difference adds to the test-set term
    a2 = torch.cat([a, torch.ones_like(a)])
    b2 = torch.cat([b, torch.zeros_like(b)])
    mean2, se2, df2 = cnn_vs_mlp.paired_difference(a2, b2)
    test_term = float((a2.double() - b2.double()).mean(0).var()) / 6
    seed_term = float(torch.tensor([1 / 6, 1.0], dtype=torch.float64).var()) / 2
    assert mean2 == pytest.approx(7 / 12)
    assert se2 == pytest.approx(math.sqrt(test_term + seed_term))
    assert df2 == pytest.approx((test_term + seed_term) ** 2
                                / (test_term**2 / 5 + seed_term**2 / 1))  # Welch–Satterthwaite


# -- batchnorm -------------------------------------------------------------------------------


def test_steps_to_target():
    history = [{"step": 10, "train_loss": 2.0}, {"step": 20, "eval_loss": 0.1},
               {"step": 20, "train_loss": 0.4}, {"step": 30, "train_loss": 0.2}]
    assert batchnorm.steps_to_target(history, 0.5) == 20
    assert batchnorm.steps_to_target(history, 0.1) is None


def test_faster_pairs_counts_never_as_slower_and_drops_ties():
    # seed 0: 40 < 200; seed 1: reached vs never; seed 2: tie; seed 3: neither; seed 4: slower
    with_bn = [40, 50, 60, None, 90]
    without = [200, None, 60, None, 30]
    assert batchnorm.faster_pairs(with_bn, without) == (2, 3)


# -- activation-saturation -------------------------------------------------------------------


def test_layer_gradient_norms_match_autograd():
    torch.manual_seed(0)
    model = MLP([6, 5, 3])
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    norms = activation_saturation.layer_gradient_norms(model, x, y)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, [model[1].weight, model[3].weight])
    assert norms == [float(g.norm()) for g in grads]


def test_log10_ratio_steps_are_negative_when_the_gap_grows_toward_the_input():
    log_ratios = torch.tensor([[-4.0, -3.0, -1.5, 0.0], [-3.0, -3.5, -1.0, 0.0]])
    steps = activation_saturation.log10_ratio_steps(log_ratios)
    torch.testing.assert_close(steps, torch.tensor([[-1.0, -1.5, -1.5], [0.5, -2.5, -1.0]]))


# -- lr-divergence ---------------------------------------------------------------------------


def test_growth_rate_and_threshold_of_gd_on_a_quadratic():
    eigenvalues = torch.linspace(0.5, 2.0, 6, dtype=torch.float64)
    A = lr_divergence.random_quadratic(eigenvalues, rng=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.linalg.eigvalsh(A), eigenvalues)
    x0 = torch.randn(6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    alphas = torch.tensor([0.2, 0.5, 0.9, 1.1], dtype=torch.float64)
    rates = lr_divergence.growth_rates(A, x0, alphas, 400, "cpu")
    theory = (1 - alphas[:, None] * eigenvalues[None, :]).abs().amax(1)
    torch.testing.assert_close(rates, theory, atol=2e-3, rtol=0)
    config = lr_divergence.Config(steps=400, grid=21)
    threshold, _, _ = lr_divergence.measure_threshold(A, x0, 2.0, config, "cpu")
    assert threshold == pytest.approx(1.0, rel=lr_divergence.THRESHOLD_TOLERANCE)


# -- sgd-noise-floor -------------------------------------------------------------------------


def test_simulate_without_noise_is_gradient_descent():
    """G = ∇f exactly, f = ½‖x‖²: ‖x^k‖² = (1 − α)^{2k} ‖x₀‖² for every chain and α."""
    x0 = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    errors = sgd_noise_floor.simulate(x0, [0.1, 0.5], 5, lambda x: x.clone(),
                                      lambda x: (x ** 2).sum(-1))
    k = torch.arange(6, dtype=torch.float64)[:, None, None]
    alphas = torch.tensor([0.1, 0.5], dtype=torch.float64)[None, :, None]
    expected = (1 - alphas) ** (2 * k) * (x0 ** 2).sum(-1)[None, None, :]
    torch.testing.assert_close(errors, expected)


def test_excess_risk_theory_matches_the_scalar_formula():
    """For diagonal H and Σ the Lyapunov solution is α² s / (1 − (1 − αλ)²) per direction."""
    lam = torch.tensor([0.5, 1.0], dtype=torch.float64)
    noise = torch.tensor([0.2, 0.3], dtype=torch.float64)
    alpha = 0.3
    expected = 0.5 * float((lam * alpha**2 * noise / (1 - (1 - alpha * lam) ** 2)).sum())
    assert sgd_noise_floor.excess_risk_theory(torch.diag(lam), torch.diag(noise), alpha) \
        == pytest.approx(expected)
    # the additive model's floor: the same recursion with Σ = σ²I, measured as ‖e‖²
    sigma = 0.7
    floor = float((alpha**2 * sigma**2 / (1 - (1 - alpha * lam) ** 2)).sum())
    assert sgd_noise_floor.stationary_floor_theory(lam, alpha, sigma) == pytest.approx(floor)


def test_summarize_floors_levels_and_steps():
    steps = torch.arange(21, dtype=torch.float64)
    # α 0: error 10 − k down to a floor of 1 (from step 9); α 1: falls at once to a floor of 2
    slow = torch.clamp(10 - steps, min=1.0)
    fast = torch.where(steps == 0, torch.tensor(10.0, dtype=torch.float64),
                       torch.tensor(2.0, dtype=torch.float64))
    errors = torch.stack([slow, fast], 1)[:, :, None].expand(21, 2, 3).clone()
    s = sgd_noise_floor.summarize(errors)
    assert s["floors"] == pytest.approx([1.0, 2.0]) and s["floors_se"] == [0.0, 0.0]
    assert s["level"] == pytest.approx(4.0)  # twice the largest floor
    assert s["steps_to_level"] == [6.0, 1.0] and s["never_reached"] == 0


# -- optimizers ------------------------------------------------------------------------------


def test_steps_to_needs_the_loss_to_stay_below_the_target():
    losses = torch.tensor([[5.0], [0.5], [2.0], [0.5], [0.4], [0.3], [0.2]])
    assert float(optimizers.steps_to(losses, 1.0)[0]) == 3  # the crossing at 1 does not count
    assert float(optimizers.steps_to(losses, 1.0, dwell=3)[0]) == 3
    assert math.isinf(float(optimizers.steps_to(losses, 1.0, dwell=5)[0]))  # too little to show
    assert math.isinf(float(optimizers.steps_to(losses, 0.1)[0]))
    assert math.isinf(float(optimizers.steps_to(torch.tensor([[1.0], [float("nan")]]), 2.0)[0]))


def test_faster_than_and_best_rate():
    inf = math.inf
    ours = torch.tensor([10.0, 20.0, inf, 5.0, inf])
    gd = torch.tensor([30.0, 20.0, 40.0, inf, inf])
    assert optimizers.faster_than(ours, gd) == (2, 3)  # one tie, one pair neither reached
    hits = torch.tensor([[5.0, inf, inf], [50.0, 60.0, 70.0], [40.0, 45.0, inf]])
    final = torch.zeros(3, 3)
    assert optimizers.best_rate(hits, final) == 1  # reaches from the most starts


def test_descend_rows_are_independent_runs():
    """Stacking starting points as rows gives each row its own run, for every optimizer."""
    x0 = torch.tensor([[-1.2, 1.0], [0.5, 0.3]], dtype=torch.float64)
    for name in optimizers.OPTIMIZERS:
        lr = 1e-3 if name in ("SGD", "momentum") else 1e-2
        together, _ = optimizers.descend(optimizers.rosenbrock, x0, name, [lr], 30)
        alone, _ = optimizers.descend(optimizers.rosenbrock, x0[1:], name, [lr], 30)
        torch.testing.assert_close(together[:, 0, 1], alone[:, 0, 0], rtol=1e-12, atol=0)
