"""Time per GAN training iteration: ``generative.train_gan`` vs a minimal hand-written loop.

One iteration = k = 5 WGAN-GP critic steps + 1 generator step, batch 256, generator and critic
MLPs with three hidden layers of 512 ReLU units, Adam. Both do the same updates on the same
data; they run interleaved in one process after a warm-up, and we report medians of the time
per iteration. ``train_gan`` adds what the plain loop lacks — seeded batches, the NaN guard,
logging, checkpoint hooks — and the ratio says what that costs.

    .venv/bin/python benchmarks/gan.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from deepnotes import data
from deepnotes.generative import Discriminator, Generator, train_gan

K, BATCH, WIDTH, LAM = 5, 256, 512, 10.0


def networks(seed: int = 0):
    torch.manual_seed(seed)
    hidden = (WIDTH,) * 3
    return Generator(2, 2, hidden=hidden), Discriminator(2, hidden=hidden)


def plain_loop(G, D, x_all: torch.Tensor, iterations: int, seed: int = 0) -> None:
    """The minimal loop: WGAN-GP with per-example ε and per-example gradient norms."""
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))
    noise = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(seed))
    position = 0
    for _ in range(iterations):
        for p in D.parameters():
            p.requires_grad_(True)
        for _ in range(K):
            if position + BATCH > len(order):
                position = 0
            x = x_all[order[position:position + BATCH]]
            position += BATCH
            with torch.no_grad():
                fake = G(torch.randn(BATCH, 2, generator=noise))
            opt_d.zero_grad(set_to_none=True)
            eps = torch.rand(BATCH, 1, generator=noise)
            mid = (eps * x + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(mid).sum(), mid, create_graph=True)
            penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
            loss_d = -D(x).mean() + D(fake).mean() + LAM * penalty
            loss_d.backward()
            opt_d.step()
        for p in D.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        loss_g = -D(G(torch.randn(BATCH, 2, generator=noise))).mean()
        loss_g.backward()
        opt_g.step()
        float(loss_d.detach()), float(loss_g.detach())  # the same host syncs as train_gan's guard
    for p in D.parameters():
        p.requires_grad_(True)


def ours(G, D, x_all: torch.Tensor, iterations: int, seed: int = 0) -> None:
    train_gan(G, D, x_all, loss="wgan-gp", steps=iterations, k=K, batch_size=BATCH,
              optimizer="adam", lr=1e-4, betas=(0.0, 0.9), log_every=max(1, iterations),
              device="cpu", seed=seed, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--iterations", type=int, default=None, help="per timed call")
    parser.add_argument("--rounds", type=int, default=None, help="timed calls per side")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    iterations, rounds = (3, 3) if args.quick else (20, 7)
    iterations, rounds = args.iterations or iterations, args.rounds or rounds
    x_all = data.mixture_ring(20_000).samples
    G, D = networks()
    ours(G, D, x_all, 2)  # warm-up both paths
    plain_loop(G, D, x_all, 2)
    times = {"ours": [], "plain": []}
    for r in range(rounds):
        for name, fn in (("ours", ours), ("plain", plain_loop)) if r % 2 == 0 else (
                ("plain", plain_loop), ("ours", ours)):
            G, D = networks(r)
            start = time.perf_counter()
            fn(G, D, x_all, iterations, seed=r)
            times[name].append((time.perf_counter() - start) / iterations)
    ours_s, plain_s = statistics.median(times["ours"]), statistics.median(times["plain"])
    print(json.dumps({
        "bench": f"wgan-gp-iteration-k{K}-b{BATCH}-mlp{WIDTH}",
        "ours_s": round(ours_s, 5), "reference": "plain loop", "reference_s": round(plain_s, 5),
        "speedup": round(plain_s / ours_s, 3),
        "ratio_ours_over_reference": round(ours_s / plain_s, 3),
        "threads": torch.get_num_threads(), "iterations": iterations, "rounds": rounds,
    }))


if __name__ == "__main__":
    main()
