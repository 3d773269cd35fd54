"""giagrad.kernels: blocked, threaded elementwise kernels cover every row once, whatever the threads."""

import os

import numpy as np
import pytest

import giagrad
from giagrad import kernels


@pytest.fixture
def threads():
    previous = giagrad.get_num_threads()
    yield giagrad.set_num_threads
    giagrad.set_num_threads(previous)


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("rows, row_elements", [(0, 4), (1, 1), (7, 1), (300, 512), (1000, 333), (5, 100_000)])
def test_every_row_is_computed_once(threads, count, rows, row_elements):
    threads(count)
    x = np.arange(rows * row_elements, dtype=np.float32).reshape(rows, row_elements)
    visits = np.zeros(rows, dtype=np.int64)

    def kernel(block):
        np.multiply(x[block], 2, out=x[block])
        visits[block] += 1

    kernels.for_row_blocks(kernel, rows, row_elements)
    np.testing.assert_array_equal(visits, 1)
    np.testing.assert_array_equal(x.reshape(-1), 2 * np.arange(rows * row_elements, dtype=np.float32))


def test_a_kernel_error_reaches_the_caller_from_any_thread(threads):
    threads(2)

    def kernel(block):
        if block.stop == 1024:
            raise ValueError("the last block fails")

    with pytest.raises(ValueError, match="the last block fails"):
        kernels.for_row_blocks(kernel, 1024, 512)


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_what_is_not_a_positive_int(count):
    with pytest.raises(ValueError, match="set_num_threads: expected a positive int"):
        giagrad.set_num_threads(count)


@pytest.mark.parametrize("value, expected", [(None, 1), ("3", 3), ("1", 1)])
def test_the_default_is_one_thread_unless_giagrad_num_threads_says(monkeypatch, value, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the BLAS's setting is not ours
    if value is None:
        monkeypatch.delenv("GIAGRAD_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("GIAGRAD_NUM_THREADS", value)
    assert kernels._default_num_threads() == expected


def test_a_malformed_giagrad_num_threads_warns_and_uses_one(monkeypatch):
    monkeypatch.setenv("GIAGRAD_NUM_THREADS", "two")
    with pytest.warns(UserWarning, match="GIAGRAD_NUM_THREADS='two'"):
        assert kernels._default_num_threads() == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_threaded_kernels(threads):
    threads(2)
    x = np.ones((1024, 512), dtype=np.float32)
    kernels.for_row_blocks(lambda block: x[block].__imul__(2), 1024, 512)  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # the child: its pool is gone, a new one must start (a stale one would hang)
        try:
            kernels.for_row_blocks(lambda block: x[block].__imul__(2), 1024, 512)
            os._exit(0 if np.all(x == 4) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("shape, rows", [((2, 3, 4), (6, 4)), ((5,), (1, 5)), ((), (1, 1)), ((3, 0), (0, 1)),
                                         ((0, 4), (0, 4))])
def test_as_rows(shape, rows):
    assert kernels.as_rows(np.zeros(shape)).shape == rows
