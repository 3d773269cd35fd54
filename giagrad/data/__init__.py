"""Data loading: datasets, samplers, the DataLoader and transforms (``giagrad.data.transforms``).

Real datasets (MNIST, Fashion-MNIST) live in ``giagrad.data.datasets``.

Examples
--------
>>> from giagrad.data import DataLoader, TensorDataset
>>> loader = DataLoader(TensorDataset(giagrad.randn(100, 3), giagrad.arange(100)), batch_size=32,
...                     shuffle=True, seed=0)
>>> x, y = next(iter(loader))
"""

from giagrad.data import transforms
from giagrad.data.dataloader import DataLoader, default_collate, default_convert, get_worker_info
from giagrad.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
    supports_batch_indexing,
)
from giagrad.data.sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "supports_batch_indexing", "DataLoader", "default_collate", "default_convert", "get_worker_info", "Sampler",
    "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
    "DistributedSampler", "transforms",
]
