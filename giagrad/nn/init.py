"""Initialisers: fill a tensor in place with values suited to the layer it belongs to.

Every function changes ``tensor`` in place (under ``no_grad``), keeps its dtype (a float32
weight stays float32), returns it, and draws from ``giagrad.random.generator()``, so that
``giagrad.manual_seed`` makes initialisation reproducible.

The fans of a weight count the receptive field of convolutions: for a weight of shape
``(out_channels, in_channels / groups, *kernel_size)``,

    fan_in  = in_channels / groups * prod(kernel_size)
    fan_out = out_channels * prod(kernel_size)

Examples
--------
>>> from giagrad.nn import init
>>> w = giagrad.empty(128, 784)
>>> w = init.kaiming_uniform_(w, nonlinearity="relu")   # fills w in place and returns it
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from giagrad import random as _random
from giagrad.grad_mode import no_grad
from giagrad.tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
]


def _fill(tensor: Tensor, values: Any) -> Tensor:
    """Copy ``values`` into ``tensor``'s array (converted to its dtype) and note the change."""
    with no_grad():
        np.copyto(tensor.data, values, casting="unsafe")
        tensor._mark_modified()
    return tensor


def _check_tensor(op: str, tensor: Any) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(tensor).__name__}")
    if tensor.data.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {tensor.dtype}")
    if not tensor.data.flags.writeable:
        raise ValueError(f"{op}: the tensor's array is read-only")
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: the factor by which it shrinks the std of its input.

    ============================  ===================================
    nonlinearity                  gain
    ============================  ===================================
    linear, conv*, sigmoid        1
    tanh                          5/3
    relu                          sqrt(2)
    leaky_relu                    sqrt(2 / (1 + negative_slope^2))
    selu                          3/4
    ============================  ===================================

    Parameters
    ----------
    nonlinearity : str
        One of the names above (``"conv1d"``, ``"conv2d"``, ``"conv3d"``, ``"conv_transpose1d"``,
        ``"conv_transpose2d"``, ``"conv_transpose3d"`` count as linear).
    param : float, optional
        The negative slope of ``leaky_relu`` (default 0.01).

    Examples
    --------
    >>> init.calculate_gain("leaky_relu", 0.2)
    1.3867504905630728
    """
    linear_like = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                   "conv_transpose3d", "sigmoid")
    if nonlinearity in linear_like:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            negative_slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4  # the value PyTorch chose for self-normalising networks
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{', '.join((*linear_like, 'tanh', 'relu', 'leaky_relu', 'selu'))}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight with at least 2 dims, counting a conv kernel's size."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape {shape})"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} not supported, please use one of 'fan_in', 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with values drawn uniformly from ``[a, b)``.

    Examples
    --------
    >>> w = init.uniform_(giagrad.empty(3, 5), -0.1, 0.1)
    """
    _check_tensor("uniform_", tensor)
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _fill(tensor, _random.generator().uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with values drawn from the normal distribution ``N(mean, std^2)``."""
    _check_tensor("normal_", tensor)
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(tensor, _random.generator().normal(mean, std, size=tensor.shape))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> Tensor:
    """Fill with values from ``N(mean, std^2)`` restricted to ``[a, b]`` (``a`` and ``b`` are absolute).

    Values outside ``[a, b]`` are drawn again (PyTorch inverts the CDF instead; the distribution is
    the same). An interval holding less than 0.01% of the normal's mass is refused, since
    redrawing would take too long.

    Examples
    --------
    >>> w = init.trunc_normal_(giagrad.empty(768, 768), std=0.02, a=-0.04, b=0.04)
    """
    _check_tensor("trunc_normal_", tensor)
    if not std > 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")

    def normal_cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf((x - mean) / (std * math.sqrt(2.0))))

    acceptance = normal_cdf(b) - normal_cdf(a)
    if acceptance < 1e-4:
        raise ValueError(
            f"trunc_normal_: [{a}, {b}] holds only {acceptance:.2g} of N({mean}, {std}^2); "
            "choose an interval nearer the mean"
        )
    generator = _random.generator()
    values = generator.normal(mean, std, size=tensor.shape)
    flat = values.reshape(-1)
    outside = np.flatnonzero((flat < a) | (flat > b))
    while outside.size:  # each round redraws only the rejected values
        flat[outside] = generator.normal(mean, std, size=outside.size)
        outside = outside[(flat[outside] < a) | (flat[outside] > b)]
    return _fill(tensor, values)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value ``val``."""
    _check_tensor("constant_", tensor)
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal, zeros elsewhere)."""
    _check_tensor("eye_", tensor)
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape, dtype=tensor.dtype))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot initialisation: uniform on ``[-bound, bound]`` keeping activations' variance through layers.

    .. math:: bound = gain \\cdot \\sqrt{6 / (fan_{in} + fan_{out})}

    Examples
    --------
    >>> w = init.xavier_uniform_(giagrad.empty(3, 5), gain=init.calculate_gain("tanh"))
    """
    _check_tensor("xavier_uniform_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0
    bound = math.sqrt(3.0) * std
    return _fill(tensor, _random.generator().uniform(-bound, bound, size=tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot initialisation with a normal distribution.

    .. math:: std = gain \\cdot \\sqrt{2 / (fan_{in} + fan_{out})}
    """
    _check_tensor("xavier_normal_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0
    return _fill(tensor, _random.generator().normal(0.0, std, size=tensor.shape))


def _kaiming_std(op: str, tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    """The std of He initialisation, or None for a tensor with no elements (nothing to fill)."""
    _check_tensor(op, tensor)
    fan = _calculate_correct_fan(tensor, mode)
    if tensor.data.size == 0:
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He initialisation: uniform on ``[-bound, bound]`` keeping the variance through (leaky) ReLUs.

    .. math:: bound = gain \\cdot \\sqrt{3 / fan_{mode}}

    Parameters
    ----------
    tensor : Tensor
        A weight of at least 2 dims.
    a : float
        The negative slope of the ``leaky_relu`` that follows (unused for other nonlinearities).
    mode : {"fan_in", "fan_out"}
        ``"fan_in"`` preserves the variance of activations forward, ``"fan_out"`` of gradients backward.
    nonlinearity : str
        A name accepted by :func:`calculate_gain` (``"relu"`` or ``"leaky_relu"`` are typical).

    Examples
    --------
    >>> w = init.kaiming_uniform_(giagrad.empty(128, 784), mode="fan_in", nonlinearity="relu")
    """
    std = _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _fill(tensor, _random.generator().uniform(-bound, bound, size=tensor.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He initialisation with a normal distribution.

    .. math:: std = gain / \\sqrt{fan_{mode}}

    Parameters are those of :func:`kaiming_uniform_`.
    """
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return _fill(tensor, _random.generator().normal(0.0, std, size=tensor.shape))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Fill with a (semi-)orthogonal matrix, as in Saxe et al. (2013); extra dims are flattened.

    The matrix is the Q of the QR decomposition of a normal random matrix, with the signs of its
    columns corrected by the diagonal of R so that it is uniformly distributed.

    Examples
    --------
    >>> w = init.orthogonal_(giagrad.empty(3, 5))   # w @ w.T is the identity
    """
    _check_tensor("orthogonal_", tensor)
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape {tensor.shape}")
    if tensor.data.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flattened = _random.generator().standard_normal((rows, cols))
    if rows < cols:
        flattened = flattened.T
    q, r = np.linalg.qr(flattened)
    q *= np.sign(np.diag(r))  # makes the decomposition unique, so Q is uniform over orthogonal matrices
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(tensor.shape))
