"""Run by tests/distributed/test_ranks.py as ``mpiexec -n 2 python fault_check.py MODE``.

Both ranks all-reduce in a loop; after a few rounds rank 1 fails (MODE "raise": an uncaught
exception; MODE "kill": SIGKILL to itself) while rank 0 waits in the next all-reduce, which
would never finish: the job must end anyway, within seconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import giagrad.distributed as dist


def main() -> None:
    mode = sys.argv[1]
    dist.init_process_group("mpi")
    rank = dist.get_rank()
    buffer = np.ones(1000, dtype=np.float32)
    deadline = time.monotonic() + 120
    rounds = 0
    while time.monotonic() < deadline:
        if rank == 1 and rounds == 3:
            if mode == "raise":
                raise RuntimeError("deliberate failure on rank 1")
            os.kill(os.getpid(), signal.SIGKILL)
        dist.all_reduce(buffer)
        buffer.fill(1.0)
        rounds += 1
    print("the job outlived its failed rank", flush=True)


if __name__ == "__main__":
    main()
