"""bench_gpt --profile: the per-op profile runs (in a process of its own: it wraps every op) and names the ops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpt.py"


def test_profile_names_the_ops_clipping_and_the_step_in_milliseconds():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", GIAGRAD_NUM_THREADS="1")
    completed = subprocess.run([sys.executable, str(SCRIPT), "--profile", "--quick"], capture_output=True, text=True,
                               env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("giagrad,") and "ms per iteration (1 kernel threads)" in lines[0]
    names = {line.split()[0] for line in lines[1:]}
    assert {"GELU.forward", "GELU.backward", "ScaledDotProductAttention.backward", "Normalize.forward",
            "Linear.backward", "optimizer.step", "clip_grad_norm_", "(engine"} <= names
    for line in lines[1:]:
        assert line.rstrip().endswith("%") and float(line.split()[-3]) >= -1.0  # ms (the remainder may be ~0)
