"""What the core op tests share (test_mathops, test_reductionops, test_shapeops, test_convops, test_normops).

pytest imports the test modules with ``--import-mode=importlib``, so they cannot import one
another: these helpers reach them as fixtures that return the function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from giagrad import Tensor

# tests/porting holds a PyTorch script that test_pytorch_port.py runs; it is data, not a test module
# (with --doctest-modules pytest would otherwise import it, and it imports torch).
collect_ignore = ["porting"]


def make_laid_out_leaf(draw: Callable[[tuple[int, ...]], np.ndarray], shape: tuple[int, ...],
                       layout: str = "contiguous", dtype=np.float64) -> Tensor:
    """A leaf of ``shape`` whose array is contiguous, transposed (``.T`` of a stored array) or strided
    (every other element of a larger array): backward must not assume C order.

    ``draw(size)`` gives the float64 values; each test module draws from its own generator.
    """
    if layout == "transposed":
        data = draw(shape[::-1]).astype(dtype).T
    elif layout == "strided":
        data = draw(tuple(2 * n for n in shape)).astype(dtype)[tuple(slice(None, None, 2) for _ in shape)]
    else:
        data = draw(shape).astype(dtype)
    return Tensor(data, requires_grad=True)


def make_seeded_leaf(*shape: int, dtype: str = "float64", seed: int = 0) -> Tensor:
    """A leaf of standard-normal values from ``np.random.default_rng(seed)``."""
    values = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return Tensor(values, requires_grad=True)


def assert_float32_grads(out: Tensor, inputs: Sequence[Tensor]) -> None:
    """``out`` is float32, and backward from it (a float32 ones gradient) gives every input a
    float32 gradient of the input's shape."""
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    for x in inputs:
        assert x.grad.dtype == np.float32 and x.grad.shape == x.shape


def assert_float32_grads_of_square_sum(out: Tensor, x: Tensor, weight: Tensor) -> None:
    """``out`` is float32, and backward from ``(out * out).sum()`` gives ``x`` a float32 gradient and
    ``weight`` a float32 one or none (an op such as pooling ignores it)."""
    assert out.dtype == np.float32
    (out * out).sum().backward()
    assert x.grad.dtype == np.float32
    assert weight.grad is None or weight.grad.dtype == np.float32


@pytest.fixture
def laid_out_leaf() -> Callable[..., Tensor]:
    return make_laid_out_leaf


@pytest.fixture
def seeded_leaf() -> Callable[..., Tensor]:
    return make_seeded_leaf


@pytest.fixture
def check_float32_grads() -> Callable[[Tensor, Sequence[Tensor]], None]:
    return assert_float32_grads


@pytest.fixture
def check_float32_grads_of_square_sum() -> Callable[[Tensor, Tensor, Tensor], None]:
    return assert_float32_grads_of_square_sum


def assert_matches_torch(out: Tensor, expected, ours: Sequence[Tensor], theirs: Sequence, tolerance: float) -> None:
    """``out`` equals PyTorch's ``expected``, and so do the gradients of ``ours`` and ``theirs`` (the
    inputs on each side) after both backpropagate the same random direction."""
    import torch

    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    direction = np.random.default_rng(1).standard_normal(out.shape)
    (out * Tensor(direction)).sum().backward()
    (expected * torch.tensor(direction)).sum().backward()
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=tolerance, atol=tolerance)


@pytest.fixture
def matches_torch() -> Callable[..., None]:
    return assert_matches_torch
