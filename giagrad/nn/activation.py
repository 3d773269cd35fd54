"""Activation layers: thin modules over ``giagrad.nn.functional``, with PyTorch's names and reprs.

Each one holds only its options; the numerically stable op lives in ``giagrad.mlops``. Where
PyTorch accepts ``inplace=True``, giagrad accepts it for compatibility and ignores it: the layer
always returns a new tensor (autograd needs the input intact for the backward pass anyway).
"""

from __future__ import annotations

from collections.abc import Callable

from giagrad.nn import functional as F
from giagrad.nn.module import Module
from giagrad.tensor import Tensor

__all__ = [
    "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Mish", "Softplus", "Sigmoid", "Tanh", "Hardtanh",
    "Hardswish", "Softmax", "LogSoftmax", "CELU", "Softsign",
]


class _InplaceOnlyActivation(Module):
    """An activation whose only option is PyTorch's ``inplace`` (kept, ignored); a subclass names its function."""

    _function: Callable[[Tensor], Tensor]

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return self._function(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class _DimActivation(Module):
    """An activation along one required ``dim``; a subclass names its function."""

    _function: Callable[[Tensor, int], Tensor]

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return self._function(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class ReLU(_InplaceOnlyActivation):
    """``max(x, 0)`` elementwise.

    Parameters
    ----------
    inplace : bool
        Accepted for PyTorch compatibility and ignored (a new tensor is returned).

    Examples
    --------
    >>> nn.ReLU()(giagrad.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    _function = staticmethod(F.relu)


class LeakyReLU(Module):
    """``x`` where ``x > 0``, else ``negative_slope * x``.

    Parameters
    ----------
    negative_slope : float
        The slope for negative inputs (default 0.01).
    inplace : bool
        Accepted for PyTorch compatibility and ignored.

    Examples
    --------
    >>> nn.LeakyReLU(0.1)(giagrad.tensor([-2.0, 3.0]))
    tensor([-0.2,  3. ])
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Parameters
    ----------
    alpha : float
        The value approached for very negative inputs is ``-alpha`` (default 1.0).
    inplace : bool
        Accepted for PyTorch compatibility and ignored.

    Examples
    --------
    >>> nn.ELU()(giagrad.tensor([-1.0, 2.0]))
    tensor([-0.63212055,  2.        ])
    """

    _function = staticmethod(F.elu)

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return self._function(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """Gaussian error linear unit ``x * Phi(x)``, exact or with the tanh approximation.

    Parameters
    ----------
    approximate : {'none', 'tanh'}
        ``'none'`` uses the normal CDF (through an ``erfc`` approximation accurate to 2e-12
        relative in float64 and to float32's resolution in float32, see ``F.gelu``); ``'tanh'``
        uses ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Examples
    --------
    >>> nn.GELU()(giagrad.tensor([-1.0, 0.0, 1.0]))
    tensor([-0.1586553,  0.        ,  0.8413447 ])
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_InplaceOnlyActivation):
    """``x * sigmoid(x)`` (swish). ``inplace`` is accepted and ignored.

    Examples
    --------
    >>> nn.SiLU()(giagrad.tensor([-1.0, 1.0]))
    tensor([-0.2689414,  0.7310586])
    """

    _function = staticmethod(F.silu)


class Mish(_InplaceOnlyActivation):
    """``x * tanh(softplus(x))``. ``inplace`` is accepted and ignored.

    Examples
    --------
    >>> nn.Mish()(giagrad.tensor([-1.0, 1.0]))
    tensor([-0.30340147,  0.8650984 ])
    """

    _function = staticmethod(F.mish)


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``.

    Parameters
    ----------
    beta : float
        Sharpness (default 1.0); large ``beta`` approaches ``relu``.
    threshold : float
        Above ``beta * x > threshold`` the output is ``x`` (default 20.0).

    Examples
    --------
    >>> nn.Softplus()(giagrad.tensor([0.0]))
    tensor([0.6931472])
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        if beta == 0:
            raise ValueError("Softplus: beta must be non-zero")
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``, stable for large ``|x|``.

    Examples
    --------
    >>> nn.Sigmoid()(giagrad.tensor([0.0]))
    tensor([0.5])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """The hyperbolic tangent.

    Examples
    --------
    >>> nn.Tanh()(giagrad.tensor([0.0]))
    tensor([0.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Hardtanh(Module):
    """``clip(x, min_val, max_val)``.

    Parameters
    ----------
    min_val, max_val : float
        The range (default -1.0 and 1.0).
    inplace : bool
        Accepted for PyTorch compatibility and ignored.

    Examples
    --------
    >>> nn.Hardtanh()(giagrad.tensor([-3.0, 0.5, 3.0]))
    tensor([-1. ,  0.5,  1. ])
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if not min_val <= max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class Hardswish(_InplaceOnlyActivation):
    """``x * clip(x + 3, 0, 6) / 6``. ``inplace`` is accepted and ignored.

    Examples
    --------
    >>> nn.Hardswish()(giagrad.tensor([1.0]))
    tensor([0.6666667])
    """

    _function = staticmethod(F.hardswish)


class Softmax(_DimActivation):
    """Probabilities along ``dim``: ``exp(x - max) / sum(exp(x - max))``.

    Parameters
    ----------
    dim : int
        The dimension that sums to one. Unlike PyTorch it is required.

    Examples
    --------
    >>> nn.Softmax(dim=1)(giagrad.tensor([[0.0, 0.0]]))
    tensor([[0.5, 0.5]])
    """

    _function = staticmethod(F.softmax)


class LogSoftmax(_DimActivation):
    """Log-probabilities along ``dim``, computed stably (see ``F.log_softmax``).

    Parameters
    ----------
    dim : int
        The dimension over which the probabilities sum to one. Unlike PyTorch it is required.

    Examples
    --------
    >>> nn.LogSoftmax(dim=1)(giagrad.tensor([[0.0, 0.0]]))
    tensor([[-0.6931472, -0.6931472]])
    """

    _function = staticmethod(F.log_softmax)


class CELU(ELU):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``: an ELU continuously differentiable in ``alpha``.

    Parameters
    ----------
    alpha : float
        The value approached for very negative inputs is ``-alpha`` (default 1.0).
    inplace : bool
        Accepted for PyTorch compatibility and ignored.

    Examples
    --------
    >>> nn.CELU(2.0)(giagrad.tensor([-1.0, 2.0]))
    tensor([-0.78693867,  2.        ])
    """

    _function = staticmethod(F.celu)


class Softsign(Module):
    """``x / (1 + |x|)`` elementwise.

    Examples
    --------
    >>> nn.Softsign()(giagrad.tensor([-1.0, 3.0]))
    tensor([-0.5 ,  0.75])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)
