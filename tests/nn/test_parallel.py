"""DistributedDataParallel in one process (no MPI needed): a transparent wrapper; its buckets and state_dict.

Two-rank behaviour is tested under mpiexec in tests/distributed/test_ranks.py.
"""

from __future__ import annotations

import copy
import gc

import numpy as np
import pytest

import giagrad
from giagrad import nn, optim
from giagrad.nn.parallel import DistributedDataParallel
from giagrad.nn.parallel.distributed import _end_to_end_view
from giagrad.optim import optimizer as optimizer_module


def mlp() -> nn.Module:
    giagrad.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))


def train(model: nn.Module, steps: int = 3) -> np.ndarray:
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        optimizer.zero_grad()
        x = giagrad.tensor(rng.standard_normal((6, 5)).astype(np.float32))
        y = giagrad.tensor(rng.integers(0, 3, 6))
        nn.CrossEntropyLoss()(model(x), y).backward()
        optimizer.step()
    return np.concatenate([p.data.reshape(-1) for p in model.parameters()])


def test_in_a_world_of_one_it_trains_exactly_as_the_bare_model():
    assert np.array_equal(train(DistributedDataParallel(mlp())), train(mlp()))


def test_state_dict_has_no_prefix_and_loads_both_ways():
    bare = mlp()
    ddp = DistributedDataParallel(copy.deepcopy(bare))
    assert list(ddp.state_dict()) == list(bare.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    other = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    other.load_state_dict(ddp.state_dict())
    assert np.array_equal(other[0].weight.data, bare[0].weight.data)
    prefixed = {"module." + key: value.data * 2 for key, value in bare.state_dict().items()}  # PyTorch DDP's keys
    ddp.load_state_dict(prefixed)
    assert np.array_equal(ddp.module[0].weight.data, bare[0].weight.data * 2)
    assert [name for name, _ in ddp.named_parameters()][0] == "module.0.weight"  # the tree keeps its level
    assert ddp.module is ddp._modules["module"]


def test_no_sync_suspends_and_restores_the_averaging_mark():
    ddp = DistributedDataParallel(mlp())
    with ddp.no_sync():
        ddp(giagrad.ones(2, 5))
        assert not ddp.require_backward_grad_sync and not ddp._gradients_pending
    assert ddp.require_backward_grad_sync
    ddp(giagrad.ones(2, 5))
    assert ddp._gradients_pending
    ddp.reduce_gradients()
    assert not ddp._gradients_pending
    with giagrad.no_grad():  # evaluation marks nothing
        ddp(giagrad.ones(2, 5))
    assert not ddp._gradients_pending


def test_buckets_follow_the_cap_and_the_dtype_from_the_last_layer():
    # float32: 40,000 + 400 bytes, then 4,000 + 40; the last layer in float64
    model = nn.Sequential(nn.Linear(100, 100), nn.Linear(100, 10), nn.Linear(10, 2))
    model[2].double()
    ddp = DistributedDataParallel(model, bucket_cap_mb=30_000 / 2**20)
    shapes = [[p.shape for p in bucket.params] for bucket in ddp._buckets]
    # filled from the last parameter back (backward's order), registration order inside each
    assert shapes == [[(2, 10), (2,)], [(100,), (10, 100), (10,)], [(100, 100)]]
    assert [bucket.flat.dtype for bucket in ddp._buckets] == [np.float64, np.float32, np.float32]


def test_gradients_an_optimizer_keeps_end_to_end_are_reduced_where_they_are():
    ddp = DistributedDataParallel(mlp())
    bucket = ddp._buckets[0]
    ddp(giagrad.ones(2, 5)).sum().backward()
    assert bucket.gradients_in_place([p.grad for p in bucket.params]) is None  # separate arrays: copied
    optim.SGD(ddp.parameters(), lr=0.1)
    ddp.zero_grad()
    ddp(giagrad.ones(2, 5)).sum().backward()
    grads = [p.grad for p in bucket.params]
    view = bucket.gradients_in_place(grads)
    assert view is not None and view.size == sum(g.size for g in grads)
    view[:] = 7.0
    assert all(np.all(g == 7.0) for g in grads)


@pytest.mark.parametrize("case", ["gap", "order", "dtype", "strided"])
def test_end_to_end_view_rejects_what_is_not_one_run_of_memory(case):
    base = np.arange(10, dtype=np.float32)
    arrays = {"gap": [base[0:3], base[4:6]], "order": [base[3:5], base[0:3]],
              "dtype": [base[0:3], base[3:5].astype(np.float64)], "strided": [base[0:6:2], base[6:8]]}[case]
    assert _end_to_end_view(arrays, np.dtype(np.float32)) is None
    assert _end_to_end_view([base[2:4], base[4:7].reshape(3, 1)], np.dtype(np.float32)).tolist() == [2, 3, 4, 5, 6]


def test_the_step_hook_goes_with_the_wrapper():
    before = len(optimizer_module._step_pre_hooks)
    ddp = DistributedDataParallel(mlp())
    assert len(optimizer_module._step_pre_hooks) == before + 1
    del ddp
    gc.collect()
    assert len(optimizer_module._step_pre_hooks) == before


@pytest.mark.parametrize(("arguments", "error", "words"), [
    (("not a module",), TypeError, "expected an nn.Module"),
    ((nn.Linear(2, 2), True, 0), ValueError, "bucket_cap_mb"),
])
def test_bad_arguments(arguments, error, words):
    with pytest.raises(error, match=words):
        DistributedDataParallel(*arguments)


def test_refuses_to_train_alone_when_mpiexec_started_several_ranks(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedDataParallel(mlp())
