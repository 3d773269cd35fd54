"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, their 3-D forms and ``AdaptiveAvgPool2d`` (no parameters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from giagrad._validation import int_tuple
from giagrad.nn import functional as F
from giagrad.nn.module import Module
from giagrad.tensor import Tensor

__all__ = ["MaxPool2d", "AvgPool2d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool2d"]


def _check_pool_arguments(name: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1,
                          dims: int = 2) -> None:
    kernel = int_tuple(name, "kernel_size", kernel_size, dims, 1)
    if stride is not None:
        int_tuple(name, "stride", stride, dims, 1)
    pads = int_tuple(name, "padding", padding, dims, 0)
    dilations = int_tuple(name, "dilation", dilation, dims, 1)
    for p, k, d in zip(pads, kernel, dilations, strict=True):
        if 2 * p > d * (k - 1) + 1:
            raise ValueError(f"{name}: padding {padding} must be at most half of the kernel size {kernel_size}")


class MaxPool2d(Module):
    """The maximum over each window of ``(N, C, H, W)`` (see ``F.max_pool2d``).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        ``-inf`` on both sides, at most half the kernel.
    dilation : int or (int, int)
    return_indices : bool
        Not supported (must be False); kept for PyTorch's argument order.
    ceil_mode : bool
        Round the output size up.

    Examples
    --------
    >>> nn.MaxPool2d(2)(giagrad.randn(64, 32, 26, 26)).shape
    (64, 32, 13, 13)
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        if return_indices:
            raise ValueError(f"{type(self).__name__}: return_indices=True is not supported")
        _check_pool_arguments(type(self).__name__, kernel_size, stride, padding, dilation, self._dims)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation, self.ceil_mode = padding, dilation, bool(ceil_mode)

    _dims = 2
    # Callable[..., Tensor]: the 3-D subclass puts the 3-D function here
    _function: Callable[..., Tensor] = staticmethod(F.max_pool2d)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return self._function(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean over each window of ``(N, C, H, W)`` (see ``F.avg_pool2d`` for the divisor rules).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Zeros on both sides, at most half the kernel.
    ceil_mode : bool
    count_include_pad : bool
        Whether padded zeros count in the divisor.
    divisor_override : int, optional

    Examples
    --------
    >>> nn.AvgPool2d(2)(giagrad.randn(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        _check_pool_arguments(type(self).__name__, kernel_size, stride, padding, dims=self._dims)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, bool(ceil_mode)
        self.count_include_pad, self.divisor_override = bool(count_include_pad), divisor_override

    _dims = 2
    _function: Callable[..., Tensor] = staticmethod(F.avg_pool2d)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return self._function(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool3d(MaxPool2d):
    """``MaxPool2d`` over ``(N, C, D, H, W)`` (see ``F.max_pool3d``); arguments take three entries.

    Examples
    --------
    >>> nn.MaxPool3d(2)(giagrad.randn(1, 2, 4, 4, 4)).shape
    (1, 2, 2, 2, 2)
    """

    _dims = 3
    _function = staticmethod(F.max_pool3d)


class AvgPool3d(AvgPool2d):
    """``AvgPool2d`` over ``(N, C, D, H, W)`` (see ``F.avg_pool3d``); arguments take three entries.

    Examples
    --------
    >>> nn.AvgPool3d(2)(giagrad.randn(1, 2, 4, 4, 4)).shape
    (1, 2, 2, 2, 2)
    """

    _dims = 3
    _function = staticmethod(F.avg_pool3d)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size``, whatever the input size (see ``F.adaptive_avg_pool2d``).

    Parameters
    ----------
    output_size : int or (int or None, int or None)
        ``None`` keeps that input dim.

    Examples
    --------
    >>> nn.AdaptiveAvgPool2d(1)(giagrad.randn(8, 64, 7, 7)).shape   # global average pooling
    (8, 64, 1, 1)
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        if len(sizes) != 2 or any(s is not None and (not isinstance(s, int) or isinstance(s, bool) or s < 1)
                                  for s in sizes):
            raise ValueError(f"AdaptiveAvgPool2d: output_size must be a positive int or a pair of positive "
                             f"ints or None, got {output_size!r}")
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
