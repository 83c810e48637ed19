"""Integrated gradients: ours against captum's ``IntegratedGradients``, same process, same
model, inputs, baseline, step count and quadrature rule, interleaved, after warm-up; medians.

Set-up: ``nn.CNN2d(1, 3, (16, 32))`` (untrained: the cost does not depend on the weights) on a
batch of 16 generated 32×32 ``shapes`` images, target = each image's label, black baseline,
50 steps of Gauss–Legendre (captum's default) — 800 path points in one forward and backward
pass for both. The line also gives the largest absolute difference of the two attributions
(issue 15: equal to 1e-5; target: ours ≤ 1.1× captum's time, i.e. speedup ≥ 0.91).

Run: ``.venv/bin/python benchmarks/ig.py`` (``--quick`` for a short smoke run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from deepnotes import data  # noqa: E402
from deepnotes.explain import integrated_gradients  # noqa: E402
from deepnotes.nn.models import CNN2d  # noqa: E402

BATCH, STEPS, METHOD = 16, 50, "gausslegendre"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    rounds = 2 if args.quick else 15

    from captum.attr import IntegratedGradients  # a dev dependency: the reference

    torch.manual_seed(0)
    model = CNN2d(1, 3, (16, 32)).eval()
    images = data.shapes(BATCH, 32, seed=0)
    x, target = images.images, images.labels
    reference = IntegratedGradients(model)

    runs = {
        "ours": lambda: integrated_gradients(model, x, target, baseline=0.0, steps=STEPS,
                                             method=METHOD),
        "captum": lambda: reference.attribute(x, baselines=0.0, target=target, n_steps=STEPS,
                                              method=METHOD),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    results = {}
    with warnings.catch_warnings():  # captum warns that it sets requires_grad on x
        warnings.simplefilter("ignore", UserWarning)
        for fn in runs.values():  # warm-up
            fn()
        names = list(runs)
        for round_index in range(rounds):
            order = names if round_index % 2 == 0 else names[::-1]  # neither always first
            for name in order:
                start = time.perf_counter()
                results[name] = runs[name]()
                times[name].append(time.perf_counter() - start)
    ours_s, reference_s = statistics.median(times["ours"]), statistics.median(times["captum"])
    difference = float((results["ours"] - results["captum"].detach()).abs().max())
    print(json.dumps({
        "bench": f"integrated-gradients-{STEPS}", "batch": BATCH, "method": METHOD,
        "max_abs_difference": difference, "ours_s": round(ours_s, 4), "reference": "captum",
        "reference_s": round(reference_s, 4), "speedup": round(reference_s / ours_s, 3),
    }))


if __name__ == "__main__":
    main()
