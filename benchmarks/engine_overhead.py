"""engine.fit against a hand-written minimal PyTorch loop: same model, data, optimizer, batch.

MLP (40-100-100-10) on MNIST-1D, Adam 1e-2, batch 100, one CPU thread (small models run
faster on one). Rounds alternate which loop goes first; medians of samples/s are compared.
Prints one JSON line per variant (fit bare, fit with a run folder: logging and checkpoints);
target ratio (fit / plain) ≥ 0.95 for the bare one.

    python benchmarks/engine_overhead.py [--quick] [--steps N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from deepnotes import data
from deepnotes.engine import fit
from deepnotes.nn.models import MLP

BATCH = 100


def plain_loop(model, optimizer, X, y, steps: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    step = 0
    while step < steps:
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), BATCH):
            if step == steps:
                return
            index = order[start : start + BATCH]
            loss = nn.functional.cross_entropy(model(X[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1


def engine_loop(model, optimizer, X, y, steps: int, seed: int) -> None:
    fit(model, nn.functional.cross_entropy, optimizer, (X, y), steps=steps, batch_size=BATCH,
        seed=seed, device="cpu", progress=False)


def engine_loop_with_run(model, optimizer, X, y, steps: int, seed: int) -> None:
    """fit as experiments use it: metrics.jsonl every 50 steps, 10 atomic checkpoints."""
    import tempfile

    from deepnotes.engine import Run

    with tempfile.TemporaryDirectory() as folder:
        fit(model, nn.functional.cross_entropy, optimizer, (X, y), steps=steps,
            batch_size=BATCH, seed=seed, device="cpu", progress=False, run=Run(folder))


def timed(loop, X, y, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    model = MLP([40, 100, 100, 10])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    start = time.perf_counter()
    loop(model, optimizer, X, y, steps, seed)
    return steps * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    steps, rounds = (200, 3) if args.quick else (args.steps, args.rounds)
    torch.set_num_threads(1)
    X, y = data.mnist1d("train")
    loops = {"engine-fit-mlp-mnist1d-b100": engine_loop,
             "engine-fit-with-run-folder-mlp-mnist1d-b100": engine_loop_with_run,
             "plain": plain_loop}
    for loop in loops.values():  # warm-up
        timed(loop, X, y, 100, seed=0)
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(rounds):
        order = list(loops.items())
        for name, loop in order[r % len(order):] + order[: r % len(order)]:
            rates[name].append(timed(loop, X, y, steps, seed=r))
    reference_rate = statistics.median(rates.pop("plain"))
    for name, samples in rates.items():
        ours_rate = statistics.median(samples)
        print(json.dumps({
            "bench": name,
            "ours_samples_per_s": round(ours_rate), "reference": "plain PyTorch loop",
            "reference_samples_per_s": round(reference_rate),
            "ours_s": round(steps * BATCH / ours_rate, 4),
            "reference_s": round(steps * BATCH / reference_rate, 4),
            "speedup": round(ours_rate / reference_rate, 3),
        }))


if __name__ == "__main__":
    main()
