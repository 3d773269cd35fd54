"""Stateless forms of the layers, activations and losses (``giagrad.nn.functional``, as ``F``).

The modules in ``giagrad.nn`` hold parameters and call these. Arguments are checked here, at the
API boundary, so that the ``Function`` classes underneath can trust their inputs.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from giagrad import attentionops, convops, mathops, mlops, normops
from giagrad import random as _random
from giagrad._validation import check_floating, check_probability, int_tuple
from giagrad.dtypes import operand_array
from giagrad.tensor import Tensor

# --- linear, activations, losses, one_hot ---


def _tensor(op: str, value: Any, name: str = "input") -> Tensor:
    """``value`` as a Tensor for argument checks: numbers and arrays are wrapped by giagrad's one
    rule (``giagrad.dtypes.operand_array``)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic, int, float, list, tuple)):
        return Tensor(operand_array(value, None))
    raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")


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
    check_floating("linear", input)
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


# ------------------------------------------------------------------------------ activations
# `inplace` is accepted for PyTorch compatibility and ignored: giagrad activations always return
# a new tensor (use the returned value).


def _activation(op: str, input: Tensor, function: type, **options: Any) -> Tensor:
    input = _tensor(op, input)
    check_floating(op, input)
    return Tensor.comm(function, input, **options)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; the gradient at 0 is 0. ``inplace`` is ignored (a new tensor is returned).

    Examples
    --------
    >>> F.relu(giagrad.tensor([-1.0, 0.0, 2.0]))
    tensor([0., 0., 2.])
    """
    return _activation("relu", input, mlops.ReLU)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, else ``negative_slope * x``; the gradient at 0 is ``negative_slope``.

    Examples
    --------
    >>> F.leaky_relu(giagrad.tensor([-2.0, 3.0]), negative_slope=0.1)
    tensor([-0.2,  3. ])
    """
    return _activation("leaky_relu", input, mlops.LeakyReLU, negative_slope=float(negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Examples
    --------
    >>> F.elu(giagrad.tensor([-1.0, 2.0]))
    tensor([-0.63212055,  2.        ])
    """
    return _activation("elu", input, mlops.ELU, alpha=float(alpha))


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``; ``inplace`` is ignored.

    Examples
    --------
    >>> F.celu(giagrad.tensor([-1.0, 2.0]), alpha=2.0)
    tensor([-0.78693867,  2.        ])
    """
    if alpha == 0:
        raise ValueError("celu: alpha must be non-zero")
    return _activation("celu", input, mlops.CELU, alpha=float(alpha))


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``.

    Examples
    --------
    >>> F.softsign(giagrad.tensor([-1.0, 3.0]))
    tensor([-0.5 ,  0.75])
    """
    return _activation("softsign", input, mlops.Softsign)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: ``x * Phi(x)``, with ``Phi`` the standard normal CDF.

    ``approximate='tanh'`` uses ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))``.
    numpy has no ``erf``: in float64 the exact form evaluates ``Phi`` with a Chebyshev
    approximation of ``erfc`` whose relative error is below 2e-12; in float32 (and float16) with
    Hastings' approximation, absolute error below 4e-7, several times cheaper (values can differ
    from PyTorch's in the last float32 digit). The gradient ``Phi(x) + x * exp(-x**2 / 2) /
    sqrt(2 pi)`` uses the exact Gaussian density.

    Examples
    --------
    >>> F.gelu(giagrad.tensor([-1.0, 0.0, 1.0]))
    tensor([-0.1586553,  0.        ,  0.8413447 ])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _activation("gelu", input, mlops.GELU, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)`` (also called swish).

    Examples
    --------
    >>> F.silu(giagrad.tensor([-1.0, 1.0]))
    tensor([-0.2689414,  0.7310586])
    """
    return _activation("silu", input, mlops.SiLU)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``.

    Examples
    --------
    >>> F.mish(giagrad.tensor([-1.0, 1.0]))
    tensor([-0.30340147,  0.8650984 ])
    """
    return _activation("mish", input, mlops.Mish)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, switching to ``x`` where ``beta * x > threshold``.

    The switch (PyTorch's) avoids rounding for large inputs, where softplus equals ``x`` to
    float precision; below it the formula is evaluated without overflow.

    Examples
    --------
    >>> F.softplus(giagrad.tensor([-1.0, 0.0, 30.0]))
    tensor([ 0.3132617,  0.6931472, 30.       ])
    """
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    return _activation("softplus", input, mlops.Softplus, beta=float(beta), threshold=float(threshold))


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``, without overflow for large ``|x|``.

    Examples
    --------
    >>> F.sigmoid(giagrad.tensor([0.0, 100.0]))
    tensor([0.5, 1. ])
    """
    return _activation("sigmoid", input, mlops.Sigmoid)


def tanh(input: Tensor) -> Tensor:
    """The hyperbolic tangent.

    Examples
    --------
    >>> F.tanh(giagrad.tensor([0.0, 1.0]))
    tensor([0.       , 0.7615942])
    """
    return _activation("tanh", input, mathops.Tanh)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """``clip(x, min_val, max_val)``; the gradient is 1 strictly between the ends, else 0.

    Examples
    --------
    >>> F.hardtanh(giagrad.tensor([-3.0, 0.5, 3.0]))
    tensor([-1. ,  0.5,  1. ])
    """
    if not min_val <= max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return _activation("hardtanh", input, mlops.Hardtanh, min_val=float(min_val), max_val=float(max_val))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * clip(x + 3, 0, 6) / 6``: a cheap, piecewise form of silu.

    Examples
    --------
    >>> F.hardswish(giagrad.tensor([-4.0, 1.0, 4.0]))
    tensor([-0.       ,  0.6666667,  4.       ])
    """
    return _activation("hardswish", input, mlops.Hardswish)


def _softmax_dim(op: str, x: Tensor, dim: int) -> int:
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an integer, got {dim!r}")
    size = max(x.ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {x.shape}")
    return int(dim) % size


def _along_dim(op: str, function: type, input: Tensor, dim: int) -> Tensor:
    """Apply ``softmax`` or ``log_softmax``'s node along ``dim``, a 0-d input as one class."""
    input = _tensor(op, input)
    check_floating(op, input)
    axis = _softmax_dim(op, input, dim)
    if input.ndim == 0:  # numpy turns 0-d results into scalars: work on one element
        return Tensor.comm(function, input.reshape(1), axis=0).reshape(())
    return Tensor.comm(function, input, axis=axis)


def softmax(input: Tensor, dim: int) -> Tensor:
    """Rescale ``input`` along ``dim`` into probabilities that sum to one.

    ``softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m)`` with ``m = max_j x_j``.

    Subtracting the maximum changes nothing mathematically and keeps ``exp`` from overflowing.
    Unlike PyTorch, ``dim`` is required (PyTorch's implicit choice is deprecated).

    Examples
    --------
    >>> F.softmax(giagrad.tensor([[1.0, 2.0, 3.0]]), dim=1)
    tensor([[0.09003057, 0.24472846, 0.66524094]])
    """
    return _along_dim("softmax", mlops.Softmax, input, dim)


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
    return _along_dim("log_softmax", mlops.LogSoftmax, input, dim)

# ----------------------------------------------------------------------------------- losses

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: str, allowed: tuple[str, ...] = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def _loss_input(op: str, input: Any) -> Tensor:
    input = _tensor(op, input)
    check_floating(op, input)
    return input


def _same_shape_loss_args(op: str, input: Any, target: Any, reduction: str,
                          allowed: tuple[str, ...] = _REDUCTIONS) -> tuple[Tensor, Tensor]:
    """A loss's floating input and its target of the same shape, cast to the input's dtype; ``reduction`` checked.

    giagrad does not broadcast loss targets.
    """
    input = _loss_input(op, input)
    target = _tensor(op, target, "target")
    if target.shape != input.shape:
        raise ValueError(
            f"{op}: target of shape {target.shape} does not match input of shape {input.shape}; "
            "expected the same shape (a (N, 1) vs (N,) mismatch would silently broadcast to (N, N))"
        )
    if target.dtype.kind == "b":
        raise TypeError(f"{op}: target must be a numeric tensor, got dtype bool")
    _check_reduction(op, reduction, allowed)
    return input, target.astype(input.dtype)


def _weight_array(op: str, name: str, weight: Any, input: Tensor, shape: tuple[int, ...] | None = None,
                  broadcast_to: tuple[int, ...] | None = None) -> np.ndarray | None:
    """A weight as a numpy array of the input's dtype, checked against ``shape`` or ``broadcast_to``.

    Loss weights are constants, as they are in practice: they receive no gradient.
    """
    if weight is None:
        return None
    array = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if shape is not None and array.shape != shape:
        raise ValueError(f"{op}: {name} must have shape {shape} for input of shape {input.shape}, got {array.shape}")
    if broadcast_to is not None:
        try:
            fits = np.broadcast_shapes(array.shape, broadcast_to) == broadcast_to
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{op}: {name} of shape {array.shape} does not broadcast to the input's shape "
                             f"{broadcast_to}")
    return array.astype(input.dtype, copy=False)


def _class_count(op: str, input: Tensor) -> int:
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension: (C,), (N, C) or (N, C, d1, ...), got shape ()")
    return input.shape[1] if input.ndim > 1 else input.shape[0]


def _class_loss_args(op: str, input: Any, target: Any, reduction: str) -> tuple[Tensor, int, Tensor]:
    """A class loss's floating input, its class count and its target (not yet checked); ``reduction`` checked."""
    input = _loss_input(op, input)
    classes = _class_count(op, input)
    target = _tensor(op, target, "target")
    _check_reduction(op, reduction)
    return input, classes, target


def _check_class_indices(op: str, input: Tensor, target: Tensor, classes: int, ignore_index: int) -> None:
    expected = mlops.row_shape(input.shape)
    if target.shape != expected:
        raise ValueError(
            f"{op}: expected a class-index target of shape {expected} for input of shape {input.shape} "
            f"(input (N, C, d1, ...) takes target (N, d1, ...)), got {target.shape}"
        )
    indices = target.data
    # two reductions on the common path; the masks only when something is outside [0, classes)
    if indices.size and (indices.min() < 0 or indices.max() >= classes):
        out_of_range = ((indices < 0) | (indices >= classes)) & (indices != ignore_index)
        if out_of_range.any():
            bad = indices[out_of_range].flat[0]
            raise IndexError(
                f"{op}: target class index {bad} is out of range for {classes} classes (input shape "
                f"{input.shape}); expected 0 <= index < {classes} or ignore_index={ignore_index}"
            )


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and class indices or class probabilities (one fused, stable op).

    For a row of logits ``x`` with ``log p = log_softmax(x)`` and target class ``t``:
    ``loss = -weight[t] * log p[t]``. With ``label_smoothing = eps`` the target becomes the mix
    ``(1 - eps) one_hot(t) + eps / C`` (each class scaled by its weight). Probability targets use
    ``loss = -sum_c weight[c] * q_c * log p_c`` with ``q`` mixed the same way. The gradient
    with respect to the logits is ``softmax(x) * sum_c q_c - q`` (then reduced): finite for any
    finite logits.

    Parameters
    ----------
    input : Tensor
        Logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``.
    target : Tensor
        Class indices (integer) of shape ``(N,)``, ``(N, d1, ...)`` or ``()``, each in ``[0, C)``
        or equal to ``ignore_index``; or class probabilities (floating) of the input's shape.
    weight : Tensor, optional
        A weight per class, shape ``(C,)``.
    ignore_index : int
        Class-index targets equal to it contribute nothing, not even to the mean's divisor.
    reduction : {'mean', 'sum', 'none'}
        ``'mean'`` divides by the summed weights of the non-ignored targets (their count without
        ``weight``) for class indices, and by the number of rows for probabilities, as PyTorch.
    label_smoothing : float
        In ``[0, 1]``.

    Examples
    --------
    >>> logits = giagrad.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    >>> F.cross_entropy(logits, giagrad.tensor([0, 2]))
    tensor(0.17545635)
    """
    op = "cross_entropy"
    input, classes, target = _class_loss_args(op, input, target, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    kind = target.dtype.kind
    if kind in "iu":
        _check_class_indices(op, input, target, classes, ignore_index)
    elif kind == "f":
        if target.shape != input.shape:
            if target.shape == mlops.row_shape(input.shape):
                raise TypeError(
                    f"{op}: target of shape {target.shape} has the shape of class indices but dtype "
                    f"{target.dtype}; class indices must be an integer tensor (target.long()), class "
                    f"probabilities must have the input's shape {input.shape}"
                )
            raise ValueError(
                f"{op}: target of shape {target.shape} fits input of shape {input.shape} neither as class "
                f"indices (expected shape {mlops.row_shape(input.shape)}) nor as class probabilities "
                f"(expected shape {input.shape})"
            )
        target = target.astype(input.dtype)
    else:
        raise TypeError(f"{op}: target must hold integer class indices or floating class probabilities, "
                        f"got dtype {target.dtype}")
    class_weight = _weight_array(op, "weight", weight, input, shape=(classes,))
    return Tensor.comm(mlops.CrossEntropyLoss, input, target, weight=class_weight, ignore_index=int(ignore_index),
                       label_smoothing=float(label_smoothing), reduction=reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (e.g. ``log_softmax`` output) and class indices.

    ``loss = -weight[t] * input[t]`` per row; ``'mean'`` divides by the summed weights of the
    targets that are not ``ignore_index``. ``cross_entropy(x, t)`` equals
    ``nll_loss(log_softmax(x, 1), t)`` in one node.

    Parameters
    ----------
    input : Tensor
        Log-probabilities ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``.
    target : Tensor
        Integer class indices of shape ``(N,)``, ``(N, d1, ...)`` or ``()``.
    weight : Tensor, optional
        A weight per class, shape ``(C,)``.
    ignore_index : int
        Targets equal to it contribute nothing.
    reduction : {'mean', 'sum', 'none'}

    Examples
    --------
    >>> F.nll_loss(giagrad.tensor([[-0.5, -1.0], [-2.0, -0.1]]), giagrad.tensor([0, 1]))
    tensor(0.3)
    """
    op = "nll_loss"
    input, classes, target = _class_loss_args(op, input, target, reduction)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must be an integer tensor of class indices, got dtype {target.dtype} "
                        f"(shape {target.shape}; expected {mlops.row_shape(input.shape)})")
    _check_class_indices(op, input, target, classes, ignore_index)
    class_weight = _weight_array(op, "weight", weight, input, shape=(classes,))
    return Tensor.comm(mlops.NLLLoss, input, target, weight=class_weight, ignore_index=int(ignore_index),
                       reduction=reduction)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error: ``(input - target) ** 2``, reduced.

    Unlike PyTorch, which warns and broadcasts, a target of another shape is an error.

    Examples
    --------
    >>> F.mse_loss(giagrad.tensor([1.0, 2.0]), giagrad.tensor([0.0, 4.0]))
    tensor(2.5)
    """
    input, target = _same_shape_loss_args("mse_loss", input, target, reduction)
    return Tensor.comm(mlops.MSELoss, input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error: ``|input - target|``, reduced; the gradient at 0 is 0.

    Examples
    --------
    >>> F.l1_loss(giagrad.tensor([1.0, 2.0]), giagrad.tensor([0.0, 4.0]))
    tensor(1.5)
    """
    input, target = _same_shape_loss_args("l1_loss", input, target, reduction)
    return Tensor.comm(mlops.L1Loss, input, target, reduction=reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Squared error below ``beta``, absolute error above: ``0.5 d**2 / beta`` or ``|d| - 0.5 beta``.

    ``d = input - target``; ``beta = 0`` gives the L1 loss. Equals ``huber_loss(delta=beta) / beta``.

    Examples
    --------
    >>> F.smooth_l1_loss(giagrad.tensor([0.5, 3.0]), giagrad.tensor([0.0, 0.0]))
    tensor(1.3125)
    """
    input, target = _same_shape_loss_args("smooth_l1_loss", input, target, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    return Tensor.comm(mlops.SmoothL1Loss, input, target, reduction=reduction, beta=float(beta))


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: ``0.5 d**2`` where ``|d| <= delta``, else ``delta * (|d| - 0.5 delta)``.

    Examples
    --------
    >>> F.huber_loss(giagrad.tensor([0.5, 3.0]), giagrad.tensor([0.0, 0.0]), delta=2.0)
    tensor(2.0625)
    """
    input, target = _same_shape_loss_args("huber_loss", input, target, reduction)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return Tensor.comm(mlops.HuberLoss, input, target, reduction=reduction, delta=float(delta))


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities: ``-weight * (y log p + (1 - y) log(1 - p))``.

    As in PyTorch, each log is clamped at -100 so that ``p = 0`` or ``1`` gives a finite loss.
    Prefer ``binary_cross_entropy_with_logits`` on logits: it is stable without clamping.

    Parameters
    ----------
    input : Tensor
        Probabilities in ``[0, 1]``.
    target : Tensor
        Of the input's shape, usually 0 or 1.
    weight : Tensor, optional
        Broadcastable to the input's shape.
    reduction : {'mean', 'sum', 'none'}

    Examples
    --------
    >>> F.binary_cross_entropy(giagrad.tensor([0.9, 0.2]), giagrad.tensor([1.0, 0.0]))
    tensor(0.16425204)
    """
    op = "binary_cross_entropy"
    input, target = _same_shape_loss_args(op, input, target, reduction)
    if input.data.size:
        low, high = float(input.data.min()), float(input.data.max())
        if not (0.0 <= low and high <= 1.0):  # also catches nan
            raise ValueError(f"{op}: input must hold probabilities in [0, 1], got values from {low} to {high}; "
                             "for logits use binary_cross_entropy_with_logits")
    weight_array = _weight_array(op, "weight", weight, input, broadcast_to=input.shape)
    return Tensor.comm(mlops.BCELoss, input, target, weight=weight_array, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of logits ``x``: ``sigmoid`` and the loss in one stable op.

    ``loss = -weight * (pos_weight * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x)))``, computed
    as ``weight * ((1 - y) x + (1 + (pos_weight - 1) y) log(1 + exp(-x)))`` without overflow.

    Parameters
    ----------
    input : Tensor
        Logits, any shape.
    target : Tensor
        Of the input's shape, in ``[0, 1]``.
    weight : Tensor, optional
        Broadcastable to the input's shape.
    reduction : {'mean', 'sum', 'none'}
    pos_weight : Tensor, optional
        The weight of positive examples, broadcast along the last dims (shape ``(C,)`` for
        ``(N, C)`` multi-label targets); ``> 1`` raises recall.

    Examples
    --------
    >>> F.binary_cross_entropy_with_logits(giagrad.tensor([2.0, -1.0]), giagrad.tensor([1.0, 0.0]))
    tensor(0.22009487)
    """
    op = "binary_cross_entropy_with_logits"
    input, target = _same_shape_loss_args(op, input, target, reduction)
    weight_array = _weight_array(op, "weight", weight, input, broadcast_to=input.shape)
    pos_weight_array = _weight_array(op, "pos_weight", pos_weight, input, broadcast_to=input.shape)
    return Tensor.comm(mlops.BCEWithLogitsLoss, input, target, weight=weight_array, pos_weight=pos_weight_array,
                       reduction=reduction)


def kl_div(input: Tensor, target: Tensor, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence ``target * (log(target) - input)``, ``input`` being log-probabilities.

    Parameters
    ----------
    input : Tensor
        Log-probabilities (e.g. ``log_softmax`` output).
    target : Tensor
        Probabilities of the input's shape, or log-probabilities with ``log_target=True``.
    reduction : {'mean', 'batchmean', 'sum', 'none'}
        ``'batchmean'`` (sum / batch size) is the KL divergence per example; ``'mean'``, the default
        as in PyTorch, divides by the number of elements instead.
    log_target : bool
        Whether ``target`` holds log-probabilities.

    Examples
    --------
    >>> log_q = F.log_softmax(giagrad.tensor([[1.0, 2.0]]), dim=1)
    >>> F.kl_div(log_q, giagrad.tensor([[0.5, 0.5]]), reduction="batchmean")
    tensor(0.12011446)
    """
    op = "kl_div"
    input, target = _same_shape_loss_args(op, input, target, reduction, ("mean", "batchmean", "sum", "none"))
    return Tensor.comm(mlops.KLDivLoss, input, target, reduction=reduction, log_target=bool(log_target))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Class indices of any shape -> int64 one-hot vectors along a new last dimension.

    Parameters
    ----------
    tensor : Tensor
        Integer class indices, each in ``[0, num_classes)``.
    num_classes : int
        The length of the vectors; -1 takes the largest index + 1.

    Returns
    -------
    Tensor
        int64, shape ``tensor.shape + (num_classes,)``; not differentiable.

    Examples
    --------
    >>> F.one_hot(giagrad.tensor([0, 2]), num_classes=3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    tensor = _tensor("one_hot", tensor, "tensor")
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got dtype {tensor.dtype}")
    indices = tensor.data
    if num_classes == -1:
        if indices.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(indices.max()) + 1
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be non-negative or -1, got {num_classes}")
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise IndexError(f"one_hot: class values must be in [0, {num_classes}), got values from "
                         f"{indices.min()} to {indices.max()}")
    return Tensor(indices[..., None] == np.arange(num_classes), dtype=np.int64)


# --- convolution, pooling, normalization, dropout, embedding ---


def _check_spatial_input(op: str, input: Any, spatial_dims: int) -> tuple[Tensor, bool]:
    """The input as a batched floating tensor; also whether it came without a batch dim."""
    input = _tensor(op, input)
    check_floating(op, input)
    if input.ndim not in (spatial_dims + 1, spatial_dims + 2):
        layout = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[spatial_dims]
        raise ValueError(f"{op}: expected a {spatial_dims + 2}-D input {layout} or {spatial_dims + 1}-D without "
                         f"the batch dim, got shape {input.shape}")
    if input.ndim == spatial_dims + 1:
        return input.reshape((1,) + input.shape), True
    return input, False


def _check_parameter(op: str, value: Any, name: str, input: Tensor, shape: tuple[int, ...] | None) -> Tensor:
    value = _tensor(op, value, name)
    if shape is not None and value.shape != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, got {value.shape}")
    if value.dtype != input.dtype:
        raise TypeError(f"{op}: {name} is {value.dtype} but the input is {input.dtype}; convert one of them")
    return value


def _conv_padding(op: str, padding: Any, kernel: tuple[int, ...], stride: tuple[int, ...],
                  dilation: tuple[int, ...]) -> tuple[int, ...]:
    """``padding`` (int, tuple, 'valid' or 'same') as ``(before, after)`` for each spatial dim."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * (2 * len(kernel))
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
        pads: tuple[int, ...] = ()
        for k, d in zip(kernel, dilation, strict=True):
            total = d * (k - 1)
            pads += (total // 2, total - total // 2)  # the odd pixel goes after, as PyTorch
        return pads
    pads = ()
    for p in int_tuple(op, "padding", padding, len(kernel), 0):
        pads += (p, p)
    return pads


def _convolution(op: str, input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any,
                 groups: Any, spatial_dims: int) -> Tensor:
    """Check a conv1d/conv2d/conv3d call and run it (1-D as a 2-D convolution of height 1)."""
    input, unbatched = _check_spatial_input(op, input, spatial_dims)
    weight = _check_parameter(op, weight, "weight", input, None)
    if weight.ndim != spatial_dims + 2:
        raise ValueError(f"{op}: weight must be {spatial_dims + 2}-D (out_channels, in_channels / groups, "
                         f"*kernel_size), got shape {weight.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    out_channels = weight.shape[0]
    in_channels = input.shape[1]
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{op}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                         f"divisible by groups ({groups})")
    if weight.shape[1] * groups != in_channels:
        raise ValueError(f"{op}: expected input with {weight.shape[1] * groups} channels (weight of shape "
                         f"{weight.shape}, groups={groups}), got input of shape {input.shape}")
    if bias is not None:
        bias = _check_parameter(op, bias, "bias", input, (out_channels,))
    kernel = weight.shape[2:]
    stride = int_tuple(op, "stride", stride, spatial_dims, 1)
    dilation = int_tuple(op, "dilation", dilation, spatial_dims, 1)
    pads = _conv_padding(op, padding, kernel, stride, dilation)
    for size, k, d, before, after in zip(input.shape[2:], kernel, dilation, pads[::2], pads[1::2], strict=True):
        if d * (k - 1) + 1 > size + before + after:
            raise ValueError(f"{op}: kernel size {tuple(kernel)} (dilation {dilation}) is larger than the padded "
                             f"input: input shape {input.shape}, padding {padding!r}")
    if spatial_dims == 1:  # a row of height 1
        input = input.reshape(input.shape[0], in_channels, 1, input.shape[2])
        weight = weight.reshape(out_channels, weight.shape[1], 1, kernel[0])
        stride, dilation, pads = (1,) + stride, (1,) + dilation, (0, 0) + pads
    inputs = (input, weight) if bias is None else (input, weight, bias)
    function = convops.Conv3d if spatial_dims == 3 else convops.Conv2d
    out = Tensor.comm(function, *inputs, stride=stride, padding=pads, dilation=dilation, groups=int(groups))
    if spatial_dims == 1:
        out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    return out.reshape(out.shape[1:]) if unbatched else out


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int, ...] = 1,
           padding: int | tuple[int, ...] | str = 0, dilation: int | tuple[int, ...] = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in every deep-learning library) over ``(N, C, H, W)``.

    .. math:: out[n, o, i, j] = bias[o] + \\sum_{c, a, b} weight[o, c, a, b]\\;
              input[n, c, i s_h + a d_h - p_h, j s_w + b d_w - p_w]

    with ``c`` running over the ``in_channels / groups`` channels of output channel ``o``'s group
    and zeros outside the input.

    Parameters
    ----------
    input : Tensor
        ``(N, C_in, H, W)``, or ``(C_in, H, W)`` without the batch dim.
    weight : Tensor
        ``(C_out, C_in / groups, KH, KW)``.
    bias : Tensor, optional
        ``(C_out,)``.
    stride, dilation : int or (int, int)
        Step between windows; spacing between kernel taps.
    padding : int, (int, int), 'valid' or 'same'
        Zeros added on both sides. ``'same'`` keeps the size (stride 1 only); when the total
        ``dilation * (kernel - 1)`` is odd the extra pixel goes at the bottom/right, as PyTorch.
    groups : int
        Split channels into independent groups (``groups == C_in``: depthwise).

    Returns
    -------
    Tensor
        ``(N, C_out, OH, OW)`` with ``OH = floor((H + 2 p_h - d_h (KH - 1) - 1) / s_h) + 1``.

    Examples
    --------
    >>> x, w = giagrad.randn(8, 3, 32, 32), giagrad.randn(16, 3, 3, 3)
    >>> F.conv2d(x, w, padding="same").shape
    (8, 16, 32, 32)
    """
    return _convolution("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int, ...] = 1,
           padding: int | tuple[int, ...] | str = 0, dilation: int | tuple[int, ...] = 1,
           groups: int = 1) -> Tensor:
    """3-D convolution over ``(N, C_in, D, H, W)`` with ``weight (C_out, C_in / groups, KD, KH, KW)``.

    :func:`conv2d` with one more spatial dim; the arguments mean the same, with three entries.

    Examples
    --------
    >>> F.conv3d(giagrad.randn(2, 3, 8, 8, 8), giagrad.randn(4, 3, 3, 3, 3), padding=1).shape
    (2, 4, 8, 8, 8)
    """
    return _convolution("conv3d", input, weight, bias, stride, padding, dilation, groups, 3)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int, ...] = 1,
           padding: int | tuple[int, ...] | str = 0, dilation: int | tuple[int, ...] = 1,
           groups: int = 1) -> Tensor:
    """1-D convolution over ``(N, C_in, L)`` with ``weight (C_out, C_in / groups, K)``.

    The same operation as :func:`conv2d` on a height-1 image (and computed that way); the
    arguments mean the same.

    Examples
    --------
    >>> F.conv1d(giagrad.randn(4, 2, 10), giagrad.randn(6, 2, 3), stride=2).shape
    (4, 6, 4)
    """
    return _convolution("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int, ...] = 1,
                     padding: int | tuple[int, ...] = 0, output_padding: int | tuple[int, ...] = 0,
                     groups: int = 1, dilation: int | tuple[int, ...] = 1) -> Tensor:
    """2-D transposed convolution ("deconvolution"): the gradient of ``conv2d`` w.r.t. its input.

    Each input pixel adds ``input[n, c, i, j] * weight[c]`` onto the output window at
    ``(i s_h, j s_w)``; ``padding`` then crops that many rows and columns from each border, so
    that ``conv_transpose2d`` undoes the shape change of a ``conv2d`` with the same arguments.

    Parameters
    ----------
    input : Tensor
        ``(N, C_in, H, W)`` or ``(C_in, H, W)``.
    weight : Tensor
        ``(C_in, C_out / groups, KH, KW)`` (note: in-channels first, unlike ``conv2d``).
    bias : Tensor, optional
        ``(C_out,)``.
    stride, padding, dilation : int or (int, int)
    output_padding : int or (int, int)
        Extra rows/columns at the bottom/right, to pick among the input sizes a strided
        ``conv2d`` maps to the same output size; smaller than ``stride`` or ``dilation``.
    groups : int

    Returns
    -------
    Tensor
        ``(N, C_out, OH, OW)`` with ``OH = (H - 1) s_h - 2 p_h + d_h (KH - 1) + output_padding_h + 1``.

    Examples
    --------
    >>> x, w = giagrad.randn(2, 8, 7, 7), giagrad.randn(8, 4, 3, 3)
    >>> F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1).shape
    (2, 4, 14, 14)
    """
    op = "conv_transpose2d"
    input, unbatched = _check_spatial_input(op, input, 2)
    weight = _check_parameter(op, weight, "weight", input, None)
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D (in_channels, out_channels / groups, KH, KW), "
                         f"got shape {weight.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    in_channels = weight.shape[0]
    if in_channels % groups:
        raise ValueError(f"{op}: in_channels ({in_channels}) must be divisible by groups ({groups})")
    if input.shape[1] != in_channels:
        raise ValueError(f"{op}: expected input with {in_channels} channels (weight of shape {weight.shape}), "
                         f"got input of shape {input.shape}")
    out_channels = weight.shape[1] * groups
    if bias is not None:
        bias = _check_parameter(op, bias, "bias", input, (out_channels,))
    stride = int_tuple(op, "stride", stride, 2, 1)
    padding = int_tuple(op, "padding", padding, 2, 0)
    output_padding = int_tuple(op, "output_padding", output_padding, 2, 0)
    dilation = int_tuple(op, "dilation", dilation, 2, 1)
    for extra, s, d in zip(output_padding, stride, dilation, strict=True):
        if extra >= s and extra >= d:
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either stride "
                             f"{stride} or dilation {dilation}")
    for size, k, s, p, d, extra in zip(input.shape[2:], weight.shape[2:], stride, padding, dilation,
                                       output_padding, strict=True):
        if (size - 1) * s - 2 * p + d * (k - 1) + extra + 1 < 1:
            raise ValueError(f"{op}: padding {padding} leaves no output for input of shape {input.shape} "
                             f"and weight of shape {weight.shape}")
    inputs = (input, weight) if bias is None else (input, weight, bias)
    out = Tensor.comm(convops.ConvTranspose2d, *inputs, stride=stride, padding=padding,
                      output_padding=output_padding, dilation=dilation, groups=int(groups))
    return out.reshape(out.shape[1:]) if unbatched else out


def _pooling_geometry(op: str, input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                      ceil_mode: bool, spatial_dims: int = 2) -> tuple[tuple[int, ...], ...]:
    """Check pooling arguments; return kernel, stride, dilation, padding, output size, full padding.

    The full padding ``(top, bottom, left, right)`` adds to the bottom/right what ``ceil_mode``'s
    last, partial windows need beyond ``padding``.
    """
    dims = spatial_dims
    kernel = int_tuple(op, "kernel_size", kernel_size, dims, 1)
    stride = kernel if stride is None or stride == () or stride == [] else int_tuple(op, "stride", stride, dims, 1)
    padding = int_tuple(op, "padding", padding, dims, 0)
    dilation = int_tuple(op, "dilation", dilation, dims, 1)
    out_size: tuple[int, ...] = ()
    full_padding: tuple[int, ...] = ()
    for size, k, s, p, d in zip(input.shape[2:], kernel, stride, padding, dilation, strict=True):
        reach = d * (k - 1) + 1
        if 2 * p > reach:
            raise ValueError(f"{op}: padding {padding} must be at most half of the kernel size {kernel} "
                             f"(dilation {dilation})")
        # PyTorch's pooling_output_shape: in ceil mode the last window must start inside the input
        # or the left padding.
        out = (size + 2 * p - reach + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= size + p:
            out -= 1
        if out < 1:
            raise ValueError(f"{op}: input of shape {input.shape} is too small for kernel_size {kernel}, "
                             f"padding {padding} and dilation {dilation}")
        out_size += (out,)
        full_padding += (p, max(p, (out - 1) * s + reach - size - p))
    return kernel, stride, dilation, padding, out_size, full_padding


def max_pool2d(input: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
               ceil_mode: bool = False) -> Tensor:
    """The maximum over each ``kernel_size`` window of ``(N, C, H, W)``.

    Padding counts as ``-inf`` (it never wins). The gradient goes to each window's maximum; at
    ties to the first one in row-major order, as in PyTorch. ``return_indices`` is not offered.

    Parameters
    ----------
    input : Tensor
        ``(N, C, H, W)`` or ``(C, H, W)``.
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size`` (non-overlapping windows).
    padding : int or (int, int)
        At most half the (dilated) kernel.
    dilation : int or (int, int)
    ceil_mode : bool
        Round the output size up, keeping a last partial window that starts inside the input.

    Examples
    --------
    >>> F.max_pool2d(giagrad.randn(1, 1, 4, 4), 2).shape
    (1, 1, 2, 2)
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool3d(input: Tensor, kernel_size: int | tuple[int, int, int],
               stride: int | tuple[int, int, int] | None = None, padding: int | tuple[int, int, int] = 0,
               dilation: int | tuple[int, int, int] = 1, ceil_mode: bool = False) -> Tensor:
    """:func:`max_pool2d` over ``(N, C, D, H, W)`` (or ``(C, D, H, W)``); three entries per argument.

    Examples
    --------
    >>> F.max_pool3d(giagrad.randn(1, 2, 4, 4, 4), 2).shape
    (1, 2, 2, 2, 2)
    """
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode)


def _max_pool(op: str, spatial_dims: int, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: bool) -> Tensor:
    input, unbatched = _check_spatial_input(op, input, spatial_dims)
    kernel, stride, dilation, _, out_size, full_padding = _pooling_geometry(
        op, input, kernel_size, stride, padding, dilation, ceil_mode, spatial_dims)
    function = convops.MaxPool3d if spatial_dims == 3 else convops.MaxPool2d
    out = Tensor.comm(function, input, kernel=kernel, stride=stride, padding=full_padding,
                      dilation=dilation, out_size=out_size)
    return out.reshape(out.shape[1:]) if unbatched else out


def _average_divisor_1d(size: int, out: int, kernel: int, stride: int, padding: int,
                        count_include_pad: bool) -> np.ndarray:
    # PyTorch's rule: a window is cut at the padded border; without count_include_pad, also at
    # the input's border.
    start = np.arange(out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def avg_pool2d(input: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """The mean over each ``kernel_size`` window of ``(N, C, H, W)``.

    Parameters
    ----------
    input : Tensor
        ``(N, C, H, W)`` or ``(C, H, W)``.
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Zeros on both sides, at most half the kernel.
    ceil_mode : bool
        Round the output size up (a last partial window that starts inside the input).
    count_include_pad : bool
        Divide by the window size including padded zeros (but never beyond the padded border, as
        PyTorch) or, when False, by the number of real input pixels in the window.
    divisor_override : int, optional
        Divide every window sum by this instead.

    Examples
    --------
    >>> F.avg_pool2d(giagrad.ones(1, 1, 4, 4), 2, padding=1, count_include_pad=False)
    tensor([[[[1., 1., 1.],
              [1., 1., 1.],
              [1., 1., 1.]]]])
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input: Tensor, kernel_size: int | tuple[int, int, int],
               stride: int | tuple[int, int, int] | None = None, padding: int | tuple[int, int, int] = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """:func:`avg_pool2d` over ``(N, C, D, H, W)`` (or ``(C, D, H, W)``); three entries per argument.

    Examples
    --------
    >>> F.avg_pool3d(giagrad.ones(1, 1, 4, 4, 4), 2).shape
    (1, 1, 2, 2, 2)
    """
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _avg_pool(op: str, spatial_dims: int, input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
              count_include_pad: bool, divisor_override: int | None) -> Tensor:
    input, unbatched = _check_spatial_input(op, input, spatial_dims)
    kernel, stride, _, padding, out_size, full_padding = _pooling_geometry(
        op, input, kernel_size, stride, padding, 1, ceil_mode, spatial_dims)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or divisor_override <= 0:
            raise ValueError(f"{op}: divisor_override must be a positive int, got {divisor_override!r}")
        divisor = np.full(out_size, divisor_override, dtype=input.dtype)
    else:
        per_dim = [_average_divisor_1d(size, out, k, s, p, count_include_pad)
                   for size, out, k, s, p in zip(input.shape[2:], out_size, kernel, stride, padding, strict=True)]
        divisor = functools.reduce(np.multiply.outer, per_dim).astype(input.dtype)
    function = convops.AvgPool3d if spatial_dims == 3 else convops.AvgPool2d
    out = Tensor.comm(function, input, kernel=kernel, stride=stride, padding=full_padding, divisor=divisor)
    return out.reshape(out.shape[1:]) if unbatched else out


def adaptive_avg_pool2d(input: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average pooling to a given output size, whatever the input size.

    Output row ``i`` of ``OH`` averages input rows ``floor(i H / OH)`` up to ``ceil((i + 1) H / OH)``
    (exclusive), PyTorch's windows, which overlap when ``OH`` does not divide ``H``; likewise for
    columns. ``None`` in ``output_size`` keeps that input size.

    Examples
    --------
    >>> F.adaptive_avg_pool2d(giagrad.randn(2, 16, 7, 7), 1).shape
    (2, 16, 1, 1)
    """
    op = "adaptive_avg_pool2d"
    input, unbatched = _check_spatial_input(op, input, 2)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(size if s is None else s for s, size in zip(output_size, input.shape[2:], strict=True))
    out_size = int_tuple(op, "output_size", output_size, 2, 1)
    if min(input.shape[2:]) < 1:
        raise ValueError(f"{op}: input of shape {input.shape} has an empty spatial dim")
    out = Tensor.comm(convops.AdaptiveAvgPool2d, input, out_size=out_size)
    return out.reshape(out.shape[1:]) if unbatched else out


def _channels_input(op: str, input: Any) -> Tensor:
    """The floating ``(N, C, *)`` input of ``batch_norm`` and ``group_norm``."""
    input = _tensor(op, input)
    check_floating(op, input)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, *), got shape {input.shape}")
    return input


def _affine_args(op: str, weight: Any, bias: Any, input: Tensor,
                 shape: tuple[int, ...]) -> tuple[Tensor | None, Tensor | None]:
    """A normalization's optional ``weight`` and ``bias``, each checked for ``shape`` and the input's dtype."""
    weight = None if weight is None else _check_parameter(op, weight, "weight", input, shape)
    bias = None if bias is None else _check_parameter(op, bias, "bias", input, shape)
    return weight, bias


def _normalize(input: Tensor, weight: Tensor | None, bias: Tensor | None, mean: np.ndarray | None,
               var: np.ndarray | None, eps: float, axis: tuple[int, ...], batch_stats: bool,
               affine_shape: tuple[int, ...]) -> Tensor:
    """One ``Normalize`` node, with the parameters that are given (viewed as ``affine_shape``)."""
    params = [p for p in (weight, bias) if p is not None]
    return Tensor.comm(normops.Normalize, input, *params, mean=mean, var=var, eps=float(eps), axis=axis,
                       batch_stats=batch_stats, has_weight=weight is not None, affine_shape=affine_shape)


def _affine(out: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    """``out * weight + bias`` with the parameters viewed as ``shape`` for broadcasting."""
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)`` over the batch.

    .. math:: y = \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} \\gamma + \\beta

    In training, :math:`\\mu` and :math:`\\sigma^2` are the batch's mean and biased variance per
    channel, and the running statistics (when given) are updated in place with the UNbiased
    variance, as PyTorch: ``running = (1 - momentum) * running + momentum * batch_stat``. In
    eval mode the running statistics are used instead.

    Parameters
    ----------
    input : Tensor
        ``(N, C, *)``.
    running_mean, running_var : Tensor or None
        ``(C,)``; required when ``training`` is False.
    weight, bias : Tensor, optional
        :math:`\\gamma` and :math:`\\beta`, ``(C,)``.
    training : bool
    momentum : float
        Weight of the new batch in the running averages.
    eps : float
        Added to the variance for stability.

    Examples
    --------
    >>> x = giagrad.randn(32, 4)
    >>> y = F.batch_norm(x, giagrad.zeros(4), giagrad.ones(4), training=True)
    """
    op = "batch_norm"
    input = _channels_input(op, input)
    channels = input.shape[1]
    weight, bias = _affine_args(op, weight, bias, input, (channels,))
    stats = [None if s is None else _check_parameter(op, s, name, input, (channels,))
             for s, name in ((running_mean, "running_mean"), (running_var, "running_var"))]
    axis = (0,) + tuple(range(2, input.ndim))
    stat_shape = (1, channels) + (1,) * (input.ndim - 2)
    if training:
        count = input.data.size // channels
        if count <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got input of shape "
                             f"{input.shape}")
        mean, var, centered = normops.batch_statistics(input.data, axis)
        running_mean, running_var = stats
        if (running_mean is not None or running_var is not None) and not isinstance(momentum, (int, float)):
            raise TypeError(f"{op}: momentum must be a number to update the running statistics, got {momentum!r} "
                            "(nn.BatchNorm turns momentum=None into a cumulative average)")
        if running_mean is not None:
            running_mean.data *= 1.0 - momentum
            running_mean.data += momentum * mean.reshape(-1)
            running_mean._mark_modified()
        if running_var is not None:
            running_var.data *= 1.0 - momentum
            running_var.data += (momentum * count / (count - 1)) * var.reshape(-1)
            running_var._mark_modified()
    else:
        if stats[0] is None or stats[1] is None:
            raise ValueError(f"{op}: running_mean and running_var are required when training=False")
        mean, var = stats[0].data.reshape(stat_shape), stats[1].data.reshape(stat_shape)
        centered = None
    params = [p for p in (weight, bias) if p is not None]
    return Tensor.comm(normops.BatchNorm, input, *params, mean=mean, var=var, eps=float(eps), axis=axis,
                       batch_stats=bool(training), has_weight=weight is not None, affine_shape=stat_shape,
                       centered=centered)


def layer_norm(input: Tensor, normalized_shape: int | tuple[int, ...], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last dims (``normalized_shape``) of each sample, then scale and shift.

    .. math:: y = \\frac{x - E[x]}{\\sqrt{Var[x] + \\epsilon}} \\gamma + \\beta

    with the mean and biased variance taken over the last ``len(normalized_shape)`` dims.

    Examples
    --------
    >>> x = giagrad.randn(2, 5, 8)
    >>> F.layer_norm(x, (8,)).shape
    (2, 5, 8)
    """
    op = "layer_norm"
    input = _tensor(op, input)
    check_floating(op, input)
    shape = int_tuple(op, "normalized_shape", normalized_shape, 1, 1) if isinstance(normalized_shape, int) \
        else tuple(normalized_shape)
    if not shape or input.shape[input.ndim - len(shape):] != shape or input.ndim < len(shape):
        raise ValueError(f"{op}: input of shape {input.shape} does not end with normalized_shape {shape}")
    weight, bias = _affine_args(op, weight, bias, input, shape)
    axis = tuple(range(input.ndim - len(shape), input.ndim))
    # The node computes the statistics of each row itself with BLAS (faster); an empty input, or
    # float16 (no BLAS, and numpy's mean accumulates it in float32), gets numpy's
    mean = var = None
    if not input.data.size or input.data.dtype.itemsize < 4:
        mean, var = input.data.mean(axis=axis, keepdims=True), input.data.var(axis=axis, keepdims=True)
    return _normalize(input, weight, bias, mean, var, eps, axis, True, (1,) * (input.ndim - len(shape)) + shape)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise each group of ``C / num_groups`` channels of each sample of ``(N, C, *)``.

    The mean and biased variance run over the group's channels and all spatial positions;
    ``weight`` and ``bias`` (``(C,)``) then scale and shift per channel.

    Examples
    --------
    >>> F.group_norm(giagrad.randn(2, 6, 4, 4), 3).shape
    (2, 6, 4, 4)
    """
    op = "group_norm"
    input = _channels_input(op, input)
    channels = input.shape[1]
    if not isinstance(num_groups, (int, np.integer)) or num_groups < 1 or channels % num_groups:
        raise ValueError(f"{op}: the {channels} channels of input {input.shape} must divide into num_groups "
                         f"({num_groups!r}) groups")
    weight, bias = _affine_args(op, weight, bias, input, (channels,))
    grouped = input.reshape(input.shape[0], int(num_groups), -1)
    mean = grouped.data.mean(axis=2, keepdims=True)
    var = grouped.data.var(axis=2, keepdims=True)
    out = Tensor.comm(normops.Normalize, grouped, mean=mean, var=var, eps=float(eps), axis=(2,), batch_stats=True)
    return _affine(out.reshape(input.shape), weight, bias, (1, channels) + (1,) * (input.ndim - 2))


def _dropout_with_mask(input: Tensor, p: float, mask_shape: tuple[int, ...]) -> Tensor:
    # Inverted dropout: survivors are scaled by 1 / (1 - p) so that the expectation is unchanged
    # and evaluation needs no rescaling.
    if p == 1.0:
        return input * 0.0
    keep = _random.generator().random(mask_shape, dtype=np.float32 if input.dtype == np.float32 else np.float64)
    mask = (keep >= p).astype(input.dtype)
    mask *= 1.0 / (1.0 - p)
    return input * Tensor(mask)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (inverted).

    Identity when ``training`` is False or ``p == 0``. The mask comes from giagrad's generator
    (``giagrad.manual_seed`` makes it reproducible).

    Examples
    --------
    >>> y = F.dropout(giagrad.ones(1000), p=0.2)   # about 200 zeros, the rest 1.25
    """
    op = "dropout"
    input = _tensor(op, input)
    p = check_probability(op, p)
    check_floating(op, input)
    if not training or p == 0.0:
        return input
    return _dropout_with_mask(input, p, input.shape)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels: each ``input[n, c]`` is kept (scaled by ``1 / (1 - p)``) or zeroed.

    For ``(N, C, H, W)``; a 3-D input is taken as ``(N, C, L)``, which is what PyTorch does too
    (with a warning).

    Examples
    --------
    >>> y = F.dropout2d(giagrad.ones(8, 16, 5, 5), p=0.5)   # y[n, c] all 0 or all 2
    """
    op = "dropout2d"
    input = _tensor(op, input)
    p = check_probability(op, p)
    check_floating(op, input)
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) or 3-D (N, C, L), got shape {input.shape}")
    if not training or p == 0.0:
        return input
    return _dropout_with_mask(input, p, input.shape[:2] + (1,) * (input.ndim - 2))


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight``: ``out[...] = weight[input[...]]``.

    Parameters
    ----------
    input : Tensor
        Integer indices of any shape, each in ``[0, num_embeddings)``.
    weight : Tensor
        ``(num_embeddings, embedding_dim)``.
    padding_idx : int, optional
        This row receives no gradient (its value is whatever ``weight`` holds; ``nn.Embedding``
        zeroes it at construction). Negative values count from the end.

    Returns
    -------
    Tensor
        ``input.shape + (embedding_dim,)``. Rows looked up several times accumulate gradient.

    Examples
    --------
    >>> F.embedding(giagrad.tensor([[0, 2], [1, 0]]), giagrad.randn(3, 4)).shape
    (2, 2, 4)
    """
    op = "embedding"
    indices = input.data if isinstance(input, Tensor) else np.asarray(input)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer tensor, got dtype {indices.dtype}")
    weight = _tensor(op, weight, "weight")
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    rows = weight.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= rows):
        raise IndexError(f"{op}: indices must be in [0, {rows}) for weight of shape {weight.shape}, got values "
                         f"from {indices.min()} to {indices.max()}")
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ValueError(f"{op}: padding_idx {padding_idx} is out of range for {rows} embeddings")
        padding_idx = int(padding_idx) % rows
    return Tensor.comm(normops.Embedding, weight, indices=indices, padding_idx=padding_idx)


# -------------------------------------------------------------------------------- attention


def _attention_mask(op: str, attn_mask: Any, scores_shape: tuple[int, ...], dtype: np.dtype) -> Tensor:
    """``attn_mask`` as an additive float tensor: bool True (take part) -> 0, False -> -inf."""
    mask = _tensor(op, attn_mask, "attn_mask")
    try:
        np.broadcast_shapes(mask.shape, scores_shape)
    except ValueError:
        raise ValueError(f"{op}: attn_mask of shape {mask.shape} does not broadcast to the attention "
                         f"weights' shape {scores_shape} (..., L, S)") from None
    if mask.dtype == np.bool_:
        return Tensor(np.where(mask.data, np.array(0, dtype=dtype), np.array(-np.inf, dtype=dtype)))
    if mask.dtype != dtype:
        raise TypeError(f"{op}: a float attn_mask must have the query's dtype {dtype}, got {mask.dtype}")
    return mask


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None) -> Tensor:
    r"""Attention weights ``softmax(q k^T * scale + mask)`` applied to ``value``, in one fused node.

    .. math:: \mathrm{out} = \mathrm{dropout}\left(\mathrm{softmax}\left(\frac{q k^T}{\sqrt{E}}
              + M\right)\right) v

    Parameters
    ----------
    query : Tensor
        ``(..., L, E)``.
    key : Tensor
        ``(..., S, E)``.
    value : Tensor
        ``(..., S, Ev)``. Leading dims broadcast against each other.
    attn_mask : Tensor, optional
        Broadcasts to ``(..., L, S)``. Bool: True where a query may attend to a key. Float: added
        to the scores (it may require grad).
    dropout_p : float
        Dropout on the attention weights. As in PyTorch, it applies whenever it is above 0 (pass
        ``dropout_p=0.0`` when evaluating).
    is_causal : bool
        Query ``i`` attends to keys ``0..i`` only (top-left aligned); excludes ``attn_mask``.
    scale : float, optional
        Default ``1 / sqrt(E)``.

    Returns
    -------
    Tensor
        ``(..., L, Ev)``. A query that may attend to no key gets an output of 0 (not NaN).

    Examples
    --------
    >>> q = k = v = giagrad.randn(2, 4, 16, 8)              # batch, heads, sequence, head size
    >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
    (2, 4, 16, 8)
    """
    op = "scaled_dot_product_attention"
    query, key, value = _tensor(op, query, "query"), _tensor(op, key, "key"), _tensor(op, value, "value")
    for name, x in (("query", query), ("key", key), ("value", value)):
        check_floating(op, x, name)
        if x.ndim < 2:
            raise ValueError(f"{op}: {name} must have at least 2 dims (..., length, features), got shape {x.shape}")
        if x.dtype != query.dtype:
            raise TypeError(f"{op}: {name} is {x.dtype} but query is {query.dtype}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{op}: shapes do not fit: query {query.shape} (..., L, E), key {key.shape} (..., S, E), "
                         f"value {value.shape} (..., S, Ev)")
    try:
        batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: the leading dims of query {query.shape}, key {key.shape} and value "
                         f"{value.shape} do not broadcast") from None
    p = check_probability(op, dropout_p)
    length, source = query.shape[-2], key.shape[-2]
    scores_shape = batch + (length, source)
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: pass either attn_mask or is_causal=True, not both")
    inputs = [query, key, value]
    if is_causal:
        inputs.append(Tensor(attentionops.causal_mask(length, source, query.dtype)))
    elif attn_mask is not None:
        inputs.append(_attention_mask(op, attn_mask, scores_shape, query.dtype))
    dropout_mask = None
    if p > 0.0:
        keep = _random.generator().random(scores_shape, dtype=query.dtype)
        dropout_mask = (keep >= p).astype(query.dtype) * np.asarray(1.0 / (1.0 - p), dtype=query.dtype) \
            if p < 1.0 else np.zeros(scores_shape, dtype=query.dtype)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    return Tensor.comm(attentionops.ScaledDotProductAttention, *inputs, scale=scale, dropout_mask=dropout_mask)
