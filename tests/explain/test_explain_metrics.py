"""Faithfulness metrics: deletion / insertion curves and AUC computed by hand on linear models,
surrogate fidelity vs scikit-learn's weighted R², Jaccard on hand-built sets, bad input."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score

from deepnotes.explain import (
    auc,
    deletion_curve,
    insertion_curve,
    jaccard,
    random_attributions,
    stability,
    surrogate_fidelity,
    top_k,
    topk_jaccard,
)

W = torch.tensor([3.0, 1.0, 2.0, 0.5])


def linear(x):
    return x @ W


def test_deletion_curve_of_a_linear_model_by_hand():
    x = torch.ones(1, 4)
    curve = deletion_curve(linear, x, x * W, probabilities=False)
    # removal order 3, 2, 1, 0.5: f = 6.5, 3.5, 1.5, 0.5, 0
    assert curve.fractions.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert curve.scores[0].tolist() == [6.5, 3.5, 1.5, 0.5, 0.0]
    # trapezoid: 0.25 · (5 + 2.5 + 1 + 0.25)
    assert float(curve.auc[0]) == pytest.approx(2.1875)


def test_the_exact_ranking_has_the_lowest_deletion_auc():
    x = torch.ones(1, 4)
    exact = float(deletion_curve(linear, x, x * W, probabilities=False).auc[0])
    reverse = float(deletion_curve(linear, x, -x * W, probabilities=False).auc[0])
    # reverse order 0.5, 1, 2, 3: f = 6.5, 6, 5, 3, 0 -> 0.25 · (6.25 + 5.5 + 4 + 1.5)
    assert reverse == pytest.approx(4.3125)
    assert exact < reverse


def test_insertion_with_steps_and_a_baseline_by_hand():
    x = torch.tensor([[2.0, 2.0, 2.0, 2.0]])
    curve = insertion_curve(linear, x, x * W, baseline=1.0, steps=2, probabilities=False)
    # start: all 1 -> 6.5; top 2 (w = 3, 2) back at 2 -> 6.5 + 5 = 11.5; all -> 13
    assert curve.fractions.tolist() == [0, 0.5, 1]
    assert curve.scores[0].tolist() == [6.5, 11.5, 13.0]
    assert float(curve.auc[0]) == pytest.approx(0.5 * (9 + 12.25))


def test_uneven_steps_round_up():
    x = torch.ones(1, 4)
    curve = deletion_curve(linear, x, x * W, steps=3, probabilities=False)
    # ceil(j·4/3) for j = 0..3: 0, 2, 3, 4 features removed
    assert curve.fractions.tolist() == [0, 0.5, 0.75, 1]
    assert curve.scores[0].tolist() == [6.5, 1.5, 0.5, 0.0]


def test_absolute_ranking_and_ties_by_index():
    x = torch.ones(1, 4)
    attributions = torch.tensor([[-5.0, 1.0, 1.0, 0.0]])
    signed = deletion_curve(linear, x, attributions, probabilities=False)
    # signed order: index 1, 2 (tie -> lower index first), 3, 0
    assert signed.scores[0].tolist() == [6.5, 5.5, 3.5, 3.0, 0.0]
    by_size = deletion_curve(linear, x, attributions, probabilities=False, absolute=True)
    assert by_size.scores[0].tolist() == [6.5, 3.5, 2.5, 0.5, 0.0]


def test_probabilities_take_the_softmax_of_the_target_class():
    def two_class(x):
        return torch.stack([linear(x), torch.zeros(len(x))], dim=1)

    x = torch.ones(1, 4)
    curve = deletion_curve(two_class, x, x * W, target=0, steps=2)
    expected = [1 / (1 + math.exp(-s)) for s in (6.5, 1.5, 0.0)]
    assert curve.scores[0].tolist() == pytest.approx(expected)


def test_pixel_attributions_remove_every_channel_and_batching_changes_nothing():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 4, 4, generator=generator)
    weights = torch.rand(2, 4, 4, generator=generator)

    def model(v):
        return (v * weights).flatten(1).sum(dim=1)

    pixels = torch.rand(3, 1, 4, 4, generator=generator)
    curve = deletion_curve(model, x, pixels, probabilities=False, steps=4)
    assert curve.scores.shape == (3, 5)
    # after removing every pixel nothing is left; half the pixels -> the other half's sum
    assert torch.allclose(curve.scores[:, -1], torch.zeros(3))
    order = pixels.flatten(1).argsort(dim=1, descending=True)
    kept = torch.ones(3, 16)
    kept.scatter_(1, order[:, :8], 0.0)
    expected = model(x * kept.view(3, 1, 4, 4))
    torch.testing.assert_close(curve.scores[:, 2], expected)
    chunked = deletion_curve(model, x, pixels, probabilities=False, steps=4, batch_size=4)
    torch.testing.assert_close(chunked.scores, curve.scores)
    # per-example targets: (N,) indices into a (N, K) output
    two = insertion_curve(lambda v: torch.stack([model(v), -model(v)], 1), x, pixels,
                          target=torch.tensor([0, 1, 0]), probabilities=False, steps=4)
    torch.testing.assert_close(two.scores[1], -insertion_curve(
        model, x[1:2], pixels[1:2], probabilities=False, steps=4).scores[0])


def test_auc_is_the_trapezoid_rule():
    t = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    s = torch.tensor([[1.0, 0.8, 0.3, 0.1], [0.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    expected = [np.trapezoid(row, t.numpy()) if hasattr(np, "trapezoid")
                else np.trapz(row, t.numpy()) for row in s.numpy()]
    assert auc(t, s).tolist() == pytest.approx(expected)


def test_random_attributions_are_reproducible():
    like = torch.zeros(2, 1, 3, 3)
    a = random_attributions(like, rng=torch.Generator().manual_seed(1))
    b = random_attributions(like, rng=torch.Generator().manual_seed(1))
    c = random_attributions(like, rng=torch.Generator().manual_seed(2))
    assert a.shape == like.shape and torch.equal(a, b) and not torch.equal(a, c)


def test_surrogate_fidelity_is_sklearns_weighted_r2():
    generator = torch.Generator().manual_seed(0)
    f = torch.randn(3, 50, generator=generator, dtype=torch.float64)
    g = f + 0.5 * torch.randn(3, 50, generator=generator, dtype=torch.float64)
    weights = torch.rand(3, 50, generator=generator, dtype=torch.float64)
    ours = surrogate_fidelity(f, g, weights)
    for row in range(3):
        assert float(ours[row]) == pytest.approx(
            r2_score(f[row].numpy(), g[row].numpy(), sample_weight=weights[row].numpy()))
    assert float(surrogate_fidelity(f[0], f[0])) == 1.0
    assert float(surrogate_fidelity(f[0], torch.full_like(f[0], float(f[0].mean())))) == (
        pytest.approx(0.0, abs=1e-12))


def test_jaccard_on_hand_built_sets():
    assert jaccard({1, 2, 3}, {2, 3, 4}) == 0.5
    assert jaccard([1, 2], [3]) == 0.0
    assert jaccard([], []) == 1.0
    assert jaccard((5,), [5]) == 1.0


def test_topk_jaccard_and_stability_by_hand():
    a = torch.tensor([[4.0, 3.0, 2.0, 1.0], [1.0, -9.0, 0.0, 2.0]])
    b = torch.tensor([[4.0, 0.0, 3.0, 1.0], [1.0, 9.0, 0.0, 2.0]])
    # row 0: {0, 1} vs {0, 2} -> 1/3; row 1 by |value|: {1, 3} vs {1, 3} -> 1
    assert topk_jaccard(a, b, 2).tolist() == pytest.approx([1 / 3, 1.0])
    # signed, row 1: {3, 0} vs {1, 3} -> 1/3
    assert topk_jaccard(a, b, 2, absolute=False).tolist() == pytest.approx([1 / 3, 1 / 3])
    assert top_k(a, 2).tolist() == [[0, 1], [1, 3]]
    # three runs, pairs (a, b), (a, a), (b, a): mean of 1/3, 1, 1/3 for row 0
    assert stability([a, a, b], 2).tolist() == pytest.approx([5 / 9, 1.0])


@pytest.mark.parametrize("call, error, match", [
    (lambda x: deletion_curve(linear, x, x[:, :2]), ValueError, "attributions"),
    (lambda x: deletion_curve(linear, x, x.long()), TypeError, "attributions"),
    (lambda x: deletion_curve(linear, x, x, steps=0), ValueError, "steps"),
    (lambda x: deletion_curve(linear, x, x, baseline=torch.zeros(3)), ValueError, "baseline"),
    (lambda x: deletion_curve(linear, x, x), ValueError, "probabilities"),
    (lambda x: deletion_curve(3, x, x), TypeError, "model"),
    (lambda x: insertion_curve(linear, x, x, batch_size=0, probabilities=False), ValueError,
     "batch_size"),
    (lambda x: auc(torch.zeros(3), torch.zeros(2, 4)), ValueError, "scores"),
    (lambda x: top_k(x, 5), ValueError, "k"),
    (lambda x: topk_jaccard(x, x[:, :3], 2), ValueError, "b"),
    (lambda x: stability([x], 2), ValueError, "runs"),
    (lambda x: stability(x, 2), TypeError, "runs"),
    (lambda x: surrogate_fidelity(x, x, -x), ValueError, "weights"),
    (lambda x: surrogate_fidelity(x, x[:, :3]), ValueError, "predictions"),
    (lambda x: jaccard(3, [1]), TypeError, "a"),
    (lambda x: random_attributions(x, rng=1), TypeError, "rng"),
])
def test_bad_input_names_the_argument(call, error, match):
    x = torch.ones(2, 4)
    with pytest.raises(error, match=match):
        call(x)
