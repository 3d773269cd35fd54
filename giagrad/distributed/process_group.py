"""The default process group: starting MPI, rank and world size, and ending the job on an error.

One process group exists per process, as PyTorch's default group: a duplicate of MPI's
``COMM_WORLD``, so that giagrad's messages never mix with those of other MPI code in the same
program. It is created by :func:`init_process_group` and forgotten by
:func:`destroy_process_group`; MPI itself is finalized when the interpreter exits (MPI cannot be
started twice in one process, so a group destroyed and created again reuses the running MPI).

Faults
------
A collective waits for every rank, so a rank that stops while the others wait would hang the
job. :func:`init_process_group` therefore installs an exception hook (in a world of more than one
process): an uncaught exception on any rank prints ``rank R of N`` and the traceback to stderr,
then calls ``MPI.COMM_WORLD.Abort``, and ``mpiexec`` ends every rank within seconds. A rank
killed by a signal is noticed by ``mpiexec`` itself, which ends the others and names the rank.
"""

from __future__ import annotations

import os
import sys
import traceback
from types import ModuleType, TracebackType
from typing import Any

__all__ = ["init_process_group", "destroy_process_group", "is_available", "is_initialized", "get_rank",
           "get_world_size", "launched_by_mpiexec", "INSTALL_COMMAND"]

INSTALL_COMMAND = 'pip install "giagrad[distributed]"'

# Environment variables through which launchers tell a process the size of its world:
# Open MPI's mpiexec, then MPICH's (Hydra) and other PMI launchers.
_LAUNCHER_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


class _ProcessGroup:
    """The communicator giagrad's collectives use, with its rank and size (read once)."""

    def __init__(self, mpi: ModuleType, comm: Any) -> None:
        self.mpi = mpi
        self.comm = comm
        self.rank: int = comm.Get_rank()
        self.size: int = comm.Get_size()
        self.previous_excepthook: Any = None


_group: _ProcessGroup | None = None


def _import_mpi() -> ModuleType:
    """``mpi4py.MPI`` (importing it starts MPI), or an ImportError naming the install command."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"giagrad.distributed needs MPI through mpi4py, which is not installed: "
                          f"{INSTALL_COMMAND}") from error
    return MPI


def is_available() -> bool:
    """Whether MPI (``mpi4py``) can be imported, without starting it."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def launched_by_mpiexec() -> int:
    """The world size ``mpiexec`` (or another MPI launcher) announced to this process; 0 if none.

    Lets code refuse to train alone by mistake when started as one of several ranks.
    """
    for name in _LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def init_process_group(backend: str | None = "mpi", init_method: str | None = None, world_size: int = -1,
                       rank: int = -1) -> None:
    """Start MPI and create the default process group, as ``torch.distributed.init_process_group``.

    Parameters
    ----------
    backend : {"mpi"}
        The only backend (None means "mpi").
    init_method : None
        Accepted for PyTorch's signature; MPI's launcher tells each rank its peers, so it must be None.
    world_size, rank : int
        Optional checks: when given (not -1), they must equal what ``mpiexec`` started.

    Raises
    ------
    ImportError
        When mpi4py is not installed (the message names ``pip install "giagrad[distributed]"``).
    RuntimeError
        When the group is already initialized.

    Examples
    --------
    >>> import giagrad.distributed as dist
    >>> dist.init_process_group("mpi")                       # doctest: +SKIP
    >>> dist.get_rank(), dist.get_world_size()               # doctest: +SKIP
    (0, 1)
    """
    global _group
    if backend not in (None, "mpi"):
        raise ValueError(f"init_process_group: backend {backend!r} is not supported; giagrad's only backend is 'mpi'")
    if init_method is not None:
        raise ValueError("init_process_group: init_method must be None: mpiexec tells each rank its peers")
    if _group is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized")
    mpi = _import_mpi()
    group = _ProcessGroup(mpi, mpi.COMM_WORLD.Dup())
    if world_size != -1 and world_size != group.size:
        raise ValueError(f"init_process_group: world_size={world_size}, but mpiexec started {group.size} processes")
    if rank != -1 and rank != group.rank:
        raise ValueError(f"init_process_group: rank={rank}, but MPI gave this process rank {group.rank}")
    if group.size > 1:
        group.previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_uncaught_exception
    _group = group


def _abort_on_uncaught_exception(exc_type: type[BaseException], exc: BaseException,
                                 tb: TracebackType | None) -> None:
    """Print which rank failed and why, then end every rank of the job (instead of a hang)."""
    group = _group
    if group is None:  # the group was destroyed while this hook stayed installed elsewhere
        sys.__excepthook__(exc_type, exc, tb)
        return
    try:
        sys.stdout.flush()
        header = f"giagrad.distributed: rank {group.rank} of {group.size} failed; aborting all ranks\n"
        sys.stderr.write(header + "".join(traceback.format_exception(exc_type, exc, tb)))
        sys.stderr.flush()
    finally:
        group.mpi.COMM_WORLD.Abort(1)


def _default_group(caller: str) -> _ProcessGroup:
    if _group is None:
        raise RuntimeError(f"{caller}: the default process group is not initialized; "
                           "call giagrad.distributed.init_process_group() first")
    return _group


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and no :func:`destroy_process_group` since)."""
    return _group is not None


def get_rank() -> int:
    """This process's rank, from 0 to ``get_world_size() - 1``."""
    return _default_group("get_rank").rank


def get_world_size() -> int:
    """How many processes the group holds (1 when started without ``mpiexec``)."""
    return _default_group("get_world_size").size


def destroy_process_group() -> None:
    """Forget the default process group (MPI stays started until the interpreter exits)."""
    global _group
    group = _default_group("destroy_process_group")
    if sys.excepthook is _abort_on_uncaught_exception:
        sys.excepthook = group.previous_excepthook
    group.comm.Free()
    _group = None
