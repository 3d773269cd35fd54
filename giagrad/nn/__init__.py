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
    CELU,
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
    Softsign,
    Tanh,
)
from giagrad.nn.loss import (  # noqa: F401
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)

# isort: split

# --- convolution, pooling, normalization, dropout, embedding ---
from giagrad.nn.conv import Conv1d, Conv2d, Conv3d, ConvTranspose2d  # noqa: F401
from giagrad.nn.dropout import Dropout, Dropout2d  # noqa: F401
from giagrad.nn.embedding import Embedding  # noqa: F401
from giagrad.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm  # noqa: F401
from giagrad.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, AvgPool3d, MaxPool2d, MaxPool3d  # noqa: F401

# --- recurrent layers ---
from giagrad.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401

# --- attention ---
from giagrad.nn.transformer import MultiheadAttention, TransformerEncoder, TransformerEncoderLayer  # noqa: F401

# isort: split

# --- data parallelism over MPI (MPI itself is imported only when a process group starts) ---
from giagrad.nn import parallel  # noqa: F401
