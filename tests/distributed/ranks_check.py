"""Run by tests/distributed/test_ranks.py as ``mpiexec -n 2 python ranks_check.py OUT_DIR``.

One MPI launch checks several things (starting MPI costs seconds): the collectives,
DistributedDataParallel against one process training with the global batch, no_sync, the
Trainer under DDP (reduced metrics, rank-0-only files, resume). Any failed check raises, and the
exception hook of giagrad.distributed ends the job with the rank and the error. Rank 0 prints
"ALL CHECKS PASSED" at the end.
"""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path

import numpy as np

import giagrad
import giagrad.distributed as dist
from giagrad import nn, optim
from giagrad.data import DataLoader, DistributedSampler, Subset, TensorDataset
from giagrad.nn.parallel import DistributedDataParallel
from giagrad.train import EarlyStopping, ModelCheckpoint, Trainer

GLOBAL_BATCH, STEPS, SEED = 16, 6, 3


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def flat_parameters(model: nn.Module) -> np.ndarray:
    return np.concatenate([p.data.reshape(-1) for p in model.parameters()])


def same_on_every_rank(array: np.ndarray, what: str) -> None:
    pieces = [np.empty_like(array) for _ in range(dist.get_world_size())]
    dist.all_gather(pieces, array)
    for rank, piece in enumerate(pieces):
        check(np.array_equal(piece, pieces[0]), f"{what}: rank {rank} differs from rank 0 "
                                                f"(max difference {np.abs(piece - pieces[0]).max()})")


def check_collectives(rank: int, world: int) -> None:
    x = np.full(5, rank + 1.0, dtype=np.float32)
    dist.all_reduce(x)
    check(np.all(x == world * (world + 1) / 2), f"all_reduce SUM gave {x}")
    t = giagrad.tensor(np.arange(6.0).reshape(2, 3) * (rank + 1))
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    check(np.allclose(t.data, np.arange(6.0).reshape(2, 3) * (world + 1) / 2), f"all_reduce AVG gave {t.data}")
    pending = [np.full(3, rank + 1.0, dtype=np.float32), np.full(2, 10.0 * rank)]
    works = [dist.all_reduce(array, op=dist.ReduceOp.AVG, async_op=True) for array in pending]
    check(all(work.wait() for work in works), "Work.wait() should return True")
    check(np.all(pending[0] == (world + 1) / 2) and np.all(pending[1] == 10.0 * (world - 1) / 2),
          f"two all_reduce(async_op=True) under way at once gave {pending}")
    column = np.tile(np.arange(3, dtype=np.float64) + rank, (4, 1))[:, 1]  # not contiguous
    dist.all_reduce(column, op=dist.ReduceOp.MAX)
    check(np.all(column == 1 + world - 1), f"all_reduce MAX of a strided array gave {column}")
    ints = np.array([rank, -rank], dtype=np.int64)
    dist.all_reduce(ints, op=dist.ReduceOp.MIN)
    check(ints.tolist() == [0, -(world - 1)], f"all_reduce MIN gave {ints}")
    b = giagrad.tensor(np.full(3, float(rank)))
    dist.broadcast(b, src=world - 1)
    check(np.all(b.data == world - 1), f"broadcast gave {b.data}")
    pieces = [giagrad.zeros(2, dtype=giagrad.int64) for _ in range(world)]
    dist.all_gather(pieces, np.array([rank, 10 * rank], dtype=np.int64))
    check([p.data.tolist() for p in pieces] == [[r, 10 * r] for r in range(world)], "all_gather")
    dist.barrier()


def make_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))


def toy_data(count: int = 192) -> TensorDataset:
    rng = np.random.default_rng(0)  # the same data on every rank
    inputs = rng.standard_normal((count, 10)).astype(np.float32)
    labels = (inputs[:, 0] > 0).astype(np.int64) + (inputs[:, 1] > 0.5).astype(np.int64)
    return TensorDataset(inputs, labels)


def train_steps(model: nn.Module, loader: DataLoader, optimizer: optim.Optimizer, steps: int,
                accumulate: int = 1) -> None:
    """``steps`` optimizer steps; with ``accumulate`` > 1 each step sums that many batches'
    gradients, the first ones under ``no_sync`` when the model has it."""
    loss_fn = nn.CrossEntropyLoss()
    batches = iter(loader)
    for _ in range(steps):
        optimizer.zero_grad()
        for micro in range(accumulate):
            x, y = next(batches)
            syncing = micro == accumulate - 1 or not hasattr(model, "no_sync")
            context = model.no_sync() if not syncing else giagrad.enable_grad()
            with context:
                (loss_fn(model(x), y) / accumulate).backward()
        optimizer.step()


def check_ddp_matches_one_process(rank: int, world: int, accumulate: int) -> None:
    """DDP on every rank == one process with the global batch and the same order (float32 rounding)."""
    giagrad.manual_seed(100 + rank)  # different initial weights: the broadcast must fix them
    ddp = DistributedDataParallel(make_mlp(), bucket_cap_mb=0.001)  # several buckets
    check(len(ddp._buckets) > 1, "expected several gradient buckets")
    same_on_every_rank(flat_parameters(ddp), "parameters after construction")
    reference = copy.deepcopy(ddp.module)
    data = toy_data()
    sampler = DistributedSampler(data, seed=SEED)
    loader = DataLoader(data, batch_size=GLOBAL_BATCH // world, sampler=sampler)
    optimizer = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    train_steps(ddp, loader, optimizer, STEPS, accumulate)
    same_on_every_rank(flat_parameters(ddp), f"parameters after {STEPS} steps (accumulate={accumulate})")

    one_sampler = DistributedSampler(data, num_replicas=1, rank=0, seed=SEED)
    one_loader = DataLoader(data, batch_size=GLOBAL_BATCH, sampler=one_sampler)
    one_optimizer = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    train_steps(reference, one_loader, one_optimizer, STEPS, accumulate)
    difference = np.abs(flat_parameters(ddp) - flat_parameters(reference)).max()
    check(difference < 1e-5, f"DDP differs from one process by {difference} (accumulate={accumulate})")


def flat_gradients(model: nn.Module) -> np.ndarray:
    return np.concatenate([p.grad.reshape(-1) for p in model.parameters()])


def check_backward_averages(rank: int, world: int) -> None:
    """Right after ``loss.backward()`` every rank holds the global batch's gradient, and clipping
    between backward and step acts on it, as in one process; with or without an optimizer's flat
    gradient buffer, and with some parameters' grad left None by the optimizer."""
    giagrad.manual_seed(5)
    model = make_mlp()
    reference = copy.deepcopy(model)
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.001)  # several buckets
    x, y = (np.asarray(t) for t in toy_data(GLOBAL_BATCH).tensors)
    share = slice(rank * GLOBAL_BATCH // world, (rank + 1) * GLOBAL_BATCH // world)
    loss_fn = nn.CrossEntropyLoss()
    for flat_buffer in (False, True):
        if flat_buffer:
            optimizer = optim.SGD(ddp.parameters(), lr=0.1)
            one_optimizer = optim.SGD(reference.parameters(), lr=0.1)
            optimizer.zero_grad()
            one_optimizer.zero_grad()
        else:
            ddp.zero_grad()
            reference.zero_grad()
        loss = loss_fn(ddp(giagrad.tensor(x[share])), giagrad.tensor(y[share]))
        loss.backward(retain_graph=True)
        loss_fn(reference(giagrad.tensor(x)), giagrad.tensor(y)).backward()
        averaged = flat_gradients(ddp)
        same_on_every_rank(averaged, f"gradients right after backward (flat buffer: {flat_buffer})")
        difference = np.abs(averaged - flat_gradients(reference)).max()
        check(difference < 1e-6, f"gradients after backward differ from one process's by {difference}")
        check(not ddp._gradients_pending, "backward left gradients pending")
        norm = nn.utils.clip_grad_norm_(ddp.parameters(), 0.1)
        one_norm = nn.utils.clip_grad_norm_(reference.parameters(), 0.1)
        check(abs(float(norm) - float(one_norm)) < 1e-5, f"clip_grad_norm_ gave {float(norm)}, one process "
                                                         f"{float(one_norm)}")
        difference = np.abs(flat_gradients(ddp) - flat_gradients(reference)).max()
        check(difference < 1e-6, f"clipped gradients differ from one process's by {difference}")
        if not flat_buffer:
            try:  # a second backward through the averaged forward would add local gradients
                loss.backward()
            except RuntimeError as error:
                check("once per forward" in str(error), f"unexpected error: {error}")
            else:
                check(False, "a second backward through one forward was not refused")
        if flat_buffer:
            optimizer.step()
            one_optimizer.step()
            difference = np.abs(flat_parameters(ddp) - flat_parameters(reference)).max()
            check(difference < 1e-6, f"the step after clipping differs from one process's by {difference}")


def check_unused_parameters(rank: int, world: int) -> None:
    """A parameter without a gradient, on one rank or on all: no hang, zeros in the average."""

    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.Linear(3, 3)
            self.unused_on_rank_1 = nn.Linear(3, 3)
            self.last = nn.Linear(3, 1)

        def forward(self, x: giagrad.Tensor, take_branch: bool) -> giagrad.Tensor:
            h = self.first(x)
            return self.last(self.unused_on_rank_1(h) if take_branch else h)

    giagrad.manual_seed(1)
    ddp = DistributedDataParallel(Branches(), bucket_cap_mb=1e-5)  # a bucket per parameter
    x = giagrad.ones(2, 3)
    branch = ddp.module.unused_on_rank_1.weight
    rank_0 = copy.deepcopy(ddp.module)  # rank 0's gradient; rank 1 adds zeros for the branch
    rank_0(x, take_branch=True).sum().backward()
    expected = rank_0.unused_on_rank_1.weight.grad / world
    for reduce_explicitly in (True, False):  # without, the next forward averages what backward left
        ddp.zero_grad()
        ddp(x, take_branch=rank == 0).sum().backward()
        if reduce_explicitly:  # what a loop reading the gradients does when parameters may go unused
            ddp.reduce_gradients()
        else:
            ddp(x, take_branch=False)
        same_on_every_rank(flat_gradients(ddp), "gradients with a parameter unused on rank 1")
        check(np.allclose(branch.grad, expected, atol=1e-6), "the unused parameter's average")
    ddp.zero_grad()
    ddp(x, take_branch=rank == 0).sum().backward()
    optimizer = optim.SGD(ddp.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimizer.step()  # the step's fallback averages what backward could not
    if rank == 1:
        check(any("got no gradient" in str(w.message) for w in caught), "no warning about the late average")
    same_on_every_rank(flat_parameters(ddp), "parameters after a step with a parameter unused on rank 1")


def check_explicit_reduce_and_buffers(rank: int, world: int) -> None:
    giagrad.manual_seed(rank)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    ddp = DistributedDataParallel(model)
    check(list(ddp.state_dict()) == list(model.state_dict()), "state_dict should have no prefix")
    x = giagrad.tensor(np.random.default_rng(rank).standard_normal((8, 4)).astype(np.float32))
    with ddp.no_sync():
        ddp(x).sum().backward()
    local = model[0].weight.grad.copy()
    pieces = [np.empty_like(local) for _ in range(world)]
    dist.all_gather(pieces, local)
    check(not np.array_equal(pieces[0], pieces[1]), "no_sync's gradients should be each rank's own")
    ddp(x).sum().backward()  # averages the sum of both backwards
    averaged = model[0].weight.grad.copy()
    check(np.allclose(averaged, 2 * np.mean(pieces, axis=0), atol=1e-5), "backward after no_sync is not the mean")
    ddp.reduce_gradients()  # nothing pending: must not average again
    check(np.array_equal(model[0].weight.grad, averaged), "reduce_gradients changed averaged gradients")
    # Make the running statistics differ, then a forward on the same batch everywhere: they agree
    # afterwards only if the forward first copied rank 0's to every rank.
    model[1].running_mean.data[...] = rank
    same_input = giagrad.tensor(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))
    ddp(same_input)
    same_on_every_rank(model[1].running_mean.data, "running_mean after a forward")
    check(np.abs(model[1].running_mean.data).max() < 0.5, "rank 0's running_mean (zeros) was not the start")


def check_trainer(rank: int, world: int, folder: Path) -> None:
    data = toy_data(120)
    validation = toy_data(41)  # odd: the ranks get different shares, no padding
    giagrad.manual_seed(7)
    model = DistributedDataParallel(make_mlp())
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(data, batch_size=GLOBAL_BATCH // world, sampler=DistributedSampler(data, seed=SEED))
    shard = Subset(validation, list(range(rank, len(validation), world)))
    val_loader = DataLoader(shard, batch_size=8)
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], grad_clip=1.0, verbose=0,
                      callbacks=[EarlyStopping("val_loss", patience=10), ModelCheckpoint(folder)])
    history = trainer.fit(loader, val_loader, epochs=2)
    same_on_every_rank(flat_parameters(model), "parameters after Trainer.fit")
    logs = {key: value for key, value in history.epochs[-1].items() if key != "seconds"}
    same_on_every_rank(np.array(list(logs.values())), "epoch logs")
    # the whole validation set in this process alone
    inputs, labels = (np.asarray(getattr(t, "data", t)) for t in validation.tensors)
    model.module.eval()
    with giagrad.no_grad():
        outputs = model.module(giagrad.tensor(inputs))
    accuracy = float(np.mean(outputs.data.argmax(axis=1) == labels))
    check(abs(logs["val_accuracy"] - accuracy) < 1e-12, f"val_accuracy {logs['val_accuracy']} is not the whole "
                                                        f"validation set's {accuracy}")
    dist.barrier()
    check((folder / "last.npz").exists(), "rank 0 did not write last.npz")
    # resume on every rank from rank 0's checkpoint and train one more epoch
    giagrad.manual_seed(99 + rank)
    resumed_model = DistributedDataParallel(make_mlp())
    resumed_optimizer = optim.SGD(resumed_model.parameters(), lr=0.05, momentum=0.9)
    resumed = Trainer(resumed_model, resumed_optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"], verbose=0)
    resumed.fit(loader, val_loader, epochs=3, resume=folder / "last.npz")
    check(resumed.epoch == 3, f"resumed run ended at epoch {resumed.epoch}")
    trainer.fit(loader, val_loader, epochs=3)
    same_on_every_rank(flat_parameters(resumed_model), "parameters after the resumed epoch")
    difference = np.abs(flat_parameters(resumed_model) - flat_parameters(model)).max()
    check(difference == 0, f"the resumed run differs from the uninterrupted one by {difference}")


def main() -> None:
    folder = Path(sys.argv[1])
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    check(world == 2, f"expected 2 ranks, got {world}")
    check_collectives(rank, world)
    check_ddp_matches_one_process(rank, world, accumulate=1)
    check_ddp_matches_one_process(rank, world, accumulate=2)
    check_backward_averages(rank, world)
    check_unused_parameters(rank, world)
    check_explicit_reduce_and_buffers(rank, world)
    check_trainer(rank, world, folder)
    dist.barrier()
    if rank == 0:
        print("ALL CHECKS PASSED", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
