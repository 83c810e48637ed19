"""deepnotes.data: generated data has the truth it claims; shipped data has fixed splits."""

import math

import numpy as np
import pytest
import torch

from deepnotes import data


def test_regression_linear_truth_and_noise_level():
    truth = data.regression(20_000, 3, noise=0.3, seed=1)
    assert truth.X.shape == (20_000, 3) and truth.y.shape == (20_000,)
    # f_x is exactly X a + b, and the residual has the promised standard deviation
    torch.testing.assert_close(truth.f_x, truth.X @ truth.coef + truth.intercept)
    residual = truth.y - truth.f_x
    assert abs(float(residual.std()) - 0.3) < 0.3 * 4 / math.sqrt(2 * 20_000)
    assert abs(float(residual.mean())) < 4 * 0.3 / math.sqrt(20_000)
    # least squares recovers the coefficients (closed form, numpy)
    design = np.c_[truth.X.numpy(), np.ones(20_000)]
    solution = np.linalg.lstsq(design, truth.y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(solution[:3], truth.coef.numpy(), atol=0.02)


def test_regression_is_reproducible_and_seed_sensitive():
    a, b = data.regression(50, 2, seed=3), data.regression(50, 2, seed=3)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    assert not torch.equal(a.X, data.regression(50, 2, seed=4).X)


def test_regression_sin_and_callable_and_bad_input():
    sine = data.regression(100, 1, noise=0.0, f="sin", x_dist="uniform", seed=0)
    torch.testing.assert_close(sine.y, torch.sin(2 * math.pi * sine.X[:, 0]))
    assert sine.X.abs().max() <= 1
    custom = data.regression(10, 2, noise=0.0, f=lambda x: x.sum(1))
    torch.testing.assert_close(custom.y, custom.X.sum(1))
    with pytest.raises(ValueError, match="noise"):
        data.regression(10, 1, noise=-1.0)
    with pytest.raises(ValueError, match="n must"):
        data.regression(0, 1)
    with pytest.raises(ValueError, match="f must"):
        data.regression(10, 1, f="cubic")
    with pytest.raises(ValueError, match="shape"):
        data.regression(10, 1, f=lambda x: x)


def test_mixture_ring_and_grid_match_the_pacgan_setup():
    ring = data.mixture_ring(4000, seed=0)
    assert ring.centers.shape == (8, 2) and ring.std == 0.01
    torch.testing.assert_close(ring.centers.norm(dim=1), torch.ones(8))
    # each sample lies within 5σ of its own mode, and every mode is used
    distance = (ring.samples - ring.centers[ring.labels]).norm(dim=1)
    assert float(distance.max()) < 5 * 0.01 * math.sqrt(2)
    assert set(ring.labels.tolist()) == set(range(8))
    grid = data.mixture_grid(100, seed=0)
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(map(float, c)) for c in grid.centers} == expected
    assert grid.std == 0.05


def test_digits_split_is_fixed_disjoint_and_scaled():
    from sklearn.datasets import load_digits

    x_train, y_train = data.digits("train")
    x_test, y_test = data.digits("test")
    assert x_train.shape == (1347, 1, 8, 8) and x_test.shape == (450, 1, 8, 8)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert float(x_train.min()) == 0.0 and float(x_train.max()) == 1.0
    # together they are exactly scikit-learn's 1,797 images (as multisets of rows)
    reference = np.sort((load_digits().images / 16.0).reshape(1797, -1).astype(np.float32), 0)
    ours = np.sort(torch.cat([x_train, x_test]).reshape(1797, -1).numpy(), 0)
    np.testing.assert_array_equal(ours, reference)
    assert torch.equal(data.digits("test")[0], x_test)
    with pytest.raises(ValueError, match="split"):
        data.digits("validation")


def test_mnist1d_matches_the_generator_and_caches(tmp_path, monkeypatch):
    from mnist1d.data import get_dataset_args, make_dataset

    monkeypatch.setenv("DEEPNOTES_CACHE", str(tmp_path))
    small = {"num_samples": 200}
    x, y = data.mnist1d("train", **small)
    x_test, y_test = data.mnist1d("test", **small)
    assert x.shape == (160, 40) and x_test.shape == (40, 40)
    args = get_dataset_args()
    args.num_samples = 200
    reference = make_dataset(args)
    np.testing.assert_allclose(x.numpy(), reference["x"], rtol=1e-6)
    np.testing.assert_array_equal(y_test.numpy(), reference["y_test"])
    cached = list(tmp_path.glob("mnist1d-*.npz"))
    assert len(cached) == 1
    # a corrupt cache file is regenerated, not trusted
    cached[0].write_bytes(b"not an npz")
    data.datasets._mnist1d_arrays.cache_clear()
    x_again, _ = data.mnist1d("train", **small)
    assert torch.equal(x_again, x)
    with pytest.raises(ValueError, match="unknown MNIST-1D"):
        data.mnist1d("train", colour=3)


def test_load_by_name():
    x, _ = data.load("digits", "test")
    assert x.shape == (450, 1, 8, 8)
    with pytest.raises(ValueError, match="unknown data set"):
        data.load("cifar10")


@pytest.mark.parametrize("call, error, match", [
    (lambda: data.mixture_ring(10, radius=float("nan")), ValueError, "radius"),
    (lambda: data.mixture_ring(10, radius=float("inf")), ValueError, "radius"),
    (lambda: data.mixture_grid(10, spacing=float("inf")), ValueError, "spacing"),
    (lambda: data.mixture_grid(10, spacing=-1.0), ValueError, "spacing"),
    (lambda: data.mixture_ring(10, std=float("nan")), ValueError, "std"),
    (lambda: data.mixture_ring(10, modes=2.5), TypeError, "modes"),
    (lambda: data.mixture_ring(10, rng=3), TypeError, "rng"),
    (lambda: data.regression(10, 1, noise=float("nan")), ValueError, "noise"),
    (lambda: data.regression(10, 1, noise=float("inf")), ValueError, "noise"),
    (lambda: data.regression(10.0, 1), TypeError, "n"),
    (lambda: data.digits_resized("train", size=7), ValueError, "size"),
])
def test_non_finite_or_wrong_arguments_are_refused(call, error, match):
    """A NaN radius or an infinite spacing used to return non-finite samples."""
    with pytest.raises(error, match=match):
        call()


def test_numpy_and_tensor_counts_are_accepted():
    ring = data.mixture_ring(np.int64(100), modes=np.int64(8), seed=0)
    same = data.mixture_ring(100, modes=8, seed=0)
    assert torch.equal(ring.samples, same.samples) and ring.centers.shape == (8, 2)
    grid = data.mixture_grid(torch.tensor(50), side=np.int32(3), spacing=np.float64(2.0))
    assert grid.samples.shape == (50, 2) and grid.centers.shape == (9, 2)
    assert bool(torch.isfinite(grid.samples).all())
    truth = data.regression(np.int64(20), np.int64(2), noise=np.float32(0.5), seed=1)
    assert truth.X.shape == (20, 2)
