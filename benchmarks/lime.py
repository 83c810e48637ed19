"""LIME speed: ``deepnotes.explain`` beside the `lime` package, same process, same model,
instance and sample count, interleaved (the order rotates every round), after warm-up; medians.

- lime-tabular: one explanation of one breast-cancer test row (a 30-64-2 MLP, standardized
  features, 5,000 samples, quartile discretization, 10 features, lime's defaults) —
  ``lime_tabular`` vs ``LimeTabularExplainer.explain_instance`` (the explainer built once,
  outside the timing). ``model_s``: the model alone on 5,000 rows, the floor. Issue 15's
  target: ≥ 10×.
- lime-image: one 64×64 ``shapes`` image, SLIC superpixels (the same function and settings
  for both, inside the timing), 1,000 samples, a small CNN (untrained: speed does not depend
  on the weights) — ``lime_image`` vs ``LimeImageExplainer.explain_instance`` (its default
  batches of 10 images per model call). ``model_s``: the model alone on 1,000 images in calls
  of 64 (our default for 64×64), the floor. Target: ≥ 2×.
- lime-tabular-batch-100: 100 test rows in one ``lime_tabular`` call vs 100
  ``explain_instance`` calls. Target: ≥ 30×.

Run: ``.venv/bin/python benchmarks/lime.py`` (``--quick``: a smoke run, one round, 10 rows
in the batch). One thread
(torch and the BLAS under numpy), as the lead measures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

# This file is called lime.py: run as a script, its folder comes first on sys.path and
# ``import lime`` would import this file instead of the package. Drop that entry.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from torch import nn  # noqa: E402

from deepnotes.data.shapes import shapes  # noqa: E402
from deepnotes.engine import fit  # noqa: E402
from deepnotes.explain import lime_image, lime_tabular, slic_segments  # noqa: E402

SAMPLES_TABULAR, SAMPLES_IMAGE, NUM_FEATURES, BATCH = 5000, 1000, 10, 100


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(runs: dict, repeats: int) -> dict:
    """Median seconds of each callable over ``repeats`` rounds after one warm-up round."""
    for fn in runs.values():
        fn()
    names, times = list(runs), {name: [] for name in runs}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(runs[name]))
    return {name: statistics.median(t) for name, t in times.items()}


def report(bench: str, medians: dict, **extra) -> None:
    ours, reference = medians["ours"], medians["lime"]
    print(json.dumps({"bench": bench, "ours_s": round(ours, 4), "reference": "lime 0.2",
                      "reference_s": round(reference, 4),
                      "speedup": round(reference / ours, 2),
                      **{k: round(v, 4) if isinstance(v, float) else v
                         for k, v in extra.items()}}), flush=True)


def tabular(repeats: int, batch_repeats: int, instances: int) -> None:
    from lime.lime_tabular import LimeTabularExplainer

    data = load_breast_cancer()
    X = torch.tensor(data.data, dtype=torch.float32)
    y = torch.tensor(data.target)
    X = (X - X.mean(0)) / X.std(0)
    x_train, x_test, y_train = X[:400], X[400:], y[:400]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 2))
    fit(model, nn.functional.cross_entropy, torch.optim.Adam(model.parameters(), 1e-3),
        (x_train, y_train), steps=300, batch_size=64, device="cpu", seed=0, progress=False)
    model.eval()

    def predict(rows):
        return model(rows).softmax(-1)

    def predict_numpy(rows):
        with torch.no_grad():
            return predict(torch.from_numpy(rows).float()).numpy()

    explainer = LimeTabularExplainer(x_train.numpy(), discretize_continuous=True,
                                     random_state=0)
    row = x_test[0]
    label = int(predict(row[None]).argmax())
    rows = torch.randn(SAMPLES_TABULAR, 30)
    medians = interleaved({
        "ours": lambda: lime_tabular(predict, row, x_train, num_samples=SAMPLES_TABULAR,
                                     num_features=NUM_FEATURES, labels=label,
                                     rng=torch.Generator().manual_seed(0)),
        "lime": lambda: explainer.explain_instance(row.numpy(), predict_numpy,
                                                   labels=(label,),
                                                   num_features=NUM_FEATURES,
                                                   num_samples=SAMPLES_TABULAR),
        "model": lambda: predict_numpy(rows.numpy()),
    }, repeats)
    report("lime-tabular", medians, samples=SAMPLES_TABULAR, features=30,
           model_s=medians["model"])

    batch = x_test[:instances]
    labels = predict(batch).argmax(1)
    medians = interleaved({
        "ours": lambda: lime_tabular(predict, batch, x_train, num_samples=SAMPLES_TABULAR,
                                     num_features=NUM_FEATURES, labels=labels,
                                     rng=torch.Generator().manual_seed(0)),
        "lime": lambda: [explainer.explain_instance(r.numpy(), predict_numpy, labels=(int(k),),
                                                    num_features=NUM_FEATURES,
                                                    num_samples=SAMPLES_TABULAR)
                         for r, k in zip(batch, labels, strict=True)],
    }, batch_repeats)
    report(f"lime-tabular-batch-{len(batch)}", medians, instances=len(batch),
           samples=SAMPLES_TABULAR)


def image(repeats: int) -> None:
    from lime.lime_image import LimeImageExplainer

    picture = shapes(1, size=64, rng=torch.Generator().manual_seed(0)).images[0]  # (1, 64, 64)
    torch.manual_seed(0)
    model = nn.Sequential(  # a small shapes classifier: 64×64 → 16×16×16 → 5 classes
        nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(16 * 16 * 16, 5)).eval()

    def predict(images):
        with torch.no_grad():
            return model(images).softmax(-1)

    def predict_numpy(images):  # lime hands over (N, H, W, 3) RGB arrays
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(images[..., :1])).float()
            return predict(x.permute(0, 3, 1, 2)).numpy()

    def segmentation(rgb):
        return slic_segments(torch.from_numpy(rgb[..., :1]).permute(2, 0, 1)).numpy()

    rgb = picture[0, :, :, None].expand(-1, -1, 3).double().numpy()
    label = int(predict(picture[None]).argmax())
    explainer = LimeImageExplainer(random_state=0)
    stack = picture[None].expand(SAMPLES_IMAGE, -1, -1, -1).contiguous()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        medians = interleaved({
            "ours": lambda: lime_image(predict, picture, num_samples=SAMPLES_IMAGE,
                                       labels=label, rng=torch.Generator().manual_seed(0)),
            "lime": lambda: explainer.explain_instance(
                rgb, predict_numpy, labels=(label,), top_labels=None,
                num_samples=SAMPLES_IMAGE, segmentation_fn=segmentation),
            "model": lambda: [predict(stack[s:s + 64]) for s in range(0, SAMPLES_IMAGE, 64)],
        }, repeats)
    report("lime-image", medians, samples=SAMPLES_IMAGE, size=64,
           superpixels=int(slic_segments(picture).max()) + 1, model_s=medians["model"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        import lime  # noqa: F401  (the reference; a development dependency)
    except ImportError:
        print(json.dumps({"bench": "lime", "skipped": "the lime package is not installed"}))
        return
    repeats, batch_repeats, instances = (1, 1, 10) if args.quick else (7, 3, BATCH)
    tabular(repeats, batch_repeats, instances)
    image(repeats)


if __name__ == "__main__":
    main()
