"""Checkpoints: every way a file can fail to resume gets its own diagnosis (unreadable,
unsafe, foreign, incompatible), none suggests weights_only=False, and a failed write (disk
full) stops the run with a clear message and keeps the previous checkpoint."""

from __future__ import annotations

import errno
import io
import pickle
import random

import pytest
import torch
from torch import nn

from deepnotes.engine import (
    CheckpointError,
    CheckpointWriteError,
    Run,
    fit,
    load_checkpoint,
    save_checkpoint,
)
from deepnotes.engine.checkpoint import restore


def make_problem(n=60):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, 5, generator=generator), torch.randint(0, 3, (n,), generator=generator)


def make_model(hidden=8):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def train(folder, *, optimizer=torch.optim.SGD, steps=6, resume=False, scheduler=None,
          **kwargs):
    X, y = make_problem()
    model = make_model()
    return fit(model, nn.functional.cross_entropy, lambda p: optimizer(p, lr=0.05), (X, y),
               steps=steps, batch_size=10, run=Run(folder, resume=resume), name="net",
               checkpoint_every=3, scheduler=scheduler, device="cpu", progress=False, **kwargs)


def checkpoint_of(folder):
    return folder / "checkpoints" / "net.pt"


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def archive(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def diagnosis(path, data: bytes) -> str:
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "weights_only=False" not in message and str(path) in message
    return message


# --------------------------------------------------------------------------------------------
# unreadable


def test_garbage_bytes_are_unreadable_not_unsafe(tmp_path):
    rng = random.Random(0)
    garbage = bytes(rng.randrange(256) for _ in range(4096))
    message = diagnosis(tmp_path / "garbage.pt", garbage)
    assert "unreadable" in message and "unsafe" not in message
    message = diagnosis(tmp_path / "text.pt", b"not a checkpoint at all\n" * 20)
    assert "unreadable" in message and "not a checkpoint" in message


def test_truncated_and_empty_files_are_unreadable(tmp_path):
    good = archive({"w": torch.ones(1000), "step": 3})
    for keep in (200, len(good) // 2, len(good) - 10):
        message = diagnosis(tmp_path / f"cut{keep}.pt", good[:keep])
        assert "unreadable" in message and "truncated" in message
    assert "empty" in diagnosis(tmp_path / "empty.pt", b"")


def test_a_corrupt_archive_is_unreadable(tmp_path):
    corrupt = bytearray(archive({"w": torch.ones(1000), "step": 3}))
    start = corrupt.index(b"data/0") + 100  # inside the tensor's bytes
    for i in range(start, start + 200):
        corrupt[i] ^= 0xFF
    message = diagnosis(tmp_path / "corrupt.pt", bytes(corrupt))
    assert "unreadable" in message and "corrupt" in message


# --------------------------------------------------------------------------------------------
# unsafe


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_objects_are_refused_as_unsafe_and_never_run(tmp_path, capsys):
    for name, data in (("archive.pt", archive({"model": {}, "payload": Payload()})),
                       ("pickle.pt", pickle.dumps({"x": Payload()}))):
        message = diagnosis(tmp_path / name, data)
        assert "refused: unsafe" in message and "print" in message
    assert "must never run" not in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# foreign


def test_a_plain_state_dict_where_a_checkpoint_is_expected_is_foreign(tmp_path):
    train(tmp_path, steps=3)
    save_checkpoint(checkpoint_of(tmp_path), make_model().state_dict())
    with pytest.raises(CheckpointError, match=r"foreign, not a training checkpoint: it holds a "
                                              r"plain state_dict of 4 tensors \(0.weight"):
        train(tmp_path, resume=True)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_other_foreign_files(tmp_path):
    assert "foreign" in diagnosis(tmp_path / "tensor.pt", archive(torch.ones(3)))
    assert "foreign, a plain Python pickle" in diagnosis(tmp_path / "p.pt",
                                                         pickle.dumps({"x": 1}))
    train(tmp_path, steps=3)
    save_checkpoint(checkpoint_of(tmp_path), {"weights": [1, 2], "epoch": 3})
    with pytest.raises(CheckpointError, match="foreign.*keys weights, epoch"):
        train(tmp_path, resume=True)


# --------------------------------------------------------------------------------------------
# incompatible


def test_resuming_adam_from_an_sgd_run_is_incompatible(tmp_path):
    train(tmp_path, steps=3)
    with pytest.raises(CheckpointError, match=r"incompatible, its optimizer is a "
                                              r"torch.optim.sgd.SGD, this run's is a "
                                              r"torch.optim.adam.Adam"):
        train(tmp_path, optimizer=torch.optim.Adam, resume=True)


def test_an_optimizer_state_of_another_kind_is_named_at_load():
    """restore() itself checks the state's keys: an SGD state into Adam (torch would fail
    later with KeyError 'betas')."""
    model = make_model()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    adam = torch.optim.Adam(model.parameters())
    with pytest.raises(CheckpointError, match="lacks the hyperparameters .*betas.* another kind "
                                              "of optimizer"):
        restore(adam, sgd.state_dict(), "optimizer", "x.pt")
    smaller = torch.optim.Adam(list(model.parameters())[:2])
    with pytest.raises(CheckpointError, match=r"\[2\] parameters per group, this run's "
                                              r"optimizer \[4\]"):
        restore(adam, smaller.state_dict(), "optimizer", "x.pt")


def test_a_checkpoint_of_another_model_is_named_at_load():
    with pytest.raises(CheckpointError, match=r"belongs to another model: it differs in shape: "
                                              r"0.weight \(16, 5\) vs \(8, 5\)"):
        restore(make_model(8), make_model(16).state_dict(), "model", "x.pt")
    with pytest.raises(CheckpointError, match="lacks 2.weight, 2.bias"):
        restore(make_model(), nn.Sequential(nn.Linear(5, 8)).state_dict(), "model", "x.pt")


def test_a_scheduler_added_on_resume_is_incompatible(tmp_path):
    train(tmp_path, steps=3)
    with pytest.raises(CheckpointError, match="incompatible.*lacks scheduler"):
        train(tmp_path, resume=True,
              scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2))


# --------------------------------------------------------------------------------------------
# a failed write


def test_a_full_disk_stops_the_run_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_save = torch.save
    writes = []

    def save_until_full(obj, handle, *args, **kwargs):
        writes.append(obj["step"])
        if len(writes) >= 2:  # the second checkpoint: half written, then the disk is full
            handle.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_full)
    with pytest.raises(CheckpointWriteError) as info:
        train(tmp_path / "b", steps=9)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    message = str(info.value)
    assert "at step 6" in message and "No space left on device" in message
    assert "previous checkpoint (step 3) is intact" in message
    assert load_checkpoint(checkpoint_of(tmp_path / "b"))["step"] == 3
    assert [p.name for p in (tmp_path / "b" / "checkpoints").iterdir()] == ["net.pt"]

    # space freed: the resumed run ends where an uninterrupted one does
    monkeypatch.setattr(torch, "save", real_save)
    resumed = train(tmp_path / "b", steps=9, resume=True)
    full = train(tmp_path / "a", steps=9)
    for p, q in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert resumed.history == [{**r, "samples_per_s": s["samples_per_s"]} if "samples_per_s" in r
                               else r for r, s in zip(full.history, resumed.history,
                                                      strict=True)]
