"""``torchrun --nproc_per_node=2 -m deepnotes run NAME``: two gloo CPU processes train every
model of an experiment data-parallel and leave one run folder whose metrics match a
single-process run with the same global batch."""

import json
import os
import socket
import subprocess
import sys

import pytest

from deepnotes import experiments

EXPERIMENT = "cnn-vs-mlp"
SETTINGS = {"steps": 150, "eval_every": 50}  # three models trained through fit, global batch 100
#: DDP averages the two half-batch gradients: the same update up to float rounding, which Adam
#: can amplify over 150 steps; test accuracies (1,000 images) agree to well within a point
ACCURACY_TOLERANCE = 0.01


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_torchrun_two_processes_write_one_run_folder_matching_one_process(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    sets = [arg for key, value in SETTINGS.items() for arg in ("--set", f"{key}={value}")]
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
         "-m", "deepnotes", "run", EXPERIMENT, "--quick", "--out", str(tmp_path / "ddp"),
         *sets],
        env={**env, "OMP_NUM_THREADS": "1"}, timeout=240, capture_output=True, text=True,
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr
    # rank 1 printed nothing: the experiment's header line appears once
    assert launched.stdout.count(f"{EXPERIMENT} (quick)") == 1

    folders = list((tmp_path / "ddp" / EXPERIMENT).iterdir())
    assert len(folders) == 1, folders
    ddp = json.loads((folders[0] / "result.json").read_text())
    assert ddp["processes"] == 2
    # the experiment's sweep units ran in turn on every rank; rank 0 alone recorded them
    records = sorted(p.name for p in (folders[0] / "units").glob("*.json"))
    assert records and not list((folders[0] / "units").glob("*.error.txt"))
    assert {p.name for p in folders[0].iterdir()} >= {"config.json", "result.json", "units"}

    config = experiments.preset(EXPERIMENT, "quick", **SETTINGS)
    single = experiments.execute(EXPERIMENT, config, tmp_path / "single", preset="quick")
    for model in ("logistic", "mlp", "cnn"):
        key = f"{model}_accuracy"
        assert ddp["metrics"][key] == pytest.approx(single["metrics"][key],
                                                    abs=ACCURACY_TOLERANCE), key
    # the models learned something (the comparison is not between untrained models)
    assert single["metrics"]["cnn_accuracy"] > 0.5
