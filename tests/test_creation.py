"""Creation functions: shapes, dtypes (float32 by default), values, randomness and errors."""

import numpy as np
import pytest

import giagrad


@pytest.mark.parametrize("make, shape, dtype", [
    (lambda: giagrad.zeros(2, 3), (2, 3), np.float32),
    (lambda: giagrad.zeros((2, 3)), (2, 3), np.float32),
    (lambda: giagrad.ones(4, dtype="float64"), (4,), np.float64),
    (lambda: giagrad.empty(2, 1), (2, 1), np.float32),
    (lambda: giagrad.full((2, 2), 1.5), (2, 2), np.float32),
    (lambda: giagrad.full((3,), 2), (3,), np.int64),
    (lambda: giagrad.full((1,), True), (1,), np.bool_),
    (lambda: giagrad.arange(4), (4,), np.int64),
    (lambda: giagrad.arange(1, 2, 0.25), (4,), np.float32),
    (lambda: giagrad.arange(5, dtype="float64"), (5,), np.float64),
    (lambda: giagrad.linspace(0, 1, 5), (5,), np.float32),
    (lambda: giagrad.eye(3), (3, 3), np.float32),
    (lambda: giagrad.eye(2, 4), (2, 4), np.float32),
    (lambda: giagrad.rand(3, 2), (3, 2), np.float32),
    (lambda: giagrad.randn(2, 2, dtype="float64"), (2, 2), np.float64),
    (lambda: giagrad.randint(5, size=(2, 3)), (2, 3), np.int64),
    (lambda: giagrad.randint(2, 5, (4,)), (4,), np.int64),
    (lambda: giagrad.tensor([[1.0, 2.0]]), (1, 2), np.float32),
    (lambda: giagrad.tensor(3), (), np.int64),
    (lambda: giagrad.tensor(np.zeros(2, dtype=np.float64)), (2,), np.float64),
    (lambda: giagrad.tensor([1, 2], dtype="float32"), (2,), np.float32),
])
def test_shape_and_dtype(make, shape, dtype):
    t = make()
    assert t.shape == shape and t.dtype == dtype


@pytest.mark.parametrize("like", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"])
def test_like_functions_follow_the_other_tensor(like):
    other = giagrad.zeros(2, 3, dtype="float64")
    t = getattr(giagrad, like)(other)
    assert t.shape == (2, 3) and t.dtype == np.float64
    assert getattr(giagrad, like)(other, dtype="float32").dtype == np.float32
    assert getattr(giagrad, like)(other, requires_grad=True).requires_grad


def test_full_like_and_values():
    t = giagrad.full_like(giagrad.zeros(2), 7.0)
    np.testing.assert_array_equal(t.data, [7, 7])
    np.testing.assert_array_equal(giagrad.arange(2, 8, 2).data, [2, 4, 6])
    np.testing.assert_allclose(giagrad.linspace(-1, 1, 3).data, [-1, 0, 1])
    np.testing.assert_array_equal(giagrad.eye(2).data, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(giagrad.zeros(2).data, [0, 0])
    np.testing.assert_array_equal(giagrad.ones(2).data, [1, 1])


def test_tensor_copies_its_data():
    data = np.zeros(3, dtype=np.float32)
    t = giagrad.tensor(data)
    data[0] = 1
    assert t.data[0] == 0
    source = giagrad.ones(2)
    assert not np.shares_memory(giagrad.tensor(source).data, source.data)


def test_random_values_are_in_range_and_reproducible():
    giagrad.manual_seed(0)
    u, n, k = giagrad.rand(1000), giagrad.randn(1000), giagrad.randint(3, 6, (1000,))
    assert 0 <= u.data.min() and u.data.max() < 1
    assert abs(float(n.data.mean())) < 0.2 and 0.8 < float(n.data.std()) < 1.2
    assert set(np.unique(k.data)) == {3, 4, 5}
    giagrad.manual_seed(0)
    np.testing.assert_array_equal(giagrad.rand(1000).data, u.data)


def test_requires_grad_at_creation():
    assert giagrad.zeros(2, requires_grad=True).requires_grad
    assert giagrad.tensor([1.0], requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="floating"):
        giagrad.arange(3, requires_grad=True)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: giagrad.arange(0, 3, 0), ValueError, "arange: step"),
    (lambda: giagrad.linspace(0, 1, -1), ValueError, "linspace: steps"),
    (lambda: giagrad.randint(3, 3), ValueError, "randint: high"),
    (lambda: giagrad.tensor([[1.0], [1.0, 2.0]]), ValueError, "tensor"),
    (lambda: giagrad.tensor("abc"), TypeError, "tensor: unsupported data"),
])
def test_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
