"""giagrad: a small neural-network toolkit with its own autograd over numpy.

Examples
--------
>>> import giagrad
>>> x = giagrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x ** 2).sum().backward()
>>> x.grad
array([2., 4., 6.], dtype=float32)
"""

import builtins

import numpy as np

from giagrad import allocator
from giagrad import functions as _functions
from giagrad.creation import (
    arange,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from giagrad.device import device
from giagrad.functions import *  # noqa: F403 (torch.sum, torch.exp, ...: the list is functions.__all__)
from giagrad.grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from giagrad.gradcheck import GradcheckError, gradcheck
from giagrad.kernels import get_num_threads, set_num_threads
from giagrad.mathops import clamp, einsum, maximum, minimum, where
from giagrad.random import get_rng_state, manual_seed, set_rng_state
from giagrad.serialization import load, save
from giagrad.shapeops import cat, pad, stack
from giagrad.tensor import Function, Tensor

__version__ = "0.1.0"

# Training frees and allocates the same large arrays every step: let malloc keep them for reuse
# rather than return them to the system and fault them in again (see giagrad.allocator).
allocator._keep_freed_memory_on_import()

# dtype names, as PyTorch spells them (numpy scalar types, so numpy accepts them too)
float16 = half = np.float16
float32 = np.float32
float64 = double = np.float64
int8 = np.int8
int16 = short = np.int16
int32 = np.int32
int64 = long = np.int64
uint8 = np.uint8
bool_ = np.bool_

__all__ = [
    "Tensor", "Function", "tensor", "zeros", "ones", "full", "empty", "arange", "linspace", "eye",
    "rand", "randn", "randint", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like",
    "randn_like", "manual_seed", "get_rng_state", "set_rng_state", "no_grad", "enable_grad",
    "set_grad_enabled", "is_grad_enabled", "inference_mode", "gradcheck", "GradcheckError",
    "float16", "float32", "float64", "int32", "int64", "uint8", "bool_",
    "save", "load",
    "cat", "stack", "pad", "where", "maximum", "minimum", "clamp", "einsum",
    "device", "half", "double", "int8", "int16", "short", "long", "set_num_threads", "get_num_threads",
    # giagrad.sum, giagrad.max, ... stay out of `from giagrad import *`: they would hide Python's builtins
    *[name for name in _functions.__all__ if not hasattr(builtins, name)],
]

# The packages users reach as `giagrad.nn`, `giagrad.optim` and `giagrad.data` after
# `import giagrad`, as with PyTorch. They build on the names above, so they come last.
from giagrad import backends, cuda, data, nn, optim, utils  # noqa: E402

__all__ += ["nn", "optim", "data", "utils", "cuda", "backends"]

# PyTorch's `torch.float`, `torch.int` and `torch.bool`. Defined last: inside this file they would
# hide the builtins of the same names.
float = np.float32  # noqa: A001
int = np.int32  # noqa: A001
bool = np.bool_  # noqa: A001
