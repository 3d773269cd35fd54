"""Convolution and pooling: sliding-window operations over the spatial dims of ``(N, C, *spatial)``.

Written once for any number of spatial dims: ``(N, C, H, W)`` images (``Conv2d``, ``MaxPool2d``,
``AvgPool2d``) and ``(N, C, D, H, W)`` volumes (``Conv3d``, ... the same classes under 3-D names).

Convolutions rest on two movements of data:

- ``im2col`` lays every window of the (padded) input out as a column of one matrix, so that a
  convolution becomes ONE matrix multiply (a batched one over groups). The windows are a strided
  view of the input (``as_strided``: no copy); the matrix is one copy of it.
- ``col2im`` is its adjoint: it adds each column back onto the positions its window covered. It
  loops over the kernel offsets only (``kh * kw`` whole-array slice additions), so overlapping
  windows accumulate.

Options arrive normalised by ``giagrad.nn.functional``: ``stride`` and ``dilation`` with one
entry per spatial dim (``(h, w)``), ``padding`` as ``(before, after)`` per spatial dim
(``(top, bottom, left, right)``).

Layout: batch last. Inside a convolution the arrays are ``(C, *spatial, N)`` in memory: the
padded input, the columns ``(C, KH, KW, OH, OW, N)`` and the product ``weight @ columns``, which
comes out as ``(C_out, OH, OW, N)`` and is returned as an ``(N, C_out, OH, OW)`` view (no copy).
Why: every copy and slice addition of ``im2col``/``col2im`` then moves whole runs of
``OW * N`` contiguous numbers (the batch is innermost) where a batch-first layout moves runs of
``OW`` (14 numbers in a 28x28 CNN): numpy pays per run, and the batch-last movements run about
1.6 times faster. The layers that follow (batch norm, ReLU, pooling) keep their input's memory
layout, so the whole conv -> BN -> ReLU -> pool chain runs batch-last, and max pooling's strided
views also read runs of ``N`` rather than single numbers (about twice as fast). Splitting
``C`` into ``(groups, C / groups)`` stays a free reshape, and so does splitting the channels
over threads (``giagrad.kernels``): each thread's share of a copy, an addition or a pooling
scan is one contiguous block.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import DTypeLike

from giagrad import kernels
from giagrad.autograd import Function

Pair = tuple[int, ...]  # one entry per spatial dim: (h, w) for images
Padding = tuple[int, ...]  # (before, after) per spatial dim: (top, bottom, left, right) for images


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one dim; ``padding`` is the total of both sides.

    .. math:: \\lfloor (size + padding - dilation (kernel - 1) - 1) / stride \\rfloor + 1
    """
    return (size + padding - dilation * (kernel - 1) - 1) // stride + 1


def sliding_windows(x: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_size: Pair) -> np.ndarray:
    """A read-only view ``(C, *kernel, *out_size, N)`` of the windows of a batch-last ``x (C, *spatial, N)``.

    In 2-D: ``windows[c, a, b, i, j, n] = x[c, i * sh + a * dh, j * sw + b * dw, n]`` (no copy).
    """
    channel_stride, *spatial_strides, batch_stride = x.strides
    return as_strided(
        x,
        shape=(x.shape[0], *kernel, *out_size, x.shape[-1]),
        strides=(channel_stride, *(st * d for st, d in zip(spatial_strides, dilation, strict=True)),
                 *(st * s for st, s in zip(spatial_strides, stride, strict=True)), batch_stride),
        writeable=False,
    )


def im2col(x: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_size: Pair) -> np.ndarray:
    """The windows of a batch-last ``x (C, *spatial, N)`` as a contiguous ``(C, *kernel, *out_size, N)`` (one copy)."""
    windows = sliding_windows(x, kernel, stride, dilation, out_size)
    columns = np.empty(windows.shape, dtype=x.dtype)
    kernels.for_channel_blocks(lambda channels: np.copyto(columns[channels], windows[channels]), len(columns),
                               columns.size)
    return columns


def _window_slices(offset: tuple[int, ...], stride: Pair, dilation: Pair, out_size: Pair,
                   leading: int = 2) -> tuple[slice, ...]:
    """Index of the pixels kernel ``offset`` touches in every window, after ``leading`` whole axes.

    ``leading`` is 2 for ``(N, C, *spatial)`` arrays and 1 for batch-last ``(C, *spatial, N)`` ones.
    """
    return (slice(None),) * leading + tuple(
        slice(a * d, a * d + s * (o - 1) + 1, s) for a, s, d, o in zip(offset, stride, dilation, out_size, strict=True))


def col2im(target: np.ndarray, patches: np.ndarray, stride: Pair, dilation: Pair) -> np.ndarray:
    """Add each window's patch onto the pixels it covers: the adjoint of :func:`sliding_windows`.

    ``target`` is batch-last ``(C, *spatial, N)`` (changed in place and returned); ``patches`` is
    ``(C, *kernel, *out_size, N)``. One whole-array slice addition per kernel offset.
    """
    spatial = target.ndim - 2
    kernel, out_size = patches.shape[1:1 + spatial], patches.shape[1 + spatial:-1]

    def add(channels: slice) -> None:
        part = target[channels]
        for offset in itertools.product(*map(range, kernel)):
            part[_window_slices(offset, stride, dilation, out_size, leading=1)] += patches[(channels,) + offset]

    kernels.for_channel_blocks(add, len(target), patches.size)
    return target


def grouped_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for stacks of matrices, one per group; one plain 2-D product when there is one group.

    The 2-D call lets BLAS read a transposed operand in place; numpy's stacked matmul may not,
    which doubles the time of the thin weight-gradient products.
    """
    if a.shape[0] == 1:
        return np.matmul(a[0], b[0])[None]
    return np.matmul(a, b)


def pad_spatial(x: np.ndarray, padding: Padding, value: float = 0.0) -> np.ndarray:
    """``x (N, C, *spatial)`` with ``padding = (before, after, ...)`` added to its spatial dims."""
    if not any(padding):
        return x
    return np.pad(x, ((0, 0), (0, 0), *zip(padding[::2], padding[1::2], strict=True)), constant_values=value)


def crop_spatial(x: np.ndarray, padding: Padding, leading: int = 2) -> np.ndarray:
    """Undo the padding: drop the border of the spatial dims, which follow ``leading`` axes."""
    if not any(padding):
        return x
    sizes = x.shape[leading:leading + len(padding) // 2]
    return x[(slice(None),) * leading + tuple(
        slice(before, size - after) for before, after, size in zip(padding[::2], padding[1::2], sizes, strict=True))]


def batch_last(spatial: int) -> tuple[int, ...]:
    """The transpose from ``(N, C, *spatial)`` to ``(C, *spatial, N)``."""
    return (1, *range(2, 2 + spatial), 0)


def batch_first(spatial: int) -> tuple[int, ...]:
    """The transpose from ``(C, *spatial, N)`` back to ``(N, C, *spatial)``."""
    return (spatial + 1, 0, *range(1, spatial + 1))


def pad_batch_last(x: np.ndarray, padding: Padding) -> np.ndarray:
    """``x (N, C, *spatial)``, in any layout, copied into a zero-bordered batch-last ``(C, *padded, N)``.

    One copy does both the padding and the change of layout (a no-op view when the input is
    already batch-last and unpadded, as it is after a convolution, batch norm and pooling).
    """
    spatial = x.ndim - 2
    moved = x.transpose(batch_last(spatial))
    if not any(padding) and moved.flags.c_contiguous:
        return moved
    sizes = [size + before + after for size, before, after in zip(x.shape[2:], padding[::2], padding[1::2],
                                                                   strict=True)]
    padded = np.zeros((x.shape[1], *sizes, x.shape[0]), dtype=x.dtype)
    padded[(slice(None),) + tuple(slice(before, before + size) for before, size in zip(padding[::2], x.shape[2:],
                                                                                       strict=True))] = moved
    return padded


# ------------------------------------------------------------------------------- convolution


def _with_bias_grad(grad_by_channel: np.ndarray, grad_x: np.ndarray | None, grad_weight: np.ndarray | None,
                    need_bias: list[bool]) -> tuple[np.ndarray | None, ...]:
    """A convolution's input gradients, with the bias's when a bias was passed.

    ``grad_by_channel`` is the output gradient with the channels first, ``(C_out, ...)``: the
    bias gradient sums each channel's row (contiguous rows in the batch-last layout).
    """
    if not need_bias:
        return grad_x, grad_weight
    bias_grad = grad_by_channel.reshape(len(grad_by_channel), -1).sum(axis=1) if need_bias[0] else None
    return grad_x, grad_weight, bias_grad


def _weight_gradient(columns: np.ndarray, grad_rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``grad_rows @ columns^T`` per group, reshaped to the weight's ``shape``.

    Computed as ``(columns @ grad_rows^T)^T``: BLAS then streams the long contiguous rows of the
    columns matrix rather than reading it transposed, about 20% faster for these thin products.
    """
    product = grouped_matmul(columns, grad_rows.transpose(0, 2, 1))
    return product.transpose(0, 2, 1).reshape(shape)


class Conv2d(Function):
    """2-D cross-correlation (PyTorch's ``conv2d``), optionally grouped, with an optional bias.

    Inputs ``x (N, C_in, H, W)``, ``weight (C_out, C_in / groups, KH, KW)`` and optionally
    ``bias (C_out,)``:

    .. math:: out[n, o, i, j] = bias[o] + \\sum_{c, a, b} weight[o, c, a, b]\\,
              x_{pad}[n, g(o) C_g + c, i s_h + a d_h, j s_w + b d_w]

    The code is the same for any number of spatial dims (``Conv3d`` is this class). The output
    is a batch-last array viewed as ``(N, C_out, OH, OW)`` (see the module's notes on layout).
    Backward computes only the gradients asked for: a first layer whose input needs none (the
    images) skips the input gradient, its product and its ``col2im``.
    """

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *,
                stride: Pair, padding: Padding, dilation: Pair, groups: int) -> np.ndarray:
        n = x.shape[0]
        out_channels, group_channels, *kernel = weight.shape
        kernel = tuple(kernel)
        spatial = len(kernel)
        padded = pad_batch_last(x, padding)
        out_size = tuple(conv_output_size(size, k, s, 0, d)
                         for size, k, s, d in zip(padded.shape[1:-1], kernel, stride, dilation, strict=True))
        columns = im2col(padded, kernel, stride, dilation, out_size)
        # (groups, C_in/groups * prod(kernel), prod(out_size) * N): a free reshape thanks to the layout
        columns = columns.reshape(groups, group_channels * math.prod(kernel), -1)
        kernels = weight.reshape(groups, out_channels // groups, -1)
        out = grouped_matmul(kernels, columns).reshape(out_channels, *out_size, n)
        if bias is not None:
            out += bias.reshape((-1,) + (1,) * (spatial + 1))
        # The columns (prod(kernel) times the input) are kept for the weight gradient: making
        # them again in backward costs a third of the forward's time.
        self.save_for_backward(columns, weight)
        self.options = stride, padding, dilation, groups, padded.shape
        return out.transpose(batch_first(spatial))

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        columns, weight = self.saved_tensors
        stride, padding, dilation, groups, padded_shape = self.options
        need_x, need_weight, *need_bias = self.needs_input_grad
        out_channels, group_channels, *kernel = weight.shape
        spatial = len(kernel)
        # (C_out, *out_size, N) split into groups: the layout the forward product came out in
        # (a copy only when the gradient arrives in another layout)
        grad_rows = grad.transpose(batch_last(spatial)).reshape(groups, out_channels // groups, -1)
        grad_x = grad_weight = None
        if need_x:
            kernels = weight.reshape(groups, out_channels // groups, -1)
            grad_columns = grouped_matmul(kernels.transpose(0, 2, 1), grad_rows)
            in_channels = groups * group_channels
            patches = grad_columns.reshape(in_channels, *kernel, *grad.shape[2:], grad.shape[0])
            target = col2im(np.zeros(padded_shape, dtype=grad.dtype), patches, stride, dilation)
            grad_x = crop_spatial(target, padding, leading=1).transpose(batch_first(spatial))
        if need_weight:
            grad_weight = _weight_gradient(columns, grad_rows, weight.shape)
        return _with_bias_grad(grad_rows.reshape(out_channels, -1), grad_x, grad_weight, need_bias)


class Conv3d(Conv2d):
    """3-D cross-correlation over ``(N, C_in, D, H, W)`` with ``weight (C_out, C_in / groups, KD, KH, KW)``:
    ``Conv2d``'s code, which works for any number of spatial dims."""


class ConvTranspose2d(Function):
    """2-D transposed convolution (PyTorch's ``conv_transpose2d``): the adjoint of ``Conv2d``.

    Inputs ``x (N, C_in, H, W)``, ``weight (C_in, C_out / groups, KH, KW)``, optional
    ``bias (C_out,)``. Each input pixel scatters ``x * weight`` onto a window of the output;
    ``padding`` crops the result and ``output_padding`` adds rows/columns at the bottom/right.
    The forward is ``Conv2d``'s input gradient and its input gradient is a ``Conv2d`` forward,
    batch-last like them.
    """

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *,
                stride: Pair, padding: Pair, output_padding: Pair, dilation: Pair, groups: int) -> np.ndarray:
        n, in_channels, height, width = x.shape
        _, group_out, kernel_h, kernel_w = weight.shape
        out_channels = group_out * groups
        # The frame the windows scatter into: the output plus its (cropped) padding.
        frame_h = (height - 1) * stride[0] + dilation[0] * (kernel_h - 1) + 1 + output_padding[0]
        frame_w = (width - 1) * stride[1] + dilation[1] * (kernel_w - 1) + 1 + output_padding[1]
        rows = pad_batch_last(x, (0, 0, 0, 0)).reshape(groups, in_channels // groups, -1)
        kernels = weight.reshape(groups, in_channels // groups, -1)
        columns = grouped_matmul(kernels.transpose(0, 2, 1), rows)
        patches = columns.reshape(out_channels, kernel_h, kernel_w, height, width, n)
        frame = np.zeros((out_channels, frame_h, frame_w, n), dtype=x.dtype)
        col2im(frame, patches, stride, dilation)
        crop = (padding[0], padding[0], padding[1], padding[1])
        out = crop_spatial(frame, crop, leading=1)
        if bias is not None:
            out += bias.reshape(-1, 1, 1, 1)
        self.save_for_backward(rows, weight)
        self.options = stride, crop, dilation, groups, (height, width)
        return out.transpose(batch_first(2))

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        rows, weight = self.saved_tensors
        stride, crop, dilation, groups, in_size = self.options
        need_x, need_weight, *need_bias = self.needs_input_grad
        in_channels, group_out, kernel_h, kernel_w = weight.shape
        n = grad.shape[0]
        # Gather what each input pixel scattered to: a convolution of the padded gradient.
        frame = pad_batch_last(grad, crop)
        columns = im2col(frame, (kernel_h, kernel_w), stride, dilation, in_size)
        columns = columns.reshape(groups, group_out * kernel_h * kernel_w, -1)
        grad_x = grad_weight = None
        if need_x:
            kernels = weight.reshape(groups, in_channels // groups, -1)
            grad_rows = grouped_matmul(kernels, columns).reshape(in_channels, *in_size, n)
            grad_x = grad_rows.transpose(batch_first(2))
        if need_weight:
            grad_weight = grouped_matmul(rows, columns.transpose(0, 2, 1)).reshape(weight.shape)
        return _with_bias_grad(frame, grad_x, grad_weight, need_bias)


# ----------------------------------------------------------------------------------- pooling


class MaxPool2d(Function):
    """The maximum of each window; the gradient goes to the window's first maximal element.

    The input arrives unpadded; ``padding`` (with room for ``ceil_mode``'s partial windows) is
    filled with ``-inf``. Both passes scan the windows one kernel offset at a time: ``kh * kw``
    whole-array operations on strided views, never a loop over pixels.

    Forward keeps a running maximum (a NaN propagates, as in PyTorch) and, beside it, which
    offset holds the window's first maximum: one byte per output (``index``), updated where an
    offset is strictly greater, so ties stay with the first maximum in row-major order as in
    PyTorch. That byte is all backward needs: it saves a quarter of a byte per input pixel for
    2x2 pooling instead of the whole input, and backward is one comparison and one write per
    offset (``grad`` where ``index == offset``), no search for the maximum again. Overlapping
    windows (``stride < kernel``) accumulate. Windows whose maximum is NaN pass no gradient.
    """

    def forward(self, x: np.ndarray, *, kernel: Pair, stride: Pair, padding: Padding,
                dilation: Pair, out_size: Pair) -> np.ndarray:
        padded = pad_spatial(x, padding, -np.inf)
        offsets = math.prod(kernel)
        # in the input's memory layout (batch-last after a convolution): the ops below stay aligned
        layout = _axis_order(padded)
        best = _new_array(padded.shape[:2] + tuple(out_size), layout, x.dtype, zero=False)
        index_type = np.uint8 if offsets <= 255 else np.int32
        index = _new_array(best.shape, layout, index_type, zero=False)

        def scan(channels: slice) -> None:
            views = _offset_views(padded[:, channels], kernel, stride, dilation, out_size)
            running, running_index = best[:, channels], index[:, channels]
            np.copyto(running, views[0])
            running_index[...] = 0
            for offset, view in enumerate(views[1:], 1):
                # Strictly greater: a tie keeps the earlier offset. Offsets grow, so the window's
                # index is the largest offset that beat the running maximum: an np.maximum,
                # branch-free, where a masked write (np.copyto(where=...)) runs three times slower.
                later = np.greater(view, running).view(np.uint8)
                np.maximum(running_index, later * index_type(offset), out=running_index)
                np.maximum(running, view, out=running)

        kernels.for_channel_blocks(scan, best.shape[1], best.size * offsets)
        nan = np.isnan(best)
        if nan.any():
            index[nan] = offsets  # matches no offset: NaN windows pass no gradient
        self.save_for_backward(index)
        self.options = kernel, stride, padding, dilation
        self.padded = padded.shape, _axis_order(x)
        return best

    def backward(self, grad: np.ndarray) -> np.ndarray:
        (index,) = self.saved_tensors
        kernel, stride, padding, dilation = self.options
        padded_shape, axis_order = self.padded
        out_size = index.shape[2:]
        # Windows that do not overlap touch each pixel at most once: write ``grad * hit`` instead
        # of adding it; when they also tile the padded input exactly, every pixel is written, so
        # the target needs no zeroing. (A multiply by the mask is branch-free: a masked write,
        # np.copyto(where=...), runs four times slower on the random masks maxima make.)
        disjoint = all(s >= d * (k - 1) + 1 for s, d, k in zip(stride, dilation, kernel, strict=True))
        tiling = disjoint and all(d == 1 and s == k and o * s == size for s, d, k, o, size in zip(
            stride, dilation, kernel, out_size, padded_shape[2:], strict=True))
        # the input's memory layout (e.g. channels first after a convolution), as index has; a
        # gradient arriving in another (batch first from a flatten) is copied into it once, as
        # the four passes below run three times slower on mismatched layouts
        target = _new_array(padded_shape, axis_order, grad.dtype, zero=not tiling)
        if _axis_order(grad) != axis_order:
            grad = _in_layout(grad, axis_order)

        def route(channels: slice) -> None:
            part_index, part_grad = index[:, channels], grad[:, channels]
            targets = _offset_views(target[:, channels], kernel, stride, dilation, out_size)
            for offset, target_view in enumerate(targets):
                hit = part_index == offset
                if disjoint:
                    np.multiply(hit, part_grad, out=target_view)
                else:
                    target_view += hit * part_grad

        kernels.for_channel_blocks(route, index.shape[1], target.size)
        return crop_spatial(target, padding)


def _axis_order(x: np.ndarray) -> tuple[int, ...]:
    """The axes of ``x`` from the outermost in memory to the innermost (C order: ``0, 1, ...``)."""
    return tuple(sorted(range(x.ndim), key=lambda axis: -x.strides[axis]))


def _in_layout(x: np.ndarray, axis_order: tuple[int, ...]) -> np.ndarray:
    """A copy of ``x`` laid out in ``axis_order`` (see :func:`_new_array`)."""
    copy = _new_array(x.shape, axis_order, x.dtype, zero=False)
    np.copyto(copy, x)
    return copy


def _new_array(shape: tuple[int, ...], axis_order: tuple[int, ...], dtype: DTypeLike, zero: bool) -> np.ndarray:
    """A fresh array of ``shape`` laid out in memory in ``axis_order`` (see :func:`_axis_order`).

    Elementwise numpy is several times slower when its operands' layouts differ, so arrays made
    in a backward follow the layout the forward saw.
    """
    make = np.zeros if zero else np.empty
    stored = make([shape[axis] for axis in axis_order], dtype=dtype)
    return stored.transpose(np.argsort(axis_order))


def _offset_views(x: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_size: Pair) -> list[np.ndarray]:
    """For each kernel offset (row-major), the ``(N, C, *out_size)`` view of the pixels it touches."""
    return [x[_window_slices(offset, stride, dilation, out_size)] for offset in itertools.product(*map(range, kernel))]


class AvgPool2d(Function):
    """The mean of each window: ``sum(window) / divisor``, a divisor per output position.

    ``divisor`` (shape ``out_size``, e.g. ``(OH, OW)``) is computed by
    ``giagrad.nn.functional.avg_pool2d`` from ``count_include_pad`` and ``ceil_mode`` with
    PyTorch's rules; the input arrives unpadded and ``padding`` (zeros) covers every window.
    """

    def forward(self, x: np.ndarray, *, kernel: Pair, stride: Pair, padding: Padding,
                divisor: np.ndarray) -> np.ndarray:
        padded = pad_spatial(x, padding)
        views = _offset_views(padded, kernel, stride, (1,) * len(kernel), divisor.shape)
        # in the input's memory layout (e.g. channels first after a convolution): aligned additions
        total = views[0].copy(order="K")
        for view in views[1:]:
            total += view
        self.options = kernel, stride, padding, divisor, padded.shape
        total /= divisor
        return total

    def backward(self, grad: np.ndarray) -> np.ndarray:
        kernel, stride, padding, divisor, padded_shape = self.options
        share = grad / divisor
        target = np.zeros(padded_shape, dtype=grad.dtype)
        # every offset of every window receives the same share
        for view in _offset_views(target, kernel, stride, (1,) * len(kernel), divisor.shape):
            view += share
        return crop_spatial(target, padding)


class MaxPool3d(MaxPool2d):
    """``MaxPool2d`` over ``(N, C, D, H, W)`` (the code works for any number of spatial dims)."""


class AvgPool3d(AvgPool2d):
    """``AvgPool2d`` over ``(N, C, D, H, W)`` (the code works for any number of spatial dims)."""


class AdaptiveAvgPool2d(Function):
    """Average pooling to a fixed output size, with PyTorch's (possibly overlapping) windows.

    Output row ``i`` averages input rows ``floor(i H / OH)`` to ``ceil((i + 1) H / OH)``
    (exclusive). A mean over a rectangle is separable, so the op is two small matrix products,
    ``out = A_h @ x @ A_w^T``, where ``A_h (OH, H)`` holds ``1 / window length`` inside each
    window; the gradient is ``A_h^T @ grad @ A_w``.
    """

    def forward(self, x: np.ndarray, *, out_size: Pair) -> np.ndarray:
        rows = adaptive_average_matrix(x.shape[2], out_size[0], x.dtype)
        cols = adaptive_average_matrix(x.shape[3], out_size[1], x.dtype)
        self.matrices = rows, cols
        return np.matmul(np.matmul(rows, x), cols.T)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        rows, cols = self.matrices
        return np.matmul(np.matmul(rows.T, grad), cols)


def adaptive_average_matrix(size: int, out_size: int, dtype: np.dtype) -> np.ndarray:
    """``(out_size, size)`` matrix averaging PyTorch's adaptive windows along one dim."""
    index = np.arange(out_size)
    start = (index * size) // out_size
    end = -((-(index + 1) * size) // out_size)  # ceil without floats
    position = np.arange(size)
    inside = (position >= start[:, None]) & (position < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)
