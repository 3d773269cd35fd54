"""giagrad.distributed in one process: errors without MPI or a group, the launcher command, a world of one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import giagrad.distributed as dist
from giagrad.distributed import launch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def without_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `import mpi4py` now raises ImportError


def test_without_mpi4py_the_error_names_the_install_command(without_mpi4py):
    assert not dist.is_initialized()
    with pytest.raises(ImportError, match=r'pip install "giagrad\[distributed\]"'):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


@pytest.mark.parametrize("call", [
    dist.get_rank, dist.get_world_size, dist.barrier, dist.destroy_process_group,
    lambda: dist.all_reduce(np.zeros(2)), lambda: dist.broadcast(np.zeros(2)),
    lambda: dist.all_gather([np.zeros(2)], np.zeros(2)),
])
def test_collectives_before_init_process_group_raise(call):
    with pytest.raises(RuntimeError, match="init_process_group"):
        call()


@pytest.mark.parametrize(("options", "message"), [
    ({"backend": "gloo"}, "only backend is 'mpi'"),
    ({"backend": "nccl"}, "only backend is 'mpi'"),
    ({"init_method": "env://"}, "init_method must be None"),
])
def test_init_process_group_rejects_other_backends(options, message):
    with pytest.raises(ValueError, match=message):
        dist.init_process_group(**options)


@pytest.mark.parametrize(("environment", "expected"), [
    ({}, 0), ({"OMPI_COMM_WORLD_SIZE": "4"}, 4), ({"PMI_SIZE": "2"}, 2),
])
def test_launched_by_mpiexec_reads_the_launchers_variables(monkeypatch, environment, expected):
    for name in launch_variables():
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert dist.launched_by_mpiexec() == expected


def launch_variables() -> tuple[str, ...]:
    from giagrad.distributed import process_group

    return process_group._LAUNCHER_SIZE_VARIABLES


def test_mpiexec_command_adds_open_mpis_flags(monkeypatch):
    monkeypatch.setattr(launch, "_is_open_mpi", lambda path: True)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    command = dist.mpiexec_command(2, "python", "train.py", mpiexec="mpiexec")
    assert command == ["mpiexec", "--allow-run-as-root", "--oversubscribe", "-n", "2", "python", "train.py"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "--allow-run-as-root" not in dist.mpiexec_command(2, "python", mpiexec="mpiexec")
    monkeypatch.setattr(launch, "_is_open_mpi", lambda path: False)  # MPICH knows neither flag
    assert dist.mpiexec_command(3, "python", mpiexec="mpiexec") == ["mpiexec", "-n", "3", "python"]


def test_mpiexec_command_errors(monkeypatch):
    with pytest.raises(ValueError, match="positive integer"):
        dist.mpiexec_command(0, "python", mpiexec="mpiexec")
    monkeypatch.setattr(launch, "find_mpiexec", lambda: None)
    with pytest.raises(FileNotFoundError, match="giagrad\\[distributed\\]"):
        dist.mpiexec_command(2, "python")


WORLD_OF_ONE = textwrap.dedent("""
    import numpy as np
    import giagrad, giagrad.distributed as dist
    from giagrad import nn, optim
    from giagrad.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
    x = giagrad.tensor([1.0, -2.0])
    for op in dist.ReduceOp:
        dist.all_reduce(x, op=op)
    work = dist.all_reduce(x, op=dist.ReduceOp.AVG, async_op=True)
    assert work.wait() and work.wait()  # waiting twice is harmless
    dist.broadcast(x, src=0)
    pieces = [np.zeros(2, np.float32)]
    dist.all_gather(pieces, x)
    dist.barrier()
    assert x.tolist() == [1.0, -2.0] and pieces[0].tolist() == [1.0, -2.0], (x, pieces)
    read_only = np.zeros(2)
    read_only.flags.writeable = False
    for call, error, words in [
        (lambda: dist.broadcast(x, src=1), ValueError, "src should be a rank"),
        (lambda: dist.all_reduce([1.0, 2.0]), TypeError, "got list"),
        (lambda: dist.all_reduce(np.zeros(2, np.float16)), TypeError, "float16"),
        (lambda: dist.all_reduce(np.zeros(2, np.int64), op=dist.ReduceOp.AVG), TypeError, "floating"),
        (lambda: dist.all_reduce(np.zeros(2), op="sum"), TypeError, "ReduceOp"),
        (lambda: dist.all_reduce(read_only), ValueError, "read-only"),
        (lambda: dist.all_gather([np.zeros(2), np.zeros(2)], np.zeros(2)), ValueError, "list of 1"),
        (lambda: dist.all_gather([np.zeros(3)], np.zeros(2)), ValueError, "shape"),
        (lambda: dist.init_process_group(), RuntimeError, "already initialized"),
    ]:
        try:
            call()
        except error as raised:
            assert words in str(raised), (words, raised)
        else:
            raise AssertionError(f"expected {error.__name__} with {words!r}")
    giagrad.manual_seed(0)
    model = DistributedDataParallel(nn.Linear(3, 2))
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    before = model.module.weight.data.copy()
    model(giagrad.ones(4, 3)).sum().backward()
    optimizer.step()
    assert not np.array_equal(before, model.module.weight.data)
    dist.destroy_process_group()
    assert not dist.is_initialized()
    dist.init_process_group()  # again: MPI keeps running
    print("WORLD OF ONE OK")
""")


@pytest.mark.skipif(not dist.is_available(), reason='needs mpi4py: pip install "giagrad[distributed]"')
def test_without_mpiexec_a_world_of_one_just_works():
    env = {key: value for key, value in os.environ.items() if key not in launch_variables()}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", WORLD_OF_ONE], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0 and "WORLD OF ONE OK" in result.stdout, result.stdout + result.stderr
