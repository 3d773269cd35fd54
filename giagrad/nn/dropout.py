"""Dropout layers: ``Dropout`` (elements) and ``Dropout2d`` (whole channels)."""

from __future__ import annotations

from giagrad._validation import check_probability
from giagrad.nn import functional as F
from giagrad.nn.module import Module
from giagrad.tensor import Tensor

__all__ = ["Dropout", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = check_probability(type(self).__name__, p)
        if inplace:
            raise ValueError(f"{type(self).__name__}: inplace=True is not supported (autograd records no "
                             "in-place ops)")
        self.inplace = False

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """In training, zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Inverted dropout: the expected output equals the input, so evaluation (``model.eval()``)
    is the identity. Masks come from ``giagrad.manual_seed``'s generator.

    Parameters
    ----------
    p : float
        The probability of zeroing, in ``[0, 1]``.
    inplace : bool
        Must be False; kept for PyTorch's signature.

    Examples
    --------
    >>> drop = nn.Dropout(0.2)
    >>> x = giagrad.ones(4, 5)
    >>> y = drop(x)    # entries 0 or 1.25
    >>> drop.eval()
    Dropout(p=0.2, inplace=False)
    >>> drop(x) is x
    True
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.dropout(input, self.p, self.training)


class Dropout2d(_DropoutNd):
    """In training, zero whole channels ``input[n, c]`` of ``(N, C, H, W)`` with probability ``p``.

    Survivors are scaled by ``1 / (1 - p)``; identity in eval. Neighbouring pixels of a feature
    map are strongly correlated, so dropping single pixels regularises convolutions little; dropping
    whole maps does. A 3-D input is taken as ``(N, C, L)``, as PyTorch does.

    Examples
    --------
    >>> nn.Dropout2d(0.5)(giagrad.ones(8, 16, 5, 5)).shape
    (8, 16, 5, 5)
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.dropout2d(input, self.p, self.training)
