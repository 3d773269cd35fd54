"""Utilities reached as in PyTorch: ``giagrad.utils.data`` (the same module as ``giagrad.data``)
and ``giagrad.utils.summary`` (a table of a model's layers).

Examples
--------
>>> from giagrad.utils.data import DataLoader, TensorDataset     # torch.utils.data habits
>>> giagrad.utils.data is giagrad.data
True
"""

import sys

from giagrad import data
from giagrad.data import dataloader as _dataloader
from giagrad.data import dataset as _dataset
from giagrad.data import sampler as _sampler

# `import giagrad.utils.data` and `from giagrad.utils.data.dataloader import ...` must find the
# very modules of giagrad.data (one DataLoader class, not two), so they are registered under
# the second name too instead of being imported again from there.
sys.modules[__name__ + ".data"] = data
for _module in (_dataloader, _dataset, _sampler):
    sys.modules[f"{__name__}.data.{_module.__name__.rsplit('.', 1)[-1]}"] = _module

from giagrad.utils.summary import ModelStatistics, summary  # noqa: E402

__all__ = ["data", "summary", "ModelStatistics"]
