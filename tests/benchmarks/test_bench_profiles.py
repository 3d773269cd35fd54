"""The benchmarks' ``--profile`` runs (each in a process of its own: they wrap ops or numpy) name
where the time goes, in milliseconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def profile_lines(script: str) -> list[str]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", GIAGRAD_NUM_THREADS="1")
    completed = subprocess.run([sys.executable, str(BENCHMARKS / script), "--profile", "--quick"],
                               capture_output=True, text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.splitlines()


def test_gpt_profile_names_the_ops_clipping_and_the_step_in_milliseconds():
    lines = profile_lines("bench_gpt.py")
    assert lines[0].startswith("giagrad,") and "ms per iteration (1 kernel threads)" in lines[0]
    names = {line.split()[0] for line in lines[1:]}
    assert {"GELU.forward", "GELU.backward", "ScaledDotProductAttention.backward", "Normalize.forward",
            "Linear.backward", "optimizer.step", "clip_grad_norm_", "(engine"} <= names
    for line in lines[1:]:
        assert line.rstrip().endswith("%") and float(line.split()[-3]) >= -1.0  # ms (the remainder may be ~0)


def test_lstm_profile_names_the_products_and_copies_by_shape():
    lines = profile_lines("bench_lstm.py")
    assert lines[0].startswith("giagrad,") and "ms per repetition" in lines[0]
    rows = {line.rsplit(None, 2)[0].strip(): float(line.split()[-2]) for line in lines[1:]}
    # the quick size: batch 4, 8 steps, input 8, hidden 16 (stacked width 16 + 8 + 1)
    assert "matmul (64, 25) @ (25, 4)" in rows  # the per-step product forward
    assert "matmul (16, 64) @ (64, 4)" in rows  # and backward
    assert "(gate passes, the engine and Python)" in rows
    assert all(ms >= 0 for name, ms in rows.items() if name.startswith(("matmul", "ascontiguousarray")))
