"""Build the ``mpiexec`` command that starts a data-parallel job (for scripts, tests and benchmarks).

Open MPI refuses to run as root unless told ``--allow-run-as-root`` (containers and CI often run
as root), and refuses more ranks than physical cores unless told ``--oversubscribe`` (harmless
when the ranks fit); other MPI
implementations (MPICH) accept neither flag and need neither.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

__all__ = ["find_mpiexec", "mpiexec_command"]


def find_mpiexec() -> str | None:
    """The ``mpiexec`` on PATH (``pip install "giagrad[distributed]"`` brings Open MPI's), or None."""
    return shutil.which("mpiexec")


@functools.lru_cache(maxsize=4)
def _is_open_mpi(mpiexec: str) -> bool:
    try:
        version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "Open MPI" in version or "OpenRTE" in version


def mpiexec_command(nprocs: int, *command: str, mpiexec: str | None = None) -> list[str]:
    """``[mpiexec, <flags>, "-n", nprocs, *command]``, with the flags this machine's MPI needs.

    Examples
    --------
    >>> import subprocess, sys
    >>> subprocess.run(mpiexec_command(2, sys.executable, "train.py"), check=True)   # doctest: +SKIP
    """
    if not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"mpiexec_command: nprocs should be a positive integer, got {nprocs!r}")
    mpiexec = mpiexec or find_mpiexec()
    if mpiexec is None:
        from giagrad.distributed.process_group import INSTALL_COMMAND

        raise FileNotFoundError(f"mpiexec_command: no mpiexec on PATH; {INSTALL_COMMAND} brings Open MPI's")
    flags: list[str] = []
    if _is_open_mpi(mpiexec):
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--allow-run-as-root")
        # Always: Open MPI counts physical cores, which os.cpu_count() cannot tell from hyperthreads.
        flags.append("--oversubscribe")
    return [mpiexec, *flags, "-n", str(nprocs), *command]
