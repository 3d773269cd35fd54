"""DataLoader(num_workers=N): the same batches in the same order, seeding, errors and clean shutdown.

Workers start with fork on Linux (milliseconds), so these tests stay fast; each checks that no
child process is left behind.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import giagrad
from giagrad.data import DataLoader, Dataset, IterableDataset, TensorDataset, get_worker_info
from giagrad.data.datasets import MNIST
from giagrad.data.transforms import Compose, RandomCrop, ToTensor


class Squares(Dataset):
    def __init__(self, n=37, fail_at=None):
        self.n, self.fail_at = n, fail_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"sample {i} is broken")
        return np.full(2, i * i, dtype=np.float32), i


def _batches(loader):
    return [tuple(np.array(part.data) for part in batch) for batch in loader]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for p, q in zip(x, y):
            np.testing.assert_array_equal(p, q)


def _no_children():
    return multiprocessing.active_children() == []


@pytest.mark.parametrize("options", [dict(), dict(shuffle=True, seed=3), dict(drop_last=True, shuffle=True, seed=1)],
                         ids=str)
def test_workers_give_the_batches_of_num_workers_0_in_order(options):
    reference = _batches(DataLoader(Squares(), batch_size=4, **options))
    for workers in (1, 3):
        _assert_same(_batches(DataLoader(Squares(), batch_size=4, num_workers=workers, prefetch_factor=1,
                                         pin_memory=True, **options)), reference)
    assert _no_children()


def test_workers_with_batch_indexing_and_the_global_generator():
    data = TensorDataset(np.arange(40, dtype=np.float32).reshape(20, 2), np.arange(20))
    giagrad.manual_seed(5)
    reference = _batches(DataLoader(data, batch_size=3, shuffle=True))
    after_reference = giagrad.randn(3).data
    giagrad.manual_seed(5)
    _assert_same(_batches(DataLoader(data, batch_size=3, shuffle=True, num_workers=2)), reference)
    np.testing.assert_array_equal(giagrad.randn(3).data, after_reference)  # the main generator moved the same
    assert _no_children()


def _random_crop_loader(workers, seed=0):
    images = np.random.default_rng(0).integers(0, 256, (24, 28, 28), dtype=np.uint8)
    dataset = MNIST.from_arrays(images, np.arange(24) % 10, transform=Compose([ToTensor(), RandomCrop(28, 4)]))
    return DataLoader(dataset, batch_size=5, shuffle=True, seed=seed, num_workers=workers)


def test_random_transforms_are_reproducible_and_independent_of_the_worker_count():
    two = _batches(_random_crop_loader(2))
    _assert_same(_batches(_random_crop_loader(2)), two)
    _assert_same(_batches(_random_crop_loader(3)), two)
    # the crops differ between batches and between epochs
    loader = _random_crop_loader(2)
    first, second = _batches(loader), _batches(loader)
    assert not np.array_equal(first[0][0], second[0][0])
    assert _no_children()


class WorkerIds(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([info.id, info.num_workers, getattr(info.dataset, "initialised", -1)]), i


def test_get_worker_info_and_worker_init_fn():
    assert get_worker_info() is None and giagrad.utils.data.get_worker_info is get_worker_info

    def init(worker_id):
        get_worker_info().dataset.initialised = 100 + worker_id

    batches = _batches(DataLoader(WorkerIds(), batch_size=2, num_workers=2, worker_init_fn=init))
    workers = [batch[0][0] for batch in batches]
    assert [w[0] for w in workers] == [0, 1, 0, 1]  # round-robin
    assert all(w[1] == 2 and w[2] == 100 + w[0] for w in workers)
    assert _no_children()


class Stream(IterableDataset):
    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, 23, step))


def test_iterable_dataset_sharded_with_get_worker_info():
    values = sorted(v for batch in DataLoader(Stream(), batch_size=4, num_workers=3) for v in batch.data.tolist())
    assert values == list(range(23))
    assert _no_children()


def test_a_worker_error_reaches_the_loop_with_its_message_and_worker_id():
    loader = DataLoader(Squares(fail_at=9), batch_size=4, num_workers=2)
    with pytest.raises(ValueError, match=r"worker process 0.*sample 9 is broken"):
        for _ in loader:
            pass
    assert _no_children()
    with pytest.raises(ZeroDivisionError, match="worker process"):
        list(DataLoader(Squares(), batch_size=4, num_workers=2, worker_init_fn=lambda worker_id: 1 / 0))
    assert _no_children()


def test_break_and_persistent_workers_leave_no_processes():
    for batch in DataLoader(Squares(), batch_size=2, num_workers=2):
        break
    del batch
    assert _no_children()
    loader = DataLoader(Squares(), batch_size=4, num_workers=2, persistent_workers=True)
    reference = _batches(DataLoader(Squares(), batch_size=4))
    _assert_same(_batches(loader), reference)
    pids = {p.pid for p in multiprocessing.active_children()}
    assert len(pids) == 2  # alive between epochs
    for _ in loader:
        break  # a cut epoch: the next one must not see its leftovers
    _assert_same(_batches(loader), reference)
    assert {p.pid for p in multiprocessing.active_children()} == pids
    del loader
    assert _no_children()


def test_worker_options_are_checked():
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(Squares(), num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(Squares(), prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(Squares(), persistent_workers=True)
    with pytest.raises(TypeError, match="worker_init_fn"):
        DataLoader(Squares(), num_workers=1, worker_init_fn=3)


def test_ctrl_c_stops_the_workers():
    # In a child interpreter: SIGINT while the main process waits for a slow batch.
    script = textwrap.dedent("""
        import multiprocessing, os, signal, threading, time
        import numpy as np
        from giagrad.data import DataLoader, Dataset

        class Slow(Dataset):
            def __len__(self):
                return 100
            def __getitem__(self, i):
                time.sleep(0.2)
                return np.zeros(2, np.float32)

        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            for batch in DataLoader(Slow(), batch_size=2, num_workers=2):
                pass
        except KeyboardInterrupt:
            print("interrupted", len(multiprocessing.active_children()))
    """)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(giagrad.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert result.stdout.strip() == "interrupted 0", result.stderr
    assert "Traceback" not in result.stderr  # the workers ignore SIGINT: no tracebacks from them
