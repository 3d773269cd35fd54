"""giagrad.nn.parallel: data-parallel training over MPI (``DistributedDataParallel``).

Importable without MPI; see ``giagrad.distributed`` for the process group.
"""

from giagrad.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
