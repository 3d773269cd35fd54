"""Movement operations: they rearrange elements without computing new values.

Their backward moves the gradient back the same way (reshape back, inverse permutation, ...).
The module-level functions ``cat``, ``stack`` and ``pad`` (exported as ``giagrad.cat`` ...) check
their arguments and apply the Functions below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from giagrad._validation import check_dim
from giagrad.autograd import Function, TensorBase, is_tensor
from giagrad.mathops import unbroadcast

__all__ = ["cat", "stack", "pad"]


class Reshape(Function):
    def forward(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.input_shape = x.shape
        return x.reshape(shape)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self.input_shape)


class Permute(Function):
    def forward(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.transpose(grad, np.argsort(self.axes))


class Expand(Function):
    """Broadcast ``x`` to ``shape`` (a read-only view, like PyTorch's ``expand``); the gradient
    sums over the copies."""

    def forward(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.input_shape = x.shape
        return np.broadcast_to(x, shape)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return unbroadcast(grad, self.input_shape)


class Contiguous(Function):
    """A C-contiguous copy; the gradient passes unchanged."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad


class Clone(Function):
    """A copy of the data (``Tensor.clone``); the gradient passes unchanged."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad


class BackwardHook(Function):
    """The identity, placed on a module's inputs and outputs to see the gradients passing through.

    ``Module.register_full_backward_hook`` wraps each tensor the module receives and returns in
    one of these; on the way back each node hands its gradient to ``recorder.receive(role,
    position, grad)`` (``role`` is ``"input"`` or ``"output"``), which may return a replacement.
    The engine itself knows nothing of hooks (PyTorch's ``BackwardHookFunction`` does the same).
    """

    def forward(self, x: np.ndarray, *, recorder: Any, role: str, position: int) -> np.ndarray:
        self.recorder, self.role, self.position = recorder, role, position
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return self.recorder.receive(self.role, self.position, grad)


class Getitem(Function):
    """``x[index]`` with numpy's basic and advanced indexing (PyTorch's placement of the result dims).

    Basic indexing (ints, slices, None, Ellipsis) and boolean masks select each element at most
    once, so backward writes the gradient into a zero array. Integer arrays may select an element
    several times; backward then accumulates with ``np.add.at`` so repeated indices sum.
    """

    def forward(self, x: np.ndarray, index: Any, accumulate: bool, then: Any = None) -> np.ndarray:
        self.input_shape, self.index, self.accumulate, self.then = x.shape, index, accumulate, then
        out = x[index]
        # `then`: the advanced part of an index that mixes integers with index arrays, applied
        # after the basic part as PyTorch does (see Tensor.__getitem__)
        return out if then is None else out[then]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad_x = np.zeros(self.input_shape, dtype=grad.dtype)
        target, index = grad_x, self.index
        if self.then is not None:
            target, index = grad_x[index], self.then  # a basic index gives a view: writes reach grad_x
        if self.accumulate:
            np.add.at(target, index, grad)
        else:
            target[index] = grad
        return grad_x


class Cat(Function):
    """Join arrays along ``axis``; each input's gradient is its slice of the output gradient."""

    promotion = "elementwise"  # cat([int, float32]) is float32, as in PyTorch

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        self.boundaries = np.cumsum([a.shape[axis] for a in arrays[:-1]])
        return np.concatenate(arrays, axis=axis)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.split(grad, self.boundaries, axis=self.axis))


class Stack(Function):
    """Join same-shape arrays along a new ``axis``; each gradient is one index of that axis."""

    promotion = "elementwise"  # cat([int, float32]) is float32, as in PyTorch

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, ...]:
        moved = np.moveaxis(grad, self.axis, 0)
        return tuple(moved)


class Flip(Function):
    def forward(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.axes = axes
        return np.flip(x, axes)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.flip(grad, self.axes)


class Repeat(Function):
    """Tile ``x`` ``reps[d]`` times along each dim (``torch.Tensor.repeat``, ``np.tile``).

    Backward views the gradient as ``(reps_0, n_0, reps_1, n_1, ...)`` and sums the copies.
    """

    def forward(self, x: np.ndarray, reps: tuple[int, ...]) -> np.ndarray:
        self.input_shape, self.reps = x.shape, reps
        return np.tile(x, reps)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        shape = (1,) * (len(self.reps) - len(self.input_shape)) + self.input_shape
        split = [size for pair in zip(self.reps, shape, strict=True) for size in pair]
        summed = grad.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return summed.reshape(self.input_shape)


class ConstantPad(Function):
    """Pad with a constant; ``widths`` is numpy's ``((before, after), ...)`` per dim. Negative
    widths remove elements (as in PyTorch), so forward crops first and backward pads back."""

    def forward(self, x: np.ndarray, widths: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
        self.input_shape = x.shape
        self.crop = _crop_slices(widths, x.shape)
        self.grow = tuple((max(a, 0), max(b, 0)) for a, b in widths)
        return np.pad(x[self.crop], self.grow, mode="constant", constant_values=value)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        inner = grad[_crop_slices(tuple((-a, -b) for a, b in self.grow), grad.shape)]
        if inner.shape == self.input_shape:
            return inner
        grad_x = np.zeros(self.input_shape, dtype=grad.dtype)
        grad_x[self.crop] = inner
        return grad_x


class IndexPad(Function):
    """Pad by copying existing elements (``reflect``, ``replicate``, ``circular``).

    ``sources`` holds, for each padded dim, which input position every output position copies;
    forward gathers along each dim in turn and backward scatters back, summing the copies.
    """

    def forward(self, x: np.ndarray, sources: tuple[tuple[int, np.ndarray], ...]) -> np.ndarray:
        self.sources = sources
        for axis, source in sources:
            x = np.take(x, source, axis=axis)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for axis, source in reversed(self.sources):
            moved = np.moveaxis(grad, axis, 0)
            summed = np.zeros((int(source.max()) + 1,) + moved.shape[1:], dtype=grad.dtype)
            np.add.at(summed, source, moved)
            grad = np.moveaxis(summed, 0, axis)
        return grad


class Scatter(Function):
    """``x`` with ``src`` written (or, with ``add``, added) where ``index`` points along a dim.

    ``index`` is the full numpy index (one array per dim, see :func:`along_dim_index`) of the
    positions; ``src`` is cropped to ``index``'s shape (or is 0-d: one value everywhere).
    Backward: ``x`` gets the output gradient, except at overwritten positions (plain scatter);
    ``src`` gets the output gradient at the positions it went to (repeated positions each pass
    their gradient on, as in PyTorch).
    """

    def forward(self, x: np.ndarray, src: np.ndarray, *, index: tuple[np.ndarray, ...], add: bool) -> np.ndarray:
        self.index, self.add, self.src_shape = index, add, src.shape
        self.crop = tuple(slice(0, n) for n in np.broadcast_shapes(*[i.shape for i in index])) if src.ndim else ()
        values = src[self.crop] if src.ndim else src
        out = x.copy()
        if add:
            np.add.at(out, index, values)
        else:
            out[index] = values
        return out

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        need_x, need_src = self.needs_input_grad
        grad_x = grad_src = None
        if need_x:
            grad_x = grad if self.add else grad.copy()
            if not self.add:
                grad_x[self.index] = 0
        if need_src:
            picked = grad[self.index]
            if not self.src_shape:
                grad_src = picked.sum()
            else:
                grad_src = np.zeros(self.src_shape, dtype=grad.dtype)
                grad_src[self.crop] = picked
        return grad_x, grad_src


def along_dim_index(index: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """The numpy index of ``gather``/``scatter``: ``index`` along ``axis``, the position itself elsewhere.

    Element ``(i, j, k)`` of ``index`` names the position ``(i, index[i, j, k], k)`` for ``axis=1``.
    """
    grid = []
    for d, n in enumerate(index.shape):
        if d == axis:
            grid.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            grid.append(np.arange(n).reshape(shape))
    return tuple(grid)


def _crop_slices(widths: Sequence[tuple[int, int]], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Slices removing ``-width`` elements on each side where a width is negative."""
    return tuple(slice(-min(a, 0), n + min(b, 0)) for (a, b), n in zip(widths, shape, strict=True))


# ------------------------------------------------------------------------ module functions


def _tensor_list(op: str, tensors: Any) -> list[Any]:
    if is_tensor(tensors) or not isinstance(tensors, Sequence) or len(tensors) == 0:
        raise TypeError(f"{op}: expected a non-empty list or tuple of tensors, got {type(tensors).__name__}")
    for i, t in enumerate(tensors):
        if not is_tensor(t):
            raise TypeError(f"{op}: element {i} is a {type(t).__name__}, expected a Tensor")
    return list(tensors)


def cat(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Join tensors along an existing dimension (``torch.cat``).

    All tensors must have the same shape except along ``dim``.

    Examples
    --------
    >>> giagrad.cat([giagrad.ones(2, 3), giagrad.zeros(1, 3)]).shape
    (3, 3)
    """
    tensors = _tensor_list("cat", tensors)
    first = tensors[0]
    axis = check_dim("cat", dim, first.ndim)
    if first.ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(a != b for d, (a, b) in enumerate(zip(t.shape, first.shape, strict=True))
                                       if d != axis):
            shapes = [tuple(x.shape) for x in tensors]
            raise ValueError(f"cat: shapes {shapes} must match except in dim {dim}")
    if len(tensors) == 1:
        return first
    return TensorBase.comm(Cat, *tensors, axis=axis)


def stack(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Join same-shape tensors along a new dimension ``dim`` (``torch.stack``).

    Examples
    --------
    >>> giagrad.stack([giagrad.ones(3), giagrad.zeros(3)], dim=1).shape
    (3, 2)
    """
    tensors = _tensor_list("stack", tensors)
    first = tensors[0]
    axis = check_dim("stack", dim, first.ndim + 1)
    for t in tensors[1:]:
        if t.shape != first.shape:
            raise ValueError(f"stack: all tensors must have the same shape, got {[tuple(x.shape) for x in tensors]}")
    return TensorBase.comm(Stack, *tensors, axis=axis)


_INDEX_PAD_MODES: dict[str, Any] = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input: Any, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Any:  # noqa: A002
    """Pad a tensor (``torch.nn.functional.pad``).

    Parameters
    ----------
    input : Tensor
    pad : sequence of int
        PyTorch's order: ``(left, right)`` for the last dim, then ``(top, bottom)`` for the one
        before, and so on; ``len(pad) // 2`` dims from the end are padded. In ``constant`` mode a
        negative width removes elements.
    mode : str
        ``'constant'`` (fill with ``value``), ``'reflect'`` (mirror without the edge),
        ``'replicate'`` (repeat the edge) or ``'circular'`` (wrap around). Unlike PyTorch, the
        copying modes work on any number of dims, with or without batch dims.
    value : float
        The fill value of ``constant`` mode.

    Examples
    --------
    >>> giagrad.pad(giagrad.ones(2, 3), (1, 1)).shape
    (2, 5)
    """
    if not is_tensor(input):
        raise TypeError(f"pad: input must be a Tensor, got {type(input).__name__}")
    widths_list = list(pad)
    if len(widths_list) % 2 or len(widths_list) // 2 > input.ndim or \
            not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) for w in widths_list):
        raise ValueError(
            f"pad: pad must be an even number of integers, at most 2 per dim of the input of shape "
            f"{input.shape}, got {tuple(pad)}"
        )
    widths = [(0, 0)] * input.ndim
    for i in range(len(widths_list) // 2):
        widths[input.ndim - 1 - i] = (int(widths_list[2 * i]), int(widths_list[2 * i + 1]))
    for (before, after), size in zip(widths, input.shape, strict=True):
        if size + before + after < 0 or (before < 0 and -before > size) or (after < 0 and -after > size):
            raise ValueError(f"pad: widths {tuple(pad)} would remove more than the input of shape {input.shape} has")
    if mode == "constant":
        if all(w == (0, 0) for w in widths):
            return input
        return TensorBase.comm(ConstantPad, input, widths=tuple(widths), value=value)
    if mode not in _INDEX_PAD_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    sources = []
    for axis, ((before, after), size) in enumerate(zip(widths, input.shape, strict=True)):
        if before == after == 0:
            continue
        if before < 0 or after < 0:
            raise ValueError(f"pad: negative widths {tuple(pad)} are only allowed in constant mode")
        limit = size - 1 if mode == "reflect" else size
        if max(before, after) > limit or size == 0:
            raise ValueError(
                f"pad: {mode} padding of {(before, after)} is too large for dim {axis} of size {size} "
                f"in shape {input.shape} (at most {limit})"
            )
        source = np.pad(np.arange(size), (before, after), mode=_INDEX_PAD_MODES[mode])
        sources.append((axis, source))
    if not sources:
        return input
    return TensorBase.comm(IndexPad, input, sources=tuple(sources))
