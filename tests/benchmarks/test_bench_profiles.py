"""The benchmarks' diagnostic runs, each in a process of its own: the ``--profile`` runs (they
wrap ops or numpy) name where the time goes, in milliseconds; the kernel-threads run reports
both thread counts and both process counts."""

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
    rows = {line.rsplit(None, 3)[0].strip(): float(line.split()[-3]) for line in lines[1:]}
    # the quick size: batch 4, 8 steps, input 8, hidden 16 (stacked width 16 + 8 + 1)
    assert "matmul (64, 25) @ (25, 4)" in rows  # the per-step product forward
    assert "matmul (16, 64) @ (64, 4)" in rows  # and backward
    assert "(gate passes, the engine and Python)" in rows
    assert all(ms >= 0 for name, ms in rows.items() if name.startswith(("matmul", "ascontiguousarray")))


def test_kernel_threads_benchmark_reports_both_thread_counts_and_both_process_counts():
    completed = subprocess.run([sys.executable, str(BENCHMARKS / "bench_kernel_threads.py"), "--quick"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "1 kernel thread" in out and "2 kernel threads" in out
    assert "in one process alone" in out and "in each of two processes at once" in out
