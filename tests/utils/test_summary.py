"""giagrad.utils.summary: the layer table and its totals."""

from __future__ import annotations

import pytest

import giagrad
from giagrad import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def test_summary_table_and_totals(capsys):
    model = Net()
    model.train()
    stats = giagrad.utils.summary(model, input_size=(2, 1, 8, 8))
    printed = capsys.readouterr().out
    table = str(stats)
    assert printed.strip() == table.strip()
    expected_params = 8 * 9 + 8 + 16 + 128 * 10 + 10
    assert stats.total_params == expected_params == sum(p.numel() for p in model.parameters())
    assert stats.trainable_params == expected_params and stats.non_trainable_params == 0
    assert f"Total params: {expected_params:,}" in table
    lines = table.splitlines()
    names = [line.split(":")[0].strip("│└─ ") for line in lines if "└─" in line]
    assert names == ["Sequential", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Linear"]
    assert "[2, 8, 8, 8]" in table and "[2, 10]" in table and "1,290" in table
    assert model.training  # restored
    assert model.features[1].num_batches_tracked.item() == 0  # ran in eval mode: statistics untouched
    assert repr(stats) == table


def test_summary_counts_frozen_shared_and_integer_inputs():
    embedding = nn.Embedding(10, 4)
    model = nn.Sequential(embedding, nn.Linear(4, 4))
    model[1].weight.requires_grad_(False)
    stats = giagrad.utils.summary(model, input_size=(3, 5), dtypes=[giagrad.long], verbose=0)
    assert stats.total_params == 40 + 16 + 4 and stats.trainable_params == 44
    assert stats.summary_list[-1].output_shape == [3, 5, 4]
    stats = giagrad.utils.summary(model, input_data=giagrad.tensor([[1, 2]]), verbose=0, depth=0)
    assert "Embedding" not in str(stats)


def test_summary_checks_its_arguments():
    with pytest.raises(ValueError, match="input_size"):
        giagrad.utils.summary(nn.Linear(2, 2), verbose=0)
    with pytest.raises(TypeError, match="nn.Module"):
        giagrad.utils.summary(lambda x: x, input_size=(1, 2), verbose=0)
    with pytest.raises(ValueError, match="dtypes"):
        giagrad.utils.summary(nn.Linear(2, 2), input_size=(1, 2), dtypes=[giagrad.float32] * 2, verbose=0)
