"""Convolution layers: ``Conv1d``, ``Conv2d``, ``Conv3d`` and ``ConvTranspose2d``.

Each holds a weight and an optional bias and calls the functional form in
``giagrad.nn.functional``; the computation itself is in ``giagrad.convops``.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from giagrad._validation import float_dtype, int_tuple, positive_int, require_tensor
from giagrad.nn import functional as F
from giagrad.nn import init
from giagrad.nn.module import Module, Parameter
from giagrad.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d"]


class _ConvNd(Module):
    """What the convolution layers share: arguments, parameters, initialisation, checks, repr."""

    spatial_dims = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, groups: int, bias: bool, padding_mode: str, output_padding: Any = 0,
                 dtype: Any = None) -> None:
        super().__init__()
        name, dims = type(self).__name__, self.spatial_dims
        in_channels = positive_int(name, "in_channels", in_channels)
        out_channels = positive_int(name, "out_channels", out_channels)
        groups = positive_int(name, "groups", groups)
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode {padding_mode!r} is not supported; only 'zeros' is")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, dims, 1)
        self.stride = int_tuple(name, "stride", stride, dims, 1)
        self.dilation = int_tuple(name, "dilation", dilation, dims, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = int_tuple(name, "padding", padding, dims, 0)
        self.output_padding = int_tuple(name, "output_padding", output_padding, dims, 0)
        self.padding_mode = padding_mode
        dtype = float_dtype(name, dtype)
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: ``kaiming_uniform_(a=sqrt(5))``, bias uniform on ``±1/sqrt(fan_in)``.

        ``fan_in`` is ``weight.shape[1] * prod(kernel_size)`` (for ``ConvTranspose2d`` that is
        ``out_channels / groups * prod(kernel_size)``, as in PyTorch).
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def _check_input(self, input: Any) -> None:
        require_tensor(type(self).__name__, input)
        shape = input.shape
        dims = self.spatial_dims
        layout = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[dims]
        if len(shape) not in (dims + 1, dims + 2):
            raise ValueError(f"{self!r}: expected a {dims + 2}-D input {layout} (or {dims + 1}-D without the "
                             f"batch dim), got shape {shape}")
        channels = shape[-dims - 1]
        if channels != self.in_channels:
            raise ValueError(f"{self!r}: expected input with in_channels={self.in_channels} channels, got input "
                             f"of shape {shape}")

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.spatial_dims:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.spatial_dims:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.spatial_dims:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """A 2-D convolution layer over ``(N, C_in, H, W)``.

    .. math:: out[n, o] = bias[o] + \\sum_{c} weight[o, c] \\star input[n, c]

    (``\\star`` is cross-correlation; ``c`` runs over output channel ``o``'s group.)

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'
        ``'same'`` (stride 1 only) keeps ``H`` and ``W``, putting an odd extra pixel at the
        bottom/right, as PyTorch.
    dilation : int or (int, int)
    groups : int
        Both channel counts must be divisible by it.
    bias : bool
    padding_mode : str
        Only ``'zeros'`` is supported.
    dtype : numpy dtype, optional
        Of the parameters (float32 by default).

    Attributes
    ----------
    weight : Parameter
        ``(out_channels, in_channels / groups, KH, KW)``, ``kaiming_uniform_(a=sqrt(5))``, i.e.
        uniform on ``±1/sqrt(fan_in)`` with ``fan_in = in_channels / groups * KH * KW``.
    bias : Parameter or None
        ``(out_channels,)``, uniform on ``±1/sqrt(fan_in)``.

    Examples
    --------
    >>> conv = nn.Conv2d(1, 32, 3, padding=1)
    >>> conv(giagrad.randn(64, 1, 28, 28)).shape
    (64, 32, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        self._check_input(input)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv3d(_ConvNd):
    """A 3-D convolution layer over ``(N, C_in, D, H, W)``; the arguments mean what they do for ``Conv2d``.

    Attributes
    ----------
    weight : Parameter
        ``(out_channels, in_channels / groups, KD, KH, KW)``.
    bias : Parameter or None
        ``(out_channels,)``.

    Examples
    --------
    >>> nn.Conv3d(2, 4, 3, padding=1)(giagrad.randn(1, 2, 5, 6, 7)).shape
    (1, 4, 5, 6, 7)
    """

    spatial_dims = 3

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int, int],
                 stride: int | tuple[int, int, int] = 1, padding: int | tuple[int, int, int] | str = 0,
                 dilation: int | tuple[int, int, int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        self._check_input(input)
        return F.conv3d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """A 1-D convolution layer over ``(N, C_in, L)``; the arguments mean what they do for ``Conv2d``.

    Attributes
    ----------
    weight : Parameter
        ``(out_channels, in_channels / groups, K)``.
    bias : Parameter or None
        ``(out_channels,)``.

    Examples
    --------
    >>> nn.Conv1d(16, 33, 3, stride=2)(giagrad.randn(20, 16, 50)).shape
    (20, 33, 24)
    """

    spatial_dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int],
                 stride: int | tuple[int] = 1, padding: int | tuple[int] | str = 0, dilation: int | tuple[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        self._check_input(input)
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """A 2-D transposed convolution layer: upsampling by the adjoint of ``Conv2d``.

    ``OH = (H - 1) stride - 2 padding + dilation (KH - 1) + output_padding + 1`` (likewise
    ``OW``), so ``ConvTranspose2d`` inverts the shape change of a ``Conv2d`` with the same
    arguments; ``output_padding`` picks among the sizes a strided ``Conv2d`` maps together, or
    ``forward(input, output_size=(OH, OW))`` picks it for one call, as in PyTorch.

    Attributes
    ----------
    weight : Parameter
        ``(in_channels, out_channels / groups, KH, KW)``.
    bias : Parameter or None
        ``(out_channels,)``.

    Examples
    --------
    >>> up = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
    >>> up(giagrad.randn(4, 16, 7, 7)).shape
    (4, 8, 14, 14)
    """

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 output_padding: int | tuple[int, int] = 0, groups: int = 1, bias: bool = True,
                 dilation: int | tuple[int, int] = 1, padding_mode: str = "zeros", dtype: Any = None) -> None:
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a tuple, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, dtype)
        for extra, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if extra >= s and extra >= d:
                raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than "
                                 f"either stride {self.stride} or dilation {self.dilation}")

    def forward(self, input: Tensor, output_size: tuple[int, ...] | None = None) -> Tensor:  # noqa: A002
        self._check_input(input)
        output_padding = self.output_padding if output_size is None else self._output_padding(input, output_size)
        padding = cast(tuple[int, ...], self.padding)  # never 'same' for a transposed convolution
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, padding, output_padding,
                                  self.groups, self.dilation)

    def _output_padding(self, input: Tensor, output_size: tuple[int, ...]) -> tuple[int, ...]:
        """The ``output_padding`` that gives ``output_size`` (its last two entries are used)."""
        sizes = tuple(output_size)[-2:]
        if len(sizes) != 2:
            raise ValueError(f"{self!r}: output_size must give the 2 spatial sizes, got {output_size!r}")
        padding: tuple[int, ...] = ()
        for size, wanted, k, s, p, d in zip(input.shape[-2:], sizes, self.kernel_size, self.stride, self.padding,
                                            self.dilation, strict=True):
            smallest = (size - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= wanted < smallest + s:
                raise ValueError(f"{self!r}: requested an output size of {sizes}, but valid sizes for input of "
                                 f"shape {input.shape} range from {smallest} to {smallest + s - 1} per dim")
            padding += (wanted - smallest,)
        return padding
