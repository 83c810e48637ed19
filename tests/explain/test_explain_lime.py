"""LIME (deepnotes.explain.lime) against closed forms, scikit-learn and the `lime` package."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge, lars_path

from deepnotes.explain import lime as L
from deepnotes.explain.lime import (
    fit_surrogate,
    lime_image,
    lime_tabular,
    quartile_discretizer,
    tabular_neighbourhood,
)


def lime_base():
    """lime's LimeBase module (a development dependency: tests that need it skip without)."""
    return pytest.importorskip("lime.lime_base")


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def background(n=300, d=6, seed=0) -> torch.Tensor:
    g = seeded(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3.0, d)
    return X + torch.linspace(-2.0, 2.0, d)


class Logistic(torch.nn.Module):
    """p(y = 1 | x) = σ(wᵀx + b) as two class probabilities (N, 2)."""

    def __init__(self, w, b=0.0):
        super().__init__()
        self.w, self.b = torch.as_tensor(w, dtype=torch.float64), b

    def forward(self, x):
        p = torch.sigmoid(x.double() @ self.w + self.b)
        return torch.stack([1 - p, p], dim=1)


def lime_kernel(d, width):  # lime's default kernel, written independently of ours
    return np.sqrt(np.exp(-(d**2) / width**2))


# ---------------------------------------------------------------------------------------------
# closed forms and independent fits


def test_a_linear_model_is_recovered_exactly_with_a_huge_kernel_width():
    """f(x) = wᵀx, z′ = (z − μ)/s: the surrogate is exact, a = w·s, b = wᵀμ, R² = 1."""
    X = background()
    w = torch.tensor([3.0, -2.0, 1.0, 0.5, 0.0, -0.25], dtype=torch.float64)
    e = lime_tabular(lambda z: z @ w, X[:3], X, discretize=False, kernel_width=1e8,
                     ridge=0.0, feature_selection="none", rng=seeded(1))
    s, mu = X.std(0, unbiased=False), X.mean(0)
    torch.testing.assert_close(e.weights, (w * s).expand(3, -1), atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(e.intercept, (mu @ w).expand(3), atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(e.local_prediction, X[:3] @ w, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(e.score, torch.ones(3, dtype=torch.float64), atol=1e-12, rtol=0)
    assert e.weights.shape == (3, 6) and e.labels.tolist() == [0, 0, 0]


def test_weights_equal_sklearn_ridge_with_sample_weight_on_the_same_samples():
    X = background()
    model = Logistic([1.0, -2.0, 0.5, 0.0, 1.5, -0.5])
    for discretize in (True, False):
        e = lime_tabular(model, X[5], X, num_samples=400, discretize=discretize,
                         feature_selection="none", return_samples=True, rng=seeded(2))
        Z, y, pi = (t.numpy() for t in e.samples)
        distances = np.linalg.norm(Z - Z[0], axis=1)
        np.testing.assert_allclose(pi, lime_kernel(distances, 0.75 * np.sqrt(6)), rtol=1e-12)
        ref = Ridge(alpha=1.0).fit(Z, y, sample_weight=pi)
        np.testing.assert_allclose(e.weights.numpy(), ref.coef_, atol=1e-10)
        assert float(e.intercept) == pytest.approx(ref.intercept_, abs=1e-10)
        assert float(e.score) == pytest.approx(ref.score(Z, y, sample_weight=pi), abs=1e-10)
        assert float(e.prediction) == pytest.approx(float(model(X[5:6])[0, 1]))
        inputs, interpretable = tabular_neighbourhood(X[5], X, num_samples=400,
                                                      discretize=discretize, rng=seeded(2))
        np.testing.assert_array_equal(interpretable.numpy(), Z)
        np.testing.assert_allclose(model(inputs)[:, 1].numpy(), y, rtol=1e-12)


@pytest.mark.parametrize("selection, lime_name, k", [
    ("none", "none", 3), ("highest_weights", "highest_weights", 3),
    ("forward", "forward_selection", 3), ("lasso", "lasso_path", 3), ("auto", "auto", 2),
    ("auto", "auto", 7),
])
def test_each_feature_selection_equals_lime_base_on_the_same_samples(selection, lime_name, k):
    """lime's LimeBase.explain_instance_with_data (scikit-learn Ridge, lars_path, its greedy
    forward selection = brute force over the remaining features at each step) on our samples:
    same features, weights, intercept, score and local prediction."""
    X = background(d=8, seed=3)
    model = Logistic(torch.linspace(-1.5, 2.0, 8) * torch.tensor([1, -1] * 4), 0.3)
    for i, discretize in ((0, True), (7, False)):
        e = lime_tabular(model, X[i], X, num_samples=300, discretize=discretize,
                         feature_selection=selection, num_features=k, return_samples=True,
                         rng=seeded(10 + i))
        Z, y, pi = (t.numpy() for t in e.samples)
        width = 0.75 * np.sqrt(8)
        base = lime_base().LimeBase(lambda d, w=width: lime_kernel(d, w))
        intercept, pairs, score, local = base.explain_instance_with_data(
            Z, y[:, None], np.linalg.norm(Z - Z[0], axis=1), 0, k, feature_selection=lime_name)
        ours = {j: float(e.weights[j]) for j in np.flatnonzero(e.selected.numpy())}
        assert set(ours) == {int(j) for j, _ in pairs}
        for j, weight in pairs:
            assert ours[int(j)] == pytest.approx(weight, abs=1e-9)
        assert float(e.intercept) == pytest.approx(intercept, abs=1e-9)
        assert float(e.score) == pytest.approx(score, abs=1e-9)
        assert float(e.local_prediction) == pytest.approx(float(local[0]), abs=1e-9)


def test_the_lasso_path_equals_sklearn_lars_path_breakpoint_by_breakpoint():
    """Batched LARS-lasso against lars_path(method="lasso"), on problems whose path drops a
    feature (the lasso modification) and on plain ones."""
    drops = 0
    for seed in (0, 1, 2, 9, 23):  # 9 and 23 (at least) drop a feature: found by search
        g = np.random.default_rng(seed)
        n, d = 30, 6
        A = g.normal(size=(n, d))
        A[:, 2] = A[:, 0] + A[:, 1] + 0.2 * g.normal(size=n)  # x2 enters first, then leaves
        c = A[:, 0] + A[:, 1] - 0.5 * A[:, 3] + 0.3 * g.normal(size=n)
        _, _, coefs = lars_path(A, c, method="lasso")
        At = torch.from_numpy(A)[None].expand(2, n, d)
        ours = list(L._lasso_path(At.mT @ At, At.mT @ torch.from_numpy(c), n))
        assert len(ours) == coefs.shape[1] - 1
        for step, beta in enumerate(ours, start=1):
            np.testing.assert_allclose(beta[1].numpy(), coefs[:, step], atol=1e-8)
        drops += any(bool(((a[0] != 0) & (b[0] == 0)).any())
                     for a, b in zip(ours, ours[1:], strict=False))
    assert drops >= 2  # the drop branch was exercised


def test_fit_surrogate_is_batched_and_takes_a_reference():
    g = seeded(4)
    Z = torch.randint(0, 2, (3, 50, 5), generator=g).double()
    y = torch.randn(3, 50, generator=g, dtype=torch.float64)
    pi = torch.rand(3, 50, generator=g, dtype=torch.float64)
    batch = fit_surrogate(Z, y, pi, feature_selection="forward", num_features=2)
    for i in range(3):
        one = fit_surrogate(Z[i], y[i], pi[i], feature_selection="forward", num_features=2)
        torch.testing.assert_close(one.weights, batch.weights[i], atol=1e-12, rtol=0)
        assert int(one.selected.sum()) == 2
    ref = torch.ones(5, dtype=torch.float64)
    other = fit_surrogate(Z[0], y[0], pi[0], reference=ref)
    assert float(other.local_prediction) == pytest.approx(
        float(other.intercept + other.weights.sum()))


# ---------------------------------------------------------------------------------------------
# the sampler mirrors lime's discretizer


def test_the_quartile_discretizer_and_its_draws_mirror_lime():
    QuartileDiscretizer = pytest.importorskip("lime.discretize").QuartileDiscretizer
    from scipy.stats import truncnorm

    X = background(n=400, d=4, seed=5)
    X[:, 3] = torch.round(X[:, 3])  # ties: merged cut points
    X[:150, 2] = 1.0
    ref = QuartileDiscretizer(X.numpy(), [], [str(j) for j in range(4)])
    disc = quartile_discretizer(X)
    for j in range(4):
        bins = len(ref.means[j])
        cuts = disc.cuts[j][torch.isfinite(disc.cuts[j])].numpy()
        np.testing.assert_allclose(cuts, ref.mins[j][1:], rtol=1e-12)
        np.testing.assert_allclose(disc.means[j, :bins].numpy(), ref.means[j], rtol=1e-12)
        np.testing.assert_allclose(disc.stds[j, :bins].numpy(), ref.stds[j], rtol=1e-9)
        np.testing.assert_allclose(disc.lows[j, :bins].numpy(), ref.mins[j], rtol=1e-12)
        np.testing.assert_allclose(disc.highs[j, :bins].numpy(), ref.maxs[j], rtol=1e-12)
        np.testing.assert_array_equal(disc.bins(X)[:, j].numpy(), ref.discretize(X.numpy())[:, j])
    inputs, Z = tabular_neighbourhood(X[0], X, num_samples=20000, rng=seeded(6))
    assert torch.equal(inputs[0], X[0]) and bool((Z[0] == 1).all())
    bins = disc.bins(inputs[1:])
    assert torch.equal(Z[1:], (bins == disc.bins(X[:1])).double())
    for j in range(4):
        for b in range(int((disc.counts[j] > 0).sum())):
            values = inputs[1:, j][bins[:, j] == b].numpy()
            share, expected = len(values) / 19999, float(disc.counts[j, b] / 400)
            assert share == pytest.approx(expected, abs=4 * np.sqrt(expected / 19999) + 1e-9)
            lo, hi = float(disc.lows[j, b]), float(disc.highs[j, b])
            assert values.min() >= lo - 1e-9 and values.max() <= hi + 1e-9
            mean, std = float(disc.means[j, b]), float(disc.stds[j, b])
            if hi - lo > 1e-9:
                dist = truncnorm((lo - mean) / std, (hi - mean) / std, loc=mean, scale=std)
                assert values.mean() == pytest.approx(
                    dist.mean(), abs=5 * dist.std() / np.sqrt(len(values)) + 1e-12)


# ---------------------------------------------------------------------------------------------
# seeds and batches


def test_same_seed_identical_other_seed_different_and_batched_equals_one_at_a_time():
    X = background()
    model = Logistic([1.0, -2.0, 0.5, 0.0, 1.5, -0.5])
    for kwargs in ({}, {"discretize": False, "sample_around_instance": True},
                   {"feature_selection": "lasso", "num_features": 3}):
        batch = lime_tabular(model, X[:4], X, num_samples=500, rng=seeded(7), **kwargs)
        again = lime_tabular(model, X[:4], X, num_samples=500, rng=seeded(7), **kwargs)
        other = lime_tabular(model, X[:4], X, num_samples=500, rng=seeded(8), **kwargs)
        for field in ("weights", "intercept", "score", "local_prediction", "selected"):
            assert torch.equal(getattr(batch, field), getattr(again, field))
        assert not torch.equal(batch.weights, other.weights)
        for i in range(4):
            one = lime_tabular(model, X[i], X, num_samples=500, rng=seeded(7), **kwargs)
            torch.testing.assert_close(one.weights, batch.weights[i], atol=1e-12, rtol=0)
            torch.testing.assert_close(one.score, batch.score[i], atol=1e-12, rtol=0)
            assert torch.equal(one.selected, batch.selected[i])


def images_and_model(m=3, size=12):
    g = seeded(9)
    images = torch.rand(m, 1, size, size, generator=g, dtype=torch.float64)
    weight = torch.zeros(size, size, dtype=torch.float64)
    weight[:4, :4], weight[8:, 4:8], weight[4:8, 8:] = 3.0, -2.0, 1.0

    def predict(x):
        score = (x[:, 0] * weight).sum((1, 2)) / 16 - 0.5
        return torch.stack([torch.sigmoid(-score), torch.sigmoid(score)], dim=1)

    grid = (torch.arange(size) // 4)[:, None] * 3 + (torch.arange(size) // 4)[None, :]
    return images, predict, grid


def test_lime_image_seeds_batches_and_the_attribution_map():
    images, predict, grid = images_and_model()
    segments = torch.stack([grid, grid, grid.clamp_max(5)])  # the last image has 6 superpixels
    # (hide_color 0: the model sums pixels over whole superpixels, their mean would not change it)
    settings = {"num_samples": 200, "labels": 1, "hide_color": 0.0}
    batch = lime_image(predict, images, segments, rng=seeded(3), **settings)
    again = lime_image(predict, images, segments, rng=seeded(3), **settings)
    other = lime_image(predict, images, segments, rng=seeded(4), **settings)
    assert torch.equal(batch.weights, again.weights)
    assert not torch.equal(batch.weights, other.weights)
    assert batch.weights.shape == (3, 9) and bool((batch.weights[2, 6:] == 0).all())
    assert not bool(batch.selected[2, 6:].any())
    g = seeded(3)
    for i in range(3):
        one = lime_image(predict, images[i], segments[i], rng=g, **settings)
        torch.testing.assert_close(one.weights[:int(segments[i].max()) + 1],
                                   batch.weights[i, :int(segments[i].max()) + 1],
                                   atol=1e-12, rtol=0)
    assert set(batch.top_features(3)[0].tolist()) == {0, 7, 5}
    pixels = batch.attribution_map()
    assert pixels.shape == (3, 12, 12) and float(pixels[0, 0, 0]) == float(batch.weights[0, 0])


def test_lime_image_samples_match_the_cosine_kernel_and_default_slic():
    images, predict, grid = images_and_model(m=1)
    e = lime_image(predict, images[0], grid, num_samples=100, hide_color=0.0,
                   return_samples=True, rng=seeded(5))
    Z, _, pi = e.samples
    cosine = 1 - Z.sum(1).sqrt() / 3.0  # 1 − z′·1 / (‖z′‖·‖1‖), 9 superpixels
    torch.testing.assert_close(pi, torch.from_numpy(lime_kernel(cosine.numpy(), 0.25)))
    auto = lime_image(predict, images[0], num_samples=50, rng=seeded(5))
    assert auto.segments.shape == (12, 12) and auto.weights.shape == (
        int(auto.segments.max()) + 1,)


# ---------------------------------------------------------------------------------------------
# agreement with the lime package end to end


def test_top_features_agree_with_lime_tabular_explainer():
    LimeTabularExplainer = pytest.importorskip("lime.lime_tabular").LimeTabularExplainer

    X = background(n=400, seed=11)
    model = Logistic([2.0, -1.2, 0.0, 0.6, 0.0, -0.3], -0.2)
    reference = LimeTabularExplainer(X.numpy(), discretize_continuous=True, random_state=0)
    ours = lime_tabular(model, X[:6], X, num_samples=2000, num_features=6, rng=seeded(12))
    agree = []
    for i in range(6):
        exp = reference.explain_instance(X[i].numpy(), lambda a: model(torch.from_numpy(a))
                                         .numpy(), labels=(1,), num_features=6,
                                         num_samples=2000)
        theirs = {j for j, _ in exp.local_exp[1][:3]}
        mine = set(ours.top_features(3)[i].tolist())
        agree.append(len(theirs & mine) / len(theirs | mine))
    assert np.mean(agree) >= 0.8, agree


def test_top_superpixels_agree_with_lime_image_explainer():
    LimeImageExplainer = pytest.importorskip("lime.lime_image").LimeImageExplainer

    images, predict, grid = images_and_model(m=2)
    explainer = LimeImageExplainer(random_state=0)
    ours = lime_image(predict, images, grid, num_samples=300, labels=1, hide_color=0.0,
                      rng=seeded(13))
    for i in range(2):
        rgb = images[i, 0, :, :, None].expand(-1, -1, 3).double().numpy()
        exp = explainer.explain_instance(
            rgb, lambda a: predict(torch.from_numpy(a[..., :1]).permute(0, 3, 1, 2)).numpy(),
            labels=(1,), top_labels=None, hide_color=0.0, num_samples=300,
            segmentation_fn=lambda _: grid.numpy())
        theirs = {j for j, _ in exp.local_exp[1][:3]}
        assert theirs == set(ours.top_features(3)[i].tolist()) == {0, 5, 7}


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("kwargs, error, match", [
    ({"predict": "model"}, TypeError, "predict"),
    ({"x": torch.zeros(2, 3, 6, dtype=torch.float64)}, ValueError, "x must have"),
    ({"x": torch.zeros(5, dtype=torch.float64)}, ValueError, "x has 5 features"),
    ({"x": torch.zeros(6, dtype=torch.long)}, TypeError, "x must be a floating"),
    ({"background": torch.zeros(1, 6, dtype=torch.float64)}, ValueError, "background"),
    ({"num_samples": 1}, ValueError, "num_samples"),
    ({"kernel_width": 0.0}, ValueError, "kernel_width"),
    ({"feature_selection": "greedy"}, ValueError, "feature_selection"),
    ({"num_features": 0}, ValueError, "num_features"),
    ({"labels": 2}, ValueError, "labels"),
    ({"labels": [0, 1]}, ValueError, "labels"),
    ({"ridge": -1.0}, ValueError, "ridge"),
    ({"discretize": 1}, TypeError, "discretize"),
    ({"rng": 3}, TypeError, "rng"),
    ({"predict": lambda z: z[None]}, ValueError, "predict must return shape"),
    ({"predict": lambda z: z.sum(1).numpy()}, TypeError, "predict must return a torch"),
])
def test_bad_tabular_input_names_the_argument(kwargs, error, match):
    X = background()
    arguments = {"predict": Logistic(torch.ones(6)), "x": X[0], "background": X}
    arguments.update({k: kwargs.pop(k) for k in list(kwargs) if k in arguments})
    with pytest.raises(error, match=match):
        lime_tabular(arguments["predict"], arguments["x"], arguments["background"],
                     **{"num_samples": 20, **kwargs})


@pytest.mark.parametrize("kwargs, error, match", [
    ({"image": torch.zeros(12, 12)}, ValueError, "image must have"),
    ({"segments": torch.zeros(11, 12, dtype=torch.long)}, ValueError, "segments must have"),
    ({"segments": torch.zeros(12, 12)}, TypeError, "segments must be an integer"),
    ({"hide_color": "black"}, TypeError, "hide_color"),
    ({"num_features": -1}, ValueError, "num_features"),
    ({"labels": 5}, ValueError, "labels"),
])
def test_bad_image_input_names_the_argument(kwargs, error, match):
    images, predict, grid = images_and_model(m=1)
    arguments = {"image": images[0], "segments": grid}
    arguments.update({k: kwargs.pop(k) for k in list(kwargs) if k in arguments})
    with pytest.raises(error, match=match):
        lime_image(predict, arguments["image"], arguments["segments"], num_samples=10,
                   **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"interpretable": torch.zeros(5)}, ValueError, "interpretable must have"),
    ({"predictions": torch.zeros(4, dtype=torch.float64)}, ValueError, "predictions must"),
    ({"weights": -torch.ones(5, dtype=torch.float64)}, ValueError, "weights must be >= 0"),
    ({"reference": torch.zeros(2, 3, dtype=torch.float64)}, ValueError, "reference must"),
    ({"feature_selection": "lars"}, ValueError, "feature_selection"),
])
def test_bad_surrogate_input_names_the_argument(kwargs, error, match):
    arguments = {"interpretable": torch.ones(5, 3, dtype=torch.float64),
                 "predictions": torch.arange(5.0, dtype=torch.float64),
                 "weights": torch.ones(5, dtype=torch.float64)}
    arguments.update({k: kwargs.pop(k) for k in list(kwargs) if k in arguments})
    with pytest.raises(error, match=match):
        fit_surrogate(arguments["interpretable"], arguments["predictions"],
                      arguments["weights"], **kwargs)
