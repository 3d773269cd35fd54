"""Stateless forms of the layers, activations and losses (``giagrad.nn.functional``, as ``F``).

The modules in ``giagrad.nn`` hold parameters and call these. Arguments are checked here, at the
API boundary, so that the ``Function`` classes underneath can trust their inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad import mlops
from giagrad.tensor import Tensor

# --- linear, activations, losses, one_hot ---


def _tensor(op: str, value: Any, name: str = "input") -> Tensor:
    """``value`` as a Tensor (numpy arrays and numbers are wrapped), for argument checks."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic, int, float, list, tuple)):
        return Tensor(value)
    raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")


def _check_floating(op: str, x: Tensor, name: str = "input") -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating point tensor, got dtype {x.dtype}")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Apply an affine map to the last dimension: ``input @ weight.T + bias``.

    Parameters
    ----------
    input : Tensor
        Shape ``(..., in_features)``: any number of leading dims, or none.
    weight : Tensor
        Shape ``(out_features, in_features)``.
    bias : Tensor, optional
        Shape ``(out_features,)``.

    Returns
    -------
    Tensor
        Shape ``(..., out_features)``, computed by one fused node.

    Examples
    --------
    >>> x = giagrad.randn(64, 784)
    >>> w, b = giagrad.randn(128, 784), giagrad.zeros(128)
    >>> F.linear(x, w, b).shape
    (64, 128)
    """
    input, weight = _tensor("linear", input), _tensor("linear", weight, "weight")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {input.shape} does not match weight of shape {weight.shape}; "
            f"expected input of shape (..., {weight.shape[1]})"
        )
    _check_floating("linear", input)
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input is {input.dtype} but weight is {weight.dtype}; convert one of them")
    if bias is None:
        return Tensor.comm(mlops.Linear, input, weight)
    bias = _tensor("linear", bias, "bias")
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) for weight of shape "
                         f"{weight.shape}, got {bias.shape}")
    if bias.dtype != weight.dtype:
        raise TypeError(f"linear: bias is {bias.dtype} but weight is {weight.dtype}; convert one of them")
    return Tensor.comm(mlops.Linear, input, weight, bias)


def _softmax_dim(op: str, x: Tensor, dim: int) -> int:
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an integer, got {dim!r}")
    size = max(x.ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {x.shape}")
    return int(dim) % size


def softmax(input: Tensor, dim: int) -> Tensor:
    """Rescale ``input`` along ``dim`` into probabilities that sum to one.

    ``softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m)`` with ``m = max_j x_j``.

    Subtracting the maximum changes nothing mathematically and keeps ``exp`` from overflowing.
    Unlike PyTorch, ``dim`` is required (PyTorch's implicit choice is deprecated).

    Examples
    --------
    >>> F.softmax(giagrad.tensor([[1.0, 2.0, 3.0]]), dim=1)
    tensor([[0.09003057, 0.24472848, 0.66524094]])
    """
    input = _tensor("softmax", input)
    _check_floating("softmax", input)
    axis = _softmax_dim("softmax", input, dim)
    if input.ndim == 0:  # numpy turns 0-d results into scalars: work on one element
        return Tensor.comm(mlops.Softmax, input.reshape(1), axis=0).reshape(())
    return Tensor.comm(mlops.Softmax, input, axis=axis)


def log_softmax(input: Tensor, dim: int) -> Tensor:
    """The logarithm of ``softmax`` along ``dim``, computed stably in one node.

    ``log_softmax(x)_i = x_i - m - log(sum_j exp(x_j - m))`` with ``m = max_j x_j``.

    Finite for any finite input, where ``softmax(x).log()`` gives ``-inf`` once a probability
    underflows.

    Examples
    --------
    >>> F.log_softmax(giagrad.tensor([0.0, 1000.0]), dim=0)
    tensor([-1000.,     0.])
    """
    input = _tensor("log_softmax", input)
    _check_floating("log_softmax", input)
    axis = _softmax_dim("log_softmax", input, dim)
    if input.ndim == 0:  # numpy turns 0-d results into scalars: work on one element
        return Tensor.comm(mlops.LogSoftmax, input.reshape(1), axis=0).reshape(())
    return Tensor.comm(mlops.LogSoftmax, input, axis=axis)

# --- convolution, pooling, normalization, dropout, embedding ---
