"""Checkpoint files: atomic writes, format checks, RNG state capture, load_checkpoint."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from pixsim import checkpoint as ck
from pixsim.models import build_model


def _payload(model: torch.nn.Module, **meta) -> dict:
    return {"format": ck.FORMAT, "format_version": ck.FORMAT_VERSION, "model": model.state_dict(),
            "metadata": {"model_config": model.config(), **meta}}


def test_load_checkpoint_rebuilds_the_model_in_eval_mode(tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet10", width=4, num_classes=7)
    x = torch.rand(5, 1, 12, 12)
    model.train()
    model(x)  # move the BatchNorm running statistics away from their initial values
    model.eval()
    with torch.no_grad():
        expected = model(x)
    path = ck.atomic_save(_payload(model, note="hello", history=[{"epoch": 0, "val_loss": 1.5}]), tmp_path / "m.pt")
    loaded, meta = ck.load_checkpoint(path, device="cpu")
    assert not loaded.training
    assert meta["note"] == "hello" and meta["history"][0]["val_loss"] == 1.5
    with torch.no_grad():
        assert torch.equal(loaded(x), expected)
    assert loaded.config() == model.config()


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ck.atomic_save({"format": ck.FORMAT, "format_version": ck.FORMAT_VERSION, "value": 1}, path)

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise KeyboardInterrupt  # interrupted halfway through writing

    monkeypatch.setattr(ck.torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        ck.atomic_save({"format": ck.FORMAT, "format_version": ck.FORMAT_VERSION, "value": 2}, path)
    monkeypatch.undo()
    assert ck.read_checkpoint(path)["value"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_read_checkpoint_refuses_foreign_truncated_and_missing_files(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="not a pixsim checkpoint"):
        ck.read_checkpoint(foreign)
    good = ck.atomic_save({"format": ck.FORMAT, "format_version": ck.FORMAT_VERSION, "x": torch.ones(1000)},
                          tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ValueError, match="not a readable pixsim checkpoint"):
        ck.read_checkpoint(truncated)
    newer = ck.atomic_save({"format": ck.FORMAT, "format_version": 99}, tmp_path / "newer.pt")
    with pytest.raises(ValueError, match="version 99"):
        ck.read_checkpoint(newer)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ck.read_checkpoint(tmp_path / "missing.pt")


def _draws() -> tuple:
    return random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), np.random.randn(), torch.rand(3).tolist()


def test_rng_state_round_trips_through_a_checkpoint_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    np.random.randn()
    path = ck.atomic_save({"format": ck.FORMAT, "format_version": ck.FORMAT_VERSION, "rng": ck.capture_rng_state()},
                          tmp_path / "rng.pt")
    expected = _draws()
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    assert _draws() != expected
    ck.restore_rng_state(ck.read_checkpoint(path)["rng"])  # loaded with weights_only=True
    assert _draws() == expected
