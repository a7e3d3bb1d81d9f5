"""``benchmarks/gpu_step.py`` keeps working on a CPU (CI has no GPU): run as a script with a
width-2 ResNet18, it prints both tables (every step option: fp32 / bf16 autocast, channels_last,
and, in the slow variant, torch.compile with the cheap ``eager`` backend (tracing takes ~20 s);
every pair mode; the three data paths) and the verdict against the README's GPU goal, and writes
the same rows as JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLAIN = {"fp32", "bf16", "fp32 channels_last", "bf16 channels_last"}
COMPILED = {"bf16 channels_last compile", "fp32 compile"}
MODES = {"plain", "separate", "joint", "fused"}


@pytest.mark.parametrize("backend", ["none", pytest.param("eager", marks=pytest.mark.slow)])
def test_gpu_step_benchmark_runs_on_cpu_and_prints_every_option(tmp_path, backend):
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_step.py"), "--device", "cpu", "--threads", "1",
         "--width", "2", "--batch", "8", "--k", "4", "--steps", "1", "--warmup", "1", "--compile-backend", backend,
         "--data-images", "32", "--workers", "0", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    options = [r for r in data["rows"] if r["table"] == "options"]
    # every configuration x every kind of step, each with a finite, positive time
    configs = PLAIN | (COMPILED if backend != "none" else set())
    assert {(r["config"], r["mode"]) for r in options} == {(c, m) for c in configs for m in MODES}
    for r in options:
        assert r["ms_per_step"] > 0 and math.isfinite(r["images_per_s"]), r
        assert math.isclose(r["ratio_to_plain"], r["ms_per_step"] / next(
            o["ms_per_step"] for o in options if o["config"] == r["config"] and o["mode"] == "plain")), r
        expected = 8 + (0 if r["mode"] == "plain" else 8)  # classification + 2k pair images
        assert math.isclose(r["images_per_s"], expected / (r["ms_per_step"] / 1e3)), r
    paths = [r["config"] for r in data["rows"] if r["table"] == "data"]
    assert len(paths) == 3 and any("DataLoader" in p for p in paths) and any("device uint8" in p for p in paths)
    text = proc.stdout
    assert "| options | step | ms/step | images/s | reg/plain |" in text
    assert ("| bf16 channels_last compile | fused |" in text) == (backend != "none")
    assert "| bf16 channels_last | fused |" in text
    assert "| data path (regularized step, separate) |" in text
    assert "best paper-faithful (separate) step:" in text and "goal <= 5 min" in text and "goal <= 1.65" in text
    assert "device: CPU, 1 threads" in data["header"]
