"""Executors on gan-zoo-sized units: the local pool and Ray against serial, and Ray's overhead.

The units are real gan-zoo units (its quick preset: a 2×64 MLP GAN on the 8-mode ring,
``--steps`` discriminator steps, default 700: ≈ 2 s of one quiet thread each), run through the
sweep driver's own call (``experiments.call_unit``) on three executors: ``serial`` (this
process, one thread), ``local`` (a spawned pool of ``--workers`` processes, one thread each)
and ``ray`` (a local runtime with ``--workers`` CPUs, one CPU per unit). Pools and the Ray
runtime are started and warmed up (their workers import torch and deepnotes) before timing:
what is measured is the sweep, not the start-up. Rounds rotate which executor goes first;
medians are compared.

One JSON line per comparison (DESIGN.md): the local pool and Ray vs serial (target speedup
≥ 1.8 with 2 workers on 2 cores), and Ray vs the local pool: the overhead per unit in seconds
and in % of a unit's time (target ≤ 5%).

    python benchmarks/executors.py [--quick] [--units N] [--workers W] [--rounds R]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch

from deepnotes import experiments
from deepnotes.engine import executors
from deepnotes.experiments import call_unit

MODULE = "deepnotes.experiments.gan_zoo"


def warm_up(seconds: float) -> float:
    """A no-op unit that makes sure a worker has imported the driver and the experiment."""
    time.sleep(seconds)
    return seconds


def sweep(executor, config, units) -> float:
    """Seconds to run every unit on ``executor`` (all must succeed)."""
    started = time.perf_counter()
    for index, value in executor.map_unordered(call_unit,
                                               [(MODULE, config, unit) for unit in units]):
        if isinstance(value, executors.UnitError):
            raise RuntimeError(f"unit {units[index]['key']} failed:\n{value.traceback}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=700,
                        help="discriminator steps per unit (700: ≈ 2 s of one quiet thread)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = experiments.preset("gan-zoo", "quick", device="cpu")
    n_units, rounds = (args.workers, 1) if args.quick else (args.units, args.rounds)
    config = dataclasses.replace(config, steps=20 if args.quick else args.steps)
    losses = config.losses
    config = dataclasses.replace(config, seeds=-(-n_units // len(losses)))
    units = experiments.get("gan-zoo").units(config)[:n_units]

    pools = {"serial": executors.make("serial"),
             "local": executors.make("local", workers=args.workers)}
    try:
        started = time.perf_counter()
        pools["ray"] = executors.make("ray", workers=args.workers, logging_level="ERROR",
                                      log_to_driver=False)
        ray_start = time.perf_counter() - started
    except ImportError as err:
        print(f"skipping ray: {err}")
        ray_start = None
    try:
        for name, pool in pools.items():  # start and warm every worker; one unit in each
            list(pool.map_unordered(warm_up, [(0.5,)] * args.workers))
            sweep(pool, config, units[: 1 if name == "serial" else args.workers])
        times: dict[str, list[float]] = {name: [] for name in pools}
        order = list(pools)
        for r in range(rounds):
            for name in order[r % len(order):] + order[: r % len(order)]:
                times[name].append(sweep(pools[name], config, units))
    finally:
        for pool in pools.values():
            pool.close()

    medians = {name: statistics.median(values) for name, values in times.items()}
    per_unit = medians["serial"] / len(units)
    for name in ("local", "ray"):
        if name not in medians:
            continue
        print(json.dumps({
            "bench": f"executors-{name}-{args.workers}-workers-{len(units)}-gan-zoo-units",
            "ours_s": round(medians[name], 3), "reference": "serial (one process, one thread)",
            "reference_s": round(medians["serial"], 3),
            "speedup": round(medians["serial"] / medians[name], 3),
            "unit_s": round(per_unit, 3), "target_speedup": 1.8,
            **({"ray_start_s": round(ray_start, 2)} if name == "ray" else {}),
        }))
    if "ray" in medians:
        overhead = (medians["ray"] - medians["local"]) / len(units) * args.workers
        print(json.dumps({
            "bench": f"executors-ray-overhead-vs-local-{args.workers}-workers",
            "ours_s": round(medians["ray"], 3), "reference": "local pool",
            "reference_s": round(medians["local"], 3),
            "speedup": round(medians["local"] / medians["ray"], 3),
            "overhead_per_unit_s": round(overhead, 4),
            "overhead_pct_of_unit": round(100 * overhead / per_unit, 2), "target_pct": 5.0,
        }))


if __name__ == "__main__":
    main()
