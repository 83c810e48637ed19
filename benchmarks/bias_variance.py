"""Bias–variance decomposition: vectorized replicas vs refitting one model at a time.

1. ``linear-200``: bootstrap decomposition of least-squares linear regression, 200 rounds —
   ours (``theory.bootstrap_decompose``: the 200 resamples as 200 weighted least-squares
   problems on the one design, solved by ``core.linalg.least_squares`` in one batch — the
   normal equations by Cholesky, these designs being well-conditioned) vs
   mlxtend's ``bias_variance_decomp`` (refits scikit-learn's ``LinearRegression`` 200 times),
   same data. The estimates are checked: identical to mlxtend on mlxtend's own resamples, and
   within Monte Carlo error on independent resamples.
2. ``mlp-200``: Monte Carlo decomposition of a small MLP (1 → 32 → 32 → 1, tanh, Adam, full
   batch) over 200 fresh training sets — ours vectorized (one ``StackedModules`` trained by
   ``engine.fit``) vs ours one at a time (``vectorize=False``: ``engine.fit`` per replica, same
   initializations and batches); the two give the same numbers.

Interleaved repeats after a warm-up; medians. One JSON line per comparison on stdout.
Run: ``.venv/bin/python benchmarks/bias_variance.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

from deepnotes import data
from deepnotes.supervised import LinearRegression
from deepnotes.theory import Training, bootstrap_decompose, decompose


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def interleaved(ours, reference, repeats: int):
    ours(), reference()  # warm-up
    ours_t, ref_t, values = [], [], None
    for _ in range(repeats):
        t, values_ours = timed(ours)
        ours_t.append(t)
        t, values_ref = timed(reference)
        ref_t.append(t)
        values = (values_ours, values_ref)
    return statistics.median(ours_t), statistics.median(ref_t), values


def linear_benchmark(rounds: int, repeats: int) -> dict:
    from mlxtend.evaluate import bias_variance_decomp
    from sklearn.linear_model import LinearRegression as SkLinearRegression

    train = data.regression(500, 10, 1.0, "linear", seed=0)
    test = data.regression(500, 10, 1.0, train.f, seed=1)
    X, y, Xt, yt = (t.numpy() for t in (train.X, train.y, test.X, test.y))

    def ours():
        return bootstrap_decompose(LinearRegression, X, y, Xt, yt, rounds, seed=123)

    def reference():
        return bias_variance_decomp(SkLinearRegression(), X, y, Xt, yt, loss="mse",
                                    num_rounds=rounds, random_seed=123)

    ours_s, ref_s, (mine, theirs) = interleaved(ours, reference, repeats)
    draws = np.random.RandomState(123)
    indices = np.stack([draws.choice(np.arange(len(X)), size=len(X), replace=True)
                        for _ in range(rounds)])
    same = bootstrap_decompose(LinearRegression, X, y, Xt, yt, indices=indices)
    same_diff = max(abs(a - b) for a, b in zip((same.risk, same.bias, same.variance), theirs,
                                               strict=True))
    return {
        "bench": f"linear-{rounds}", "ours_s": round(ours_s, 4),
        "reference": "mlxtend bias_variance_decomp (sklearn LinearRegression)",
        "reference_s": round(ref_s, 4), "speedup": round(ref_s / ours_s, 1),
        "ours": {"risk": mine.risk, "bias": mine.bias, "variance": mine.variance},
        "mlxtend": dict(zip(("risk", "bias", "variance"), map(float, theirs), strict=True)),
        "max_abs_diff_on_mlxtend_draws": same_diff,
    }


def mlp_benchmark(rounds: int, repeats: int, steps: int) -> dict:
    def sample(generator):
        drawn = data.regression(64, 1, 0.3, "sin", x_dist="uniform", rng=generator,
                                dtype=torch.float32)
        return drawn.X, drawn.y

    x_test = torch.linspace(-1, 1, 200)[:, None]
    f_test = torch.sin(2 * math.pi * x_test[:, 0])

    def make_model():
        return nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                             nn.Linear(32, 1), nn.Flatten(0))

    training = Training(steps=steps, batch_size=None,
                        optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))

    def run(vectorize: bool):
        return decompose(make_model, sample, x_test, f_test, rounds, noise_var=0.09,
                         training=training, vectorize=vectorize, device="cpu", seed=0)

    ours_s, ref_s, (vec, loop) = interleaved(lambda: run(True), lambda: run(False), repeats)
    return {
        "bench": f"mlp-{rounds}", "ours_s": round(ours_s, 3),
        "reference": f"one at a time (engine.fit per replica, {steps} Adam steps)",
        "reference_s": round(ref_s, 3), "speedup": round(ref_s / ours_s, 1),
        "ours": vec.as_dict(), "max_abs_diff_vs_one_at_a_time": max(
            abs(vec.as_dict()[k] - loop.as_dict()[k]) for k in ("risk", "bias2", "variance")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: fastest for small models on a shared "
                             "CPU; 0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds = 20 if args.quick else 200
    repeats = 1 if args.quick else 3
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, rounds={rounds}, "
        f"repeats={repeats} (medians)")
    print(json.dumps(linear_benchmark(rounds, repeats)), flush=True)
    print(json.dumps(mlp_benchmark(rounds, repeats, steps=20 if args.quick else 200)),
          flush=True)


if __name__ == "__main__":
    main()
