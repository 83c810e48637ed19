"""Convolution forward + backward: our im2col cross-correlation against torch's conv.

Comparisons (float32, on the device given by ``--device``, default "auto"):

- ``conv2d-64x32x28x28``: x of 64×32×28×28, 32 filters of 3×3, padding 1 — the batch the issue
  names; ``deepnotes.nn.conv.cross_correlation2d`` vs ``torch.nn.functional.conv2d``.
- ``conv2d-strided-dilated``: same input, 64 filters 3×3, stride 2, dilation 2, padding 2.
- ``conv1d-mnist1d``: the MNIST-1D CNN's second layer, x of 100×25×19, 25 filters of 3,
  stride 2, padding 1 (a small problem where per-call overhead dominates).

Each timing is one forward and a backward to x, w and b. Ours and torch's run on the same
inputs, interleaved in random order, after warm-up, and the median over ``--rounds`` is
reported as one JSON line per comparison, speedup = reference_s / ours_s (below 1: ours is
slower; ours is the reference implementation, the models use torch's conv).

    .venv/bin/python benchmarks/conv.py            # ~1 min on 2 CPU cores
    .venv/bin/python benchmarks/conv.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from deepnotes.engine import resolve_device  # noqa: E402
from deepnotes.nn import conv  # noqa: E402

CASES = {
    # name: (x shape, w shape, options, ours, reference)
    "conv2d-64x32x28x28": ((64, 32, 28, 28), (32, 32, 3, 3), dict(stride=1, padding=1),
                           conv.cross_correlation2d, F.conv2d),
    "conv2d-strided-dilated": ((64, 32, 28, 28), (64, 32, 3, 3),
                               dict(stride=2, padding=2, dilation=2),
                               conv.cross_correlation2d, F.conv2d),
    "conv1d-mnist1d": ((100, 25, 19), (25, 25, 3), dict(stride=2, padding=1),
                       conv.cross_correlation1d, F.conv1d),
}
QUICK_SHAPES = {"conv2d-64x32x28x28": (8, 32, 28, 28), "conv2d-strided-dilated": (8, 32, 28, 28)}


def forward_backward(fn, x, w, b, options, upstream, device) -> float:
    for t in (x, w, b):
        t.grad = None
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(x, w, b, **options)
    out.backward(upstream)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench(name: str, rounds: int, warmup: int, quick: bool, device: torch.device) -> dict:
    x_shape, w_shape, options, ours, reference = CASES[name]
    if quick:
        x_shape = QUICK_SHAPES.get(name, x_shape)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, generator=generator).to(device).requires_grad_()
    w = torch.randn(w_shape, generator=generator).to(device).requires_grad_()
    b = torch.randn(w_shape[0], generator=generator).to(device).requires_grad_()
    with torch.no_grad():
        expected = reference(x, w, b, **options)
        error = float((ours(x, w, b, **options) - expected).abs().max())
    upstream = torch.randn(expected.shape, generator=generator).to(device)
    contenders = {"ours": ours, "reference": reference}
    for fn in contenders.values():
        for _ in range(warmup):
            forward_backward(fn, x, w, b, options, upstream, device)
    times = {label: [] for label in contenders}
    order = list(contenders)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for label in order:
            times[label].append(forward_backward(contenders[label], x, w, b, options, upstream,
                                                 device))
    ours_s = statistics.median(times["ours"])
    reference_s = statistics.median(times["reference"])
    return {
        "bench": name + ("-quick" if quick else ""),
        "ours_s": round(ours_s, 6),
        "reference": f"torch.nn.functional.{reference.__name__}",
        "reference_s": round(reference_s, 6),
        "speedup": round(reference_s / ours_s, 3),
        "max_abs_err": error,
        "device": str(device),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches, few rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rounds = args.rounds or (3 if args.quick else 20)
    warmup = 1 if args.quick else 3
    for name in CASES:
        print(json.dumps(bench(name, rounds, warmup, args.quick, device)), flush=True)


if __name__ == "__main__":
    main()
