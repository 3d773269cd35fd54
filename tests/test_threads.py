"""Splitting whole-array steps over threads: the slices cover every channel once, and the layers
that split (convolution, pooling, batch norm) give the same values and gradients either way."""

import threading

import numpy as np
import pytest

import giagrad
import giagrad.nn.functional as F
from giagrad import threads


@pytest.fixture
def split_always(monkeypatch):
    """Split every step over three threads, however small."""
    monkeypatch.setattr(threads, "THREADS", 3)
    monkeypatch.setattr(threads, "MIN_ELEMENTS", 0)


@pytest.mark.parametrize("channels", [1, 2, 3, 7])
def test_slices_cover_every_channel_once(split_always, channels):
    seen = np.zeros(channels, dtype=int)
    lock = threading.Lock()

    def work(part):
        with lock:
            seen[part] += 1

    threads.over_channels(work, channels, elements=1)
    np.testing.assert_array_equal(seen, 1)


def test_small_steps_run_once_on_the_calling_thread(monkeypatch):
    monkeypatch.setattr(threads, "THREADS", 2)
    calls = []
    threads.over_channels(lambda part: calls.append((part, threading.current_thread())), 8, elements=10)
    assert calls == [(slice(None), threading.current_thread())]


def test_a_workers_exception_reaches_the_caller(split_always):
    def work(part):
        if part.start > 0:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        threads.over_channels(work, 4, elements=1)


def _conv_chain(x, w, gamma, beta):
    """conv (padded, strided) -> batch norm -> ReLU -> max pool, a batch-last chain end to end."""
    out = F.conv2d(x, w, padding=1, stride=(1, 2))
    out = F.batch_norm(out, None, None, gamma, beta, training=True)
    out = F.max_pool2d(out.relu(), 2)
    eval_out = F.batch_norm(out, giagrad.Tensor(np.full(4, 0.1)), giagrad.Tensor(np.full(4, 2.0)), gamma, beta)
    return (eval_out * giagrad.Tensor(np.linspace(-1, 1, eval_out.data.size).reshape(eval_out.shape))).sum()


def _values_and_grads(seeded_leaf):
    x, w = seeded_leaf(3, 2, 6, 8), seeded_leaf(4, 2, 3, 3, seed=1)
    gamma, beta = seeded_leaf(4, seed=2), seeded_leaf(4, seed=3)
    loss = _conv_chain(x, w, gamma, beta)
    loss.backward()
    return [loss.data] + [t.grad for t in (x, w, gamma, beta)]


def test_split_and_serial_steps_agree(seeded_leaf, monkeypatch):
    monkeypatch.setattr(threads, "THREADS", 1)
    serial = _values_and_grads(seeded_leaf)
    monkeypatch.setattr(threads, "THREADS", 3)
    monkeypatch.setattr(threads, "MIN_ELEMENTS", 0)
    split = _values_and_grads(seeded_leaf)
    for a, b in zip(serial, split):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_split_steps_pass_gradcheck(seeded_leaf, split_always):
    x, w = seeded_leaf(2, 2, 5, 6), seeded_leaf(4, 2, 3, 3, seed=1)
    gamma, beta = seeded_leaf(4, seed=2), seeded_leaf(4, seed=3)
    assert giagrad.gradcheck(_conv_chain, [x, w, gamma, beta])


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_splits_with_its_own_threads(split_always):
    import multiprocessing

    threads.over_channels(lambda part: None, 4, elements=1)  # the parent's pool exists now
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        assert pool.apply_async(_split_in_child).get(timeout=30) == 3  # three threads, in the child too


def _split_in_child():
    seen = []
    threads.over_channels(lambda part: seen.append(part), 4, elements=1)
    return len(seen)


@pytest.mark.parametrize("giagrad_setting, omp_setting, expected", [
    ("3", "1", 3),  # giagrad's own setting first
    (None, "1", 1),  # then OpenMP's
    ("many", "2", 2),  # a malformed value warns and is ignored
])
def test_the_thread_count_follows_the_environment(monkeypatch, giagrad_setting, omp_setting, expected):
    for variable, value in (("GIAGRAD_NUM_THREADS", giagrad_setting), ("OMP_NUM_THREADS", omp_setting)):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)
    if giagrad_setting == "many":
        with pytest.warns(RuntimeWarning, match="GIAGRAD_NUM_THREADS"):
            assert threads._thread_count() == expected
    else:
        assert threads._thread_count() == expected
