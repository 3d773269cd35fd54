"""``Linear``, the fully connected layer, and ``Identity``, the layer that does nothing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from giagrad._validation import float_dtype, require_tensor
from giagrad.nn import functional as F
from giagrad.nn import init
from giagrad.nn.module import Module, Parameter
from giagrad.tensor import Tensor

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Return the input unchanged (a placeholder, e.g. to remove a layer); arguments are ignored.

    Examples
    --------
    >>> model.head = nn.Identity()   # keep the features, drop the classifier
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:  # noqa: A002 (PyTorch's name)
        return input


class Linear(Module):
    """A fully connected layer: ``y = x W^T + b`` over the last dimension.

    .. math:: y_{..., j} = \\sum_i x_{..., i} W_{j, i} + b_j

    Parameters
    ----------
    in_features : int
        The size of the last dimension of the input.
    out_features : int
        The size of the last dimension of the output.
    bias : bool
        Whether to learn the additive bias ``b``.
    dtype : numpy dtype, optional
        Of the parameters (float32 by default).

    Attributes
    ----------
    weight : Parameter
        Shape ``(out_features, in_features)``, initialised as PyTorch does:
        ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. uniform on ``[-1/sqrt(in), 1/sqrt(in)]``.
    bias : Parameter or None
        Shape ``(out_features,)``, uniform on ``[-1/sqrt(in_features), 1/sqrt(in_features)]``.

    Examples
    --------
    >>> layer = nn.Linear(784, 128)
    >>> layer(giagrad.randn(64, 784)).shape
    (64, 128)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Linear: {name} must be a non-negative integer, got {value!r}")
        dtype = float_dtype("Linear", dtype)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw new weights and bias with PyTorch's default initialisation."""
        # a=sqrt(5) makes the bound gain * sqrt(3 / fan_in) equal to 1 / sqrt(fan_in).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        require_tensor("Linear", input)
        shape = input.shape
        if not shape or shape[-1] != self.in_features:
            raise ValueError(
                f"Linear: expected input of shape (..., in_features={self.in_features}), got shape {shape}"
            )
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
