"""A tiny two-class problem shared by the trainer and callback tests."""

import numpy as np
import pytest

import giagrad
from giagrad import nn, optim
from giagrad.data import DataLoader, TensorDataset


def _make_problem(seed=0, n=96, batch_size=16, dropout=0.0, loader_seed=0, optimizer="sgd"):
    """A model, an optimizer and train / validation loaders for 2-D points split by a line."""
    rng = np.random.default_rng(1234)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    train = TensorDataset(giagrad.tensor(x[: n * 3 // 4]), giagrad.tensor(y[: n * 3 // 4]))
    val = TensorDataset(giagrad.tensor(x[n * 3 // 4:]), giagrad.tensor(y[n * 3 // 4:]))
    train_loader = DataLoader(train, batch_size=batch_size, shuffle=True, seed=loader_seed)
    val_loader = DataLoader(val, batch_size=batch_size)
    giagrad.manual_seed(seed)
    layers = [nn.Linear(2, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    model = nn.Sequential(*layers, nn.Linear(16, 2))
    if optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    else:
        opt = optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
    return model, opt, train_loader, val_loader


@pytest.fixture
def make_problem():
    return _make_problem
