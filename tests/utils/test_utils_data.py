"""giagrad.utils.data is giagrad.data, so torch.utils.data imports port."""

from __future__ import annotations

import importlib

import giagrad


def test_utils_data_is_the_data_module():
    import giagrad.utils.data as data
    from giagrad.utils.data import DataLoader, TensorDataset
    from giagrad.utils.data.dataloader import default_collate
    from giagrad.utils.data.sampler import RandomSampler

    assert data is giagrad.data is giagrad.utils.data
    assert DataLoader is giagrad.data.DataLoader and TensorDataset is giagrad.data.TensorDataset
    assert default_collate is giagrad.data.default_collate and RandomSampler is giagrad.data.RandomSampler
    assert importlib.import_module("giagrad.utils.data") is giagrad.data
