"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm`` and ``GroupNorm``."""

from __future__ import annotations

from typing import Any

import numpy as np

from giagrad._validation import float_dtype, positive_int, require_tensor
from giagrad.grad_mode import no_grad
from giagrad.nn import functional as F
from giagrad.nn import init
from giagrad.nn.module import Module, Parameter
from giagrad.tensor import Tensor

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]


def _affine_parameters(module: Module, affine: bool, bias: bool, shape: int | tuple[int, ...], dtype: np.dtype) -> None:
    """Give ``module`` a learnable ``weight`` (ones) and ``bias`` (zeros) of ``shape``, or None for each it lacks."""
    if affine:
        module.weight = Parameter(np.ones(shape, dtype=dtype))
        if bias:
            module.bias = Parameter(np.zeros(shape, dtype=dtype))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


class _BatchNorm(Module):
    """Batch normalization over the channel dim 1; subclasses say which input ranks they take."""

    input_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = positive_int(name, "num_features", num_features)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum!r}")
        dtype = float_dtype(name, dtype)
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        _affine_parameters(self, affine, bias, self.num_features, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(self.num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Running statistics reset; weight 1, bias 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        require_tensor(type(self).__name__, input)
        shape = input.shape
        if len(shape) not in self.input_dims:
            expected = " or ".join(f"{d}D" for d in self.input_dims)
            raise ValueError(f"{self!r}: expected {expected} input, got shape {shape}")
        if shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected input with {self.num_features} channels (dim 1), got shape {shape}")
        # PyTorch's rules: momentum=None is a cumulative average, 1 / (batches seen).
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            self.num_batches_tracked._mark_modified()
            if self.momentum is None:
                factor = 1.0 / int(self.num_batches_tracked.data)
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of ``(N, C)`` or ``(N, C, L)`` over the batch (and length), per channel.

    .. math:: y = \\frac{x - E[x]}{\\sqrt{Var[x] + \\epsilon}} \\gamma + \\beta

    Training: the batch's mean and biased variance normalise, and the running statistics are
    updated with the unbiased variance: ``running = (1 - momentum) running + momentum batch``.
    Eval (``model.eval()``): the running statistics normalise.

    Parameters
    ----------
    num_features : int
        ``C``.
    eps : float
    momentum : float or None
        ``None``: a cumulative average over all batches seen.
    affine : bool
        Learn ``weight`` (:math:`\\gamma`, ones) and ``bias`` (:math:`\\beta`, zeros).
    track_running_stats : bool
        Keep ``running_mean``, ``running_var`` and ``num_batches_tracked`` buffers; without them
        eval mode normalises with the batch's statistics too.
    dtype : numpy dtype, optional
    bias : bool
        Keyword only: learn the shift (with ``affine``).

    Examples
    --------
    >>> bn = nn.BatchNorm1d(128)
    >>> bn(giagrad.randn(64, 128)).shape
    (64, 128)
    """

    input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of ``(N, C, H, W)`` per channel, over batch and pixels.

    The same layer as :class:`BatchNorm1d` for images; see it for the rules and parameters.

    Examples
    --------
    >>> bn = nn.BatchNorm2d(32)
    >>> bn(giagrad.randn(8, 32, 14, 14)).shape
    (8, 32, 14, 14)
    """

    input_dims = (4,)


class LayerNorm(Module):
    """Normalise each sample over its last dims (``normalized_shape``), then scale and shift.

    .. math:: y = \\frac{x - E[x]}{\\sqrt{Var[x] + \\epsilon}} \\gamma + \\beta

    The same in training and eval: no running statistics.

    Parameters
    ----------
    normalized_shape : int or tuple of int
        The trailing shape to normalise over.
    eps : float
    elementwise_affine : bool
        Learn ``weight`` (ones) and ``bias`` (zeros) of shape ``normalized_shape``.
    bias : bool
        Learn the shift (with ``elementwise_affine``).
    dtype : numpy dtype, optional

    Examples
    --------
    >>> nn.LayerNorm(64)(giagrad.randn(8, 10, 64)).shape
    (8, 10, 64)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape:
            raise ValueError("LayerNorm: normalized_shape must not be empty")
        self.normalized_shape = tuple(positive_int("LayerNorm", "normalized_shape", s) for s in shape)
        dtype = float_dtype("LayerNorm", dtype)
        self.eps, self.elementwise_affine = eps, bool(elementwise_affine)
        _affine_parameters(self, elementwise_affine, bias, self.normalized_shape, dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise groups of channels of each sample of ``(N, C, *)``, then scale and shift per channel.

    The mean and variance of each group run over its ``C / num_groups`` channels and all
    positions; ``GroupNorm(1, C)`` normalises whole samples, ``GroupNorm(C, C)`` each channel.

    Parameters
    ----------
    num_groups : int
    num_channels : int
        Divisible by ``num_groups``.
    eps : float
    affine : bool
        Learn ``weight`` (ones) and ``bias`` (zeros) of shape ``(num_channels,)``.
    dtype : numpy dtype, optional
    bias : bool
        Keyword only: learn the shift (with ``affine``).

    Examples
    --------
    >>> nn.GroupNorm(4, 32)(giagrad.randn(2, 32, 8, 8)).shape
    (2, 32, 8, 8)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_groups = positive_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = positive_int("GroupNorm", "num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        dtype = float_dtype("GroupNorm", dtype)
        self.eps, self.affine = eps, bool(affine)
        _affine_parameters(self, affine, bias, self.num_channels, dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        shape: tuple[int, ...] = getattr(input, "shape", ())
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.num_channels}, *), got shape {shape}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, " \
               f"bias={self.bias is not None}"
