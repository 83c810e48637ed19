"""Helper for test_engine_ddp.py (not a test): trains a small model with engine.fit and saves
its parameters. Run as a single process, or under torchrun with several."""

import os
import sys

import torch
from torch import nn

from deepnotes.engine import Run, fit


def main(out: str, steps: int) -> None:
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(96, 6, generator=generator)
    y = torch.randint(0, 3, (96,), generator=generator)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    run = Run(f"{out}/run")
    rows_seen = []

    def loss(logits, target):
        rows_seen.append(len(target))
        return nn.functional.cross_entropy(logits, target)

    result = fit(model, loss, torch.optim.SGD(model.parameters(), lr=0.1),
                 (X, y), steps=steps, batch_size=24, run=run, name="ddp", device="cpu",
                 seed=7, progress=False, log_every=1)
    rank = os.environ.get("RANK", "0")
    with open(f"{out}/rows-rank{rank}.txt", "w") as handle:
        handle.write(str(sum(rows_seen)))
    if run.writes:
        torch.save({k: v.detach().clone() for k, v in result.model.state_dict().items()},
                   f"{out}/params.pt")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
