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


def check_explicit_reduce_and_buffers(rank: int, world: int) -> None:
    giagrad.manual_seed(rank)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    ddp = DistributedDataParallel(model)
    check(list(ddp.state_dict()) == list(model.state_dict()), "state_dict should have no prefix")
    x = giagrad.tensor(np.random.default_rng(rank).standard_normal((8, 4)).astype(np.float32))
    ddp(x).sum().backward()
    local = model[0].weight.grad.copy()
    ddp.reduce_gradients()
    averaged = model[0].weight.grad.copy()
    pieces = [np.empty_like(local) for _ in range(world)]
    dist.all_gather(pieces, local)
    check(np.allclose(averaged, np.mean(pieces, axis=0), atol=1e-6), "reduce_gradients is not the mean")
    ddp.reduce_gradients()  # nothing pending: must not average again
    check(np.array_equal(model[0].weight.grad, averaged), "a second reduce_gradients changed the gradients")
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
    check_explicit_reduce_and_buffers(rank, world)
    check_trainer(rank, world, folder)
    dist.barrier()
    if rank == 0:
        print("ALL CHECKS PASSED", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
