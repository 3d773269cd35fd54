"""``Flatten`` and ``Unflatten``: merge a range of dimensions into one, or split one into several."""

from __future__ import annotations

import math
from collections.abc import Sequence

from giagrad._validation import check_dim, require_tensor
from giagrad.nn.module import Module
from giagrad.tensor import Tensor

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dimensions ``start_dim`` to ``end_dim`` (inclusive) into one; by default all but the batch.

    Parameters
    ----------
    start_dim : int
        The first dimension merged (default 1: keep the batch dimension).
    end_dim : int
        The last dimension merged (default -1: the last).

    Examples
    --------
    >>> nn.Flatten()(giagrad.zeros(64, 1, 28, 28)).shape
    (64, 784)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        require_tensor("Flatten", input)
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (which may hold one -1, inferred).

    Parameters
    ----------
    dim : int
        The dimension to split.
    unflattened_size : sequence of int
        The new dimensions; their product must equal the size of ``dim``.

    Examples
    --------
    >>> nn.Unflatten(1, (1, 28, 28))(giagrad.zeros(64, 784)).shape
    (64, 1, 28, 28)
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(
            isinstance(size, int) and not isinstance(size, bool) for size in unflattened_size
        ):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got {unflattened_size!r}")
        if sum(size == -1 for size in unflattened_size) > 1 or any(size < -1 for size in unflattened_size):
            raise ValueError(f"Unflatten: unflattened_size may hold one -1 and otherwise sizes >= 0, "
                             f"got {unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        require_tensor("Unflatten", input)
        shape = input.shape
        dim = check_dim("Unflatten", self.dim, len(shape))
        sizes = self.unflattened_size
        known = math.prod(size for size in sizes if size != -1)
        if -1 in sizes:
            if known == 0 or shape[dim] % known:
                raise ValueError(f"Unflatten: cannot split dimension {self.dim} of size {shape[dim]} "
                                 f"into {sizes} (input shape {shape})")
            sizes = tuple(shape[dim] // known if size == -1 else size for size in sizes)
        elif known != shape[dim]:
            raise ValueError(f"Unflatten: unflattened_size {sizes} has {known} elements but dimension "
                             f"{self.dim} of the input (shape {shape}) has size {shape[dim]}")
        return input.reshape(*shape[:dim], *sizes, *shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
