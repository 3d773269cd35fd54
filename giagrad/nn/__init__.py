"""giagrad.nn: modules, layers, activations, losses and initialisers.

Examples
--------
>>> from giagrad import nn
>>> class MLP(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.hidden = nn.Linear(784, 128)
...         self.out = nn.Linear(128, 10)
...     def forward(self, x):
...         return self.out(self.hidden(x).relu())
"""

from giagrad.nn import functional, init, utils  # noqa: F401

# --- module system, containers, linear layers ---
from giagrad.nn.containers import ModuleDict, ModuleList, Sequential  # noqa: F401
from giagrad.nn.flatten import Flatten, Unflatten  # noqa: F401
from giagrad.nn.linear import Identity, Linear  # noqa: F401
from giagrad.nn.module import Module, Parameter  # noqa: F401

# --- activations and losses ---
# isort: split
from giagrad.nn.activation import (  # noqa: F401
    ELU,
    GELU,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSoftmax,
    Mish,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)

# isort: split

# --- convolution, pooling, normalization, dropout, embedding ---
