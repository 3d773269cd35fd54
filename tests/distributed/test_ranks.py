"""Two-rank runs under ``mpiexec -n 2``: training equals one process, and a failing rank ends the job.

Each test launches MPI once (a few seconds); the launched scripts check several things each
(see ``ranks_check.py`` and ``fault_check.py``). Skipped, with the reason, when mpiexec or
mpi4py is missing; the ``dev`` extra installs both, so CI runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from giagrad.distributed import find_mpiexec, is_available, mpiexec_command

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# A hung job would otherwise hang CI: every launch has this deadline.
TIMEOUT_SECONDS = 120
# How long a job may live after one of its ranks failed (MPI startup included).
FAULT_SECONDS = 30

pytestmark = pytest.mark.skipif(
    find_mpiexec() is None or not is_available(),
    reason='needs mpiexec and mpi4py: pip install "giagrad[distributed]" (the dev extra brings them)')


def launch(script: str, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``mpiexec -n 2 python script args`` (a file here, or ``-m module``) with this checkout's
    giagrad; (result, seconds)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"  # two ranks on two cores: one BLAS thread each
    target = [script] if script == "-m" else [str(HERE / script)]
    command = mpiexec_command(2, sys.executable, *target, *args)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=env, cwd=ROOT)
    return result, time.monotonic() - started


def test_two_ranks_train_as_one_process_with_the_global_batch(tmp_path):
    result, _ = launch("ranks_check.py", str(tmp_path))
    assert result.returncode == 0 and "ALL CHECKS PASSED" in result.stdout, result.stdout + result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["best.npz", "last.npz"]  # no temporary files


@pytest.mark.parametrize("mode", ["raise", "kill"])
def test_a_failing_rank_ends_the_whole_job(mode):
    result, seconds = launch("fault_check.py", mode)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "outlived" not in output
    assert seconds < FAULT_SECONDS, f"the job took {seconds:.1f} s to end after rank 1 failed"
    if mode == "raise":
        assert "rank 1 of 2 failed" in output and "deliberate failure on rank 1" in output, output
    else:
        assert "rank 1" in output and ("signal 9" in output or "Killed" in output), output


def test_the_mlp_recipe_on_two_ranks_reaches_the_one_process_result(tmp_path):
    options = ["--offline", "--limit", "600", "--epochs", "2", "--batch-size", "64"]
    command = ["-m", "recipes.mnist_mlp", "--distributed", *options, "--out", str(tmp_path / "two")]
    result, _ = launch(*command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("MLP on mnist: test_loss") == 1  # rank 0 alone prints
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    from recipes import mnist_mlp

    one = mnist_mlp.main([*options, "--quiet", "--out", str(tmp_path / "one")])
    # equal up to float32 rounding: the same loss, and at most one of the 120 test images flipped
    assert abs(two["test_loss"] - one["test_loss"]) < 1e-4 and abs(two["test_accuracy"] - one["test_accuracy"]) < 0.01
