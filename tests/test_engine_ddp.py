"""DDP: two CPU processes (gloo, loopback) end where one process with the same global batch
ends, and only rank 0 writes."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).with_name("ddp_train.py")
STEPS = 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_ddp_equals_single_process(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    subprocess.run([sys.executable, str(SCRIPT), str(single), str(STEPS)], check=True, env=env,
                   timeout=120)
    subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
         str(SCRIPT), str(multi), str(STEPS)],
        check=True, env={**env, "OMP_NUM_THREADS": "1"}, timeout=180,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    one = torch.load(single / "params.pt", weights_only=True)
    two = torch.load(multi / "params.pt", weights_only=True)
    start = torch.load(single / "run" / "checkpoints" / "ddp.pt", weights_only=True)
    assert start["step"] == STEPS
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-6)
    # the runs moved the parameters (the comparison is not trivially between initial values)
    torch.manual_seed(0)
    initial = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(),
                                  torch.nn.Linear(16, 3)).state_dict()
    assert (one["0.weight"] - initial["0.weight"]).abs().max() > 1e-3
    # rank 0 alone wrote the log: one line per step, not two
    lines = (multi / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == STEPS
    # each rank computed its loss on half of every global batch of 24
    assert (single / "rows-rank0.txt").read_text() == str(STEPS * 24)
    for rank in (0, 1):
        assert (multi / f"rows-rank{rank}.txt").read_text() == str(STEPS * 12)
