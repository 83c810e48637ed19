"""Optimizer step time: deepnotes.optim against torch.optim, every mode, same inputs.

Parameters: 10 tensors of 1M float32 (10M in all), fixed random gradients. For each algorithm
it times one ``step()`` of ours (default mode, and each explicit form) and of the matching
torch.optim optimizer in each of its modes (``foreach=False``, ``foreach=True``, ``fused=True``
where torch has it), interleaved in random order in the same process, after warm-up (which
includes our one-off compilation), median over ``--rounds`` steps. It also times an in-place
``a.add_(b)`` over 10M floats (12 bytes moved per element), interleaved in the same rounds, and
reports each optimizer's achieved bandwidth as a fraction of that one.

Bytes per element of one step (float32): plain SGD reads θ, g and writes θ (12); SGD with
momentum, AdaGrad and RMSProp also read and write one state tensor (20); Adam two (28).

Output: one JSON line per comparison (ours in default mode against each torch mode, and each of
our explicit forms against torch's same form), then a Markdown table on stderr.

    .venv/bin/python benchmarks/optimizers.py            # the full table (~2 min + compiles)
    .venv/bin/python benchmarks/optimizers.py --quick    # smoke run, small tensors, no compile
    .venv/bin/python benchmarks/optimizers.py --crossover  # eager vs compiled Adam by size
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from deepnotes import optim  # noqa: E402

ALGORITHMS = {
    # name: (ours factory, torch factory, bytes per element, torch has fused)
    "sgd": (lambda p, **k: optim.SGD(p, lr=1e-3, **k),
            lambda p, **k: torch.optim.SGD(p, lr=1e-3, **k), 12, True),
    "sgd-momentum": (lambda p, **k: optim.SGD(p, lr=1e-3, momentum=0.9, **k),
                     lambda p, **k: torch.optim.SGD(p, lr=1e-3, momentum=0.9, **k), 20, True),
    "adagrad": (lambda p, **k: optim.AdaGrad(p, lr=1e-2, **k),
                lambda p, **k: torch.optim.Adagrad(p, lr=1e-2, eps=1e-7, **k), 20, True),
    "rmsprop": (lambda p, **k: optim.RMSProp(p, lr=1e-3, eps_inside_sqrt=False, **k),
                lambda p, **k: torch.optim.RMSprop(p, lr=1e-3, **k), 20, False),
    "adam": (lambda p, **k: optim.Adam(p, lr=1e-3, **k),
             lambda p, **k: torch.optim.Adam(p, lr=1e-3, **k), 28, True),
}

OURS_MODES = {
    "default": {},
    "single": {"foreach": False, "fused": False},
    "foreach": {"foreach": True},
    "compiled": {"fused": True},
}
TORCH_MODES = {
    "single": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}


def make_params(values: list[torch.Tensor], grads: list[torch.Tensor]) -> list[torch.nn.Parameter]:
    params = [torch.nn.Parameter(v.clone()) for v in values]
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    return params


def time_call(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class AddBaseline:
    """``a.add_(b)`` over as many floats as the parameters: the bandwidth yardstick, timed
    interleaved with the optimizers so that it sees the same machine load."""

    def __init__(self, numel: int):
        self.a, self.b = torch.randn(numel), torch.randn(numel)

    def step(self) -> None:
        self.a.add_(self.b)


def bench_algorithm(name, values, grads, rounds, warmup, ours_modes, log) -> dict[str, float]:
    ours, reference, _, has_fused = ALGORITHMS[name]
    contenders = {"add_": AddBaseline(sum(v.numel() for v in values))}
    for mode, kwargs in ours_modes.items():
        contenders[f"ours-{mode}"] = ours(make_params(values, grads), **kwargs)
    for mode, kwargs in TORCH_MODES.items():
        if mode == "fused" and not has_fused:
            continue
        contenders[f"torch-{mode}"] = reference(make_params(values, grads), **kwargs)
    for label, opt in contenders.items():
        start = time.perf_counter()
        for _ in range(warmup):
            opt.step()
        log(f"  {name} {label}: warm-up {time.perf_counter() - start:.1f} s")
    times = {label: [] for label in contenders}
    order = list(contenders)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for label in order:
            times[label].append(time_call(contenders[label].step))
    medians = {label: statistics.median(ts) for label, ts in times.items()}
    if "ours-default" in contenders:
        group = contenders["ours-default"].param_groups[0]
        medians["_default_form"] = contenders["ours-default"].form(group)
    return medians


def bandwidth(bytes_moved: float, seconds: float) -> float:
    return bytes_moved / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small tensors, few rounds")
    parser.add_argument("--crossover", action="store_true",
                        help="eager single-tensor vs compiled Adam by parameter count")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="algorithms to run")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    torch.manual_seed(0)
    if args.crossover:
        crossover(log, args.rounds or 30)
        return
    tensors, size = (10, 10_000) if args.quick else (10, 1_000_000)
    rounds = args.rounds or (5 if args.quick else 25)
    warmup = 1 if args.quick else 3
    values = [torch.randn(size) for _ in range(tensors)]
    grads = [torch.randn(size) for _ in range(tensors)]
    numel = tensors * size
    ours_modes = dict(OURS_MODES)
    if args.quick:
        ours_modes.pop("compiled")  # compiling takes ~15 s per algorithm
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {tensors} x {size} "
        f"float32, median of {rounds} interleaved steps")

    rows = []
    for name in args.only or ALGORITHMS:
        medians = bench_algorithm(name, values, grads, rounds, warmup, ours_modes, log)
        default_form = medians.pop("_default_form")
        add_time = medians.pop("add_")
        add_bw = bandwidth(12 * numel, add_time)
        print(json.dumps({"bench": f"{name}-add_-baseline", "reference": "a.add_(b)",
                          "reference_s": round(add_time, 6), "GB_per_s": round(add_bw, 1)}))
        bytes_moved = ALGORITHMS[name][2] * numel
        torch_modes = [k for k in medians if k.startswith("torch-")]
        fastest = min(torch_modes, key=medians.get)
        for label in torch_modes:
            print(json.dumps({
                "bench": f"{name}-step", "ours": f"default ({default_form})",
                "ours_s": round(medians["ours-default"], 6),
                "reference": f"torch.optim {label[6:]}",
                "reference_s": round(medians[label], 6),
                "speedup": round(medians[label] / medians["ours-default"], 3),
            }))
        for mode in ("single", "foreach"):
            if f"ours-{mode}" in medians:
                print(json.dumps({
                    "bench": f"{name}-step-{mode}", "ours_s": round(medians[f"ours-{mode}"], 6),
                    "reference": f"torch.optim {mode}",
                    "reference_s": round(medians[f"torch-{mode}"], 6),
                    "speedup": round(medians[f"torch-{mode}"] / medians[f"ours-{mode}"], 3),
                }))
        for label, seconds in medians.items():
            bw = bandwidth(bytes_moved, seconds)
            rows.append((name, label + (f" ({default_form})" if label == "ours-default" else ""),
                         seconds * 1e3, bw, bw / add_bw, add_bw,
                         medians[fastest] / seconds if label.startswith("ours") else None))
        log(f"  {name}: ours default {medians['ours-default'] * 1e3:.2f} ms vs fastest torch "
            f"({fastest}) {medians[fastest] * 1e3:.2f} ms")

    log("")
    log("| algorithm | implementation | ms/step | GB/s | fraction of add_ bandwidth "
        "(add_ GB/s, same rounds) | speed vs fastest torch |")
    log("|---|---|---|---|---|---|")
    for name, label, ms, bw, fraction, add_bw, relative in rows:
        rel = f"{relative:.2f}" if relative is not None else ""
        log(f"| {name} | {label} | {ms:.2f} | {bw:.1f} | {fraction:.2f} ({add_bw:.1f}) | {rel} |")


def crossover(log, rounds: int) -> None:
    """Adam step time of our forms by layout: the rule behind ``COMPILE_MIN_NUMEL``."""
    layouts = {
        "mlp-40-100-10": [(100, 40), (100,), (10, 100), (10,)],
        "10x1k": [(1_000,)] * 10,
        "10x10k": [(10_000,)] * 10,
        "10x100k": [(100_000,)] * 10,
        "10x1M": [(1_000_000,)] * 10,
    }
    for label, shapes in layouts.items():
        values = [torch.randn(s) for s in shapes]
        grads = [torch.randn(s) for s in shapes]
        kinds = {"single": {"foreach": False, "fused": False}, "foreach": {"foreach": True}}
        numel = sum(v.numel() for v in values)
        if numel >= 1_000_000:  # compiling costs ~10 s per layout: only where it may pay off
            kinds["compiled"] = {"fused": True}
        forms = {name: optim.Adam(make_params(values, grads), **kw) for name, kw in kinds.items()}
        compile_s = None
        if "compiled" in forms:
            start = time.perf_counter()
            forms["compiled"].step()
            compile_s = time.perf_counter() - start
        for opt in forms.values():
            opt.step()
        times = {name: [] for name in forms}
        for _ in range(rounds):
            for name, opt in forms.items():
                times[name].append(time_call(opt.step))
        medians = {name: statistics.median(ts) for name, ts in times.items()}
        line = {"bench": f"adam-forms-{label}", "numel": numel,
                **{f"{name}_s": round(t, 7) for name, t in medians.items()}}
        if compile_s is not None:
            eager = min(medians["single"], medians["foreach"])
            line["compile_s"] = round(compile_s, 1)
            line["steps_to_repay_compile"] = round(compile_s / max(eager - medians["compiled"],
                                                                   1e-9))
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
