"""Data-parallel MLP epoch over MPI: giagrad at 1 and 2 ranks, PyTorch DDP (gloo) at 2; all-reduce bandwidth.

One epoch of Fashion-MNIST (60,000 images, the last partial global batch dropped) with the
784-256-128-10 MLP and SGD (lr 0.1, momentum 0.9), at global batches 64 and 256; with N ranks
each one trains on batch / N images per step, from a DistributedSampler. Every process runs one
BLAS thread (1 rank is the baseline of the scaling; a BLAS thread pool spinning on a shared
machine would distort it). Each
framework runs in processes of its own: this script launches ``mpiexec`` for giagrad and two
``torch.distributed`` processes for PyTorch (with ``--torch-python``, default ``GIAGRAD_TORCH_PYTHON``,
else this interpreter; skipped when PyTorch is not importable there). Also measured at 2 ranks: giagrad's all-reduce
latency (8 bytes) and bandwidth (1 and 16 MB float32), as "bus bandwidth" 2(N-1)/N x bytes / time,
and the share of the epoch the gradient averaging takes (waiting for the other rank included),
and each configuration's CPU time per epoch on rank 0.
Each configuration is launched ``--rounds`` times, the three taking turns, and timed over one
epoch after a warm-up epoch per launch; the table shows the median and, in brackets, the best:
on a shared machine the best is the closer estimate of an idle one.

    python benchmarks/bench_ddp.py                  # the table
    python benchmarks/bench_ddp.py --quick          # tiny sizes: a smoke run
    python benchmarks/bench_ddp.py --torch-python PATH/TO/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))  # this checkout's giagrad, also in the launched ranks
from common import (  # noqa: E402
    default_torch_python,
    fashion_mnist_training_images,
    flat_float_images,
    machine,
    print_machine,
)

SIZES = (784, 256, 128, 10)
BATCH_SIZES = (64, 256)
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def training_data(limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    images, labels, _ = fashion_mnist_training_images(limit)
    return flat_float_images(images), labels


def median_epoch(epoch: Any, repeats: int, barrier: Any) -> tuple[float, float]:
    """Median wall and CPU seconds of ``epoch()`` (warmed up by the caller), the ranks starting together.

    The CPU time (this rank's process) leaves out the time spent waiting for a core or for the
    other rank: on a busy machine it is the steadier estimate of the work an epoch takes.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        barrier()
        wall, cpu = time.perf_counter(), time.process_time()
        epoch()
        barrier()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


# ------------------------------------------------------------------------- giagrad worker


def giagrad_worker(batch_sizes: list[int], limit: int | None, repeats: int) -> dict[str, Any]:
    import giagrad
    import giagrad.distributed as dist
    from giagrad import nn, optim
    from giagrad.data import DataLoader, DistributedSampler, TensorDataset
    from giagrad.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    world = dist.get_world_size()
    images, labels = training_data(limit)
    dataset = TensorDataset(giagrad.Tensor(images), giagrad.Tensor(labels))
    result: dict[str, Any] = {"world_size": world, "epochs": {}, "cpu": {}, "reduce_share": {}}

    def training(batch: int) -> tuple[Any, list[float]]:
        """One epoch's function, and the seconds spent averaging gradients (accumulated)."""
        giagrad.manual_seed(0)
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        model = DistributedDataParallel(nn.Sequential(*layers[:-1]))
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        # drop_last on the global batch: every rank takes the same number of full steps
        usable = len(dataset) - len(dataset) % batch
        sampler = DistributedSampler(range(usable), seed=0)
        loader = DataLoader(dataset, batch_size=batch // world, sampler=sampler)
        reduce_seconds = [0.0]

        def timed(method: Any) -> Any:
            def run(*args: Any) -> None:
                start = time.perf_counter()
                method(*args)
                reduce_seconds[0] += time.perf_counter() - start
            return run

        # backward starts each complete bucket's all-reduce, then waits for them all
        for name in ("_start_bucket", "_finish_buckets"):
            object.__setattr__(model, name, timed(getattr(model, name)))

        def epoch() -> None:
            sampler.set_epoch(sampler.epoch + 1)
            for x, y in loader:
                optimizer.zero_grad()
                loss_fn(model(x), y).backward()
                optimizer.step()

        return epoch, reduce_seconds

    for batch in batch_sizes:
        epoch, reduce_seconds = training(batch)
        epoch()  # warm-up
        reduce_seconds[0] = 0.0
        seconds, result["cpu"][str(batch)] = median_epoch(epoch, repeats, dist.barrier)
        result["epochs"][str(batch)] = seconds
        result["reduce_share"][str(batch)] = reduce_seconds[0] / repeats / seconds
    if world > 1:
        result["allreduce"] = allreduce_figures(dist, world)
    return result


def allreduce_figures(dist: Any, world: int) -> dict[str, float]:
    """Latency of an 8-byte all-reduce (us) and bus bandwidth at 1 and 16 MB (GB/s)."""
    figures: dict[str, float] = {}
    for label, count, repeats in (("8B", 2, 200), ("1MB", 2**18, 50), ("16MB", 2**22, 10)):
        buffer = np.ones(count, dtype=np.float32)
        dist.all_reduce(buffer)
        dist.barrier()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            dist.all_reduce(buffer)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        if label == "8B":
            figures["latency_us"] = seconds * 1e6
        else:
            figures[f"bus_bandwidth_{label}_gb_s"] = 2 * (world - 1) / world * buffer.nbytes / seconds / 1e9
    return figures


# --------------------------------------------------------------------------- PyTorch worker


def torch_worker(batch_sizes: list[int], limit: int | None, repeats: int) -> dict[str, Any]:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    images, labels = training_data(limit)
    x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
    result: dict[str, Any] = {"world_size": world, "epochs": {}, "cpu": {}}

    def training(batch: int) -> Any:
        torch.manual_seed(0)
        layers: list[Any] = []
        for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
        model = DistributedDataParallel(torch.nn.Sequential(*layers[:-1]))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        local = batch // world
        steps = len(images) // batch
        epoch_number = [0]

        def epoch() -> None:
            # DistributedSampler's order, batches indexed straight from the tensors (PyTorch's fastest way)
            epoch_number[0] += 1
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(epoch_number[0]))
            mine = order[: steps * batch][rank::world]
            for step in range(steps):
                index = mine[step * local:(step + 1) * local]
                optimizer.zero_grad()
                loss_fn(model(x_all[index]), y_all[index]).backward()
                optimizer.step()

        return epoch

    for batch in batch_sizes:
        epoch = training(batch)
        epoch()  # warm-up
        result["epochs"][str(batch)], result["cpu"][str(batch)] = median_epoch(epoch, repeats, dist.barrier)
    dist.destroy_process_group()
    return result


# ---------------------------------------------------------------------------------- driver


def giagrad_path(env: dict[str, str]) -> str:
    """PYTHONPATH for the launched processes: the giagrad this process imported comes first."""
    import giagrad

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(giagrad.__file__)))
    return os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))


def run_giagrad(world: int, arguments: list[str], out: str) -> dict[str, Any]:
    from giagrad.distributed import mpiexec_command

    env = dict(os.environ)
    env["PYTHONPATH"] = giagrad_path(env)
    env.update(ONE_THREAD)
    command = mpiexec_command(world, sys.executable, os.path.abspath(__file__), "--worker", "giagrad",
                              *arguments, "--json", out)
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if completed.returncode:
        raise RuntimeError(f"giagrad at {world} ranks exited with {completed.returncode}:\n{completed.stderr}")
    with open(out) as f:
        return json.load(f)


def torch_importable(python: str) -> bool:
    return subprocess.run([python, "-c", "import torch.distributed"], capture_output=True).returncode == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_torch(python: str, world: int, arguments: list[str], out: str) -> dict[str, Any]:
    env = {**os.environ, **ONE_THREAD, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
           "WORLD_SIZE": str(world)}
    env["PYTHONPATH"] = giagrad_path(env)
    processes = [subprocess.Popen([python, os.path.abspath(__file__), "--worker", "torch", *arguments, "--json", out],
                                  env={**env, "RANK": str(rank)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for rank in range(world)]
    errors = []
    for process in processes:
        _, stderr = process.communicate(timeout=1800)
        if process.returncode:
            errors.append(stderr)
    if errors:
        raise RuntimeError("PyTorch DDP failed:\n" + "\n".join(errors))
    with open(out) as f:
        return json.load(f)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,048 images, batch 64, one repeat: a smoke run")
    parser.add_argument("--rounds", type=int, default=3, help="launches of each configuration, in turns")
    parser.add_argument("--repeats", type=int, default=1, help="timed epochs per launch (after a warm-up epoch)")
    parser.add_argument("--torch-python", default=default_torch_python(),
                        help="the interpreter with PyTorch for its DDP column (default: GIAGRAD_TORCH_PYTHON, else "
                        "this one)")
    parser.add_argument("--worker", choices=("giagrad", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.quick:
        args.limit, args.rounds, args.repeats, args.batch_sizes = 2048, 1, 1, "64"
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    if args.worker:
        worker = giagrad_worker if args.worker == "giagrad" else torch_worker
        result = worker(batch_sizes, args.limit, args.repeats)
        if int(os.environ.get("RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))) == 0:
            with open(args.json, "w") as f:
                json.dump(result, f)
        return result

    print("Machine:")
    print_machine(machine(with_torch=False))
    arguments = ["--repeats", str(args.repeats), "--batch-sizes", args.batch_sizes]
    if args.limit:
        arguments += ["--limit", str(args.limit)]
    with_torch = torch_importable(args.torch_python)
    if not with_torch:
        print(f"PyTorch is not importable by {args.torch_python}: its column is skipped")
    # Rounds of one launch each, in turns: a busy spell of the machine slows all three alike.
    runs: dict[str, list[dict[str, Any]]] = {"giagrad_1": [], "giagrad_2": [], "torch_2": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            runs["giagrad_1"].append(run_giagrad(1, arguments, os.path.join(folder, "g1.json")))
            runs["giagrad_2"].append(run_giagrad(2, arguments, os.path.join(folder, "g2.json")))
            if with_torch:
                runs["torch_2"].append(run_torch(args.torch_python, 2, arguments, os.path.join(folder, "t2.json")))

    def seconds(label: str, batch: int, pick: Any, kind: str = "epochs") -> float | None:
        values = [run[kind][str(batch)] for run in runs[label]]
        return pick(values) if values else None

    rows = []
    for batch in batch_sizes:
        row: dict[str, Any] = {"batch": batch}
        for label, pick in (("median", statistics.median), ("best", min)):
            suffix = "" if label == "median" else "_best"
            row[f"giagrad_1_rank_s{suffix}"] = seconds("giagrad_1", batch, pick)
            row[f"giagrad_2_ranks_s{suffix}"] = seconds("giagrad_2", batch, pick)
            row[f"torch_ddp_2_ranks_s{suffix}"] = seconds("torch_2", batch, pick)
            torch_s = row[f"torch_ddp_2_ranks_s{suffix}"]
            row[f"giagrad_2_vs_torch_2{suffix}"] = row[f"giagrad_2_ranks_s{suffix}"] / torch_s if torch_s else None
        row["reduce_share_2_ranks"] = statistics.median(run["reduce_share"][str(batch)] for run in runs["giagrad_2"])
        for label, key in (("giagrad_1", "giagrad_1_rank_cpu_s"), ("giagrad_2", "giagrad_2_ranks_cpu_s"),
                           ("torch_2", "torch_ddp_2_ranks_cpu_s")):
            row[key] = seconds(label, batch, statistics.median, "cpu")
        rows.append(row)
    print(f"MLP {'-'.join(map(str, SIZES))}, SGD momentum, one epoch of {args.limit or 60000} images, seconds: median "
          f"(best) of {args.rounds} launches x {args.repeats} epochs:")
    print(f"{'global batch':>12} {'giagrad 1':>16} {'giagrad 2':>16} {'torch DDP 2':>16} {'g2/t2':>12} {'reduce %':>9}")
    for row in rows:
        cells = []
        for key, digits in (("giagrad_1_rank_s", 3), ("giagrad_2_ranks_s", 3), ("torch_ddp_2_ranks_s", 3),
                            ("giagrad_2_vs_torch_2", 2)):
            median, best = row[key], row[key + "_best"]
            text = f"{median:.{digits}f} ({best:.{digits}f})" if median is not None else "-"
            cells.append(f"{text:>{12 if key.endswith('torch_2') else 16}}")
        print(f"{row['batch']:>12} {' '.join(cells)} {100 * row['reduce_share_2_ranks']:8.1f}%")
    print("CPU seconds of rank 0 per epoch (median; waiting for a core or the other rank left out):")
    for row in rows:
        torch_cpu = row["torch_ddp_2_ranks_cpu_s"]
        print(f"{row['batch']:>12} {row['giagrad_1_rank_cpu_s']:16.3f} {row['giagrad_2_ranks_cpu_s']:16.3f} "
              + (f"{torch_cpu:16.3f}" if torch_cpu is not None else f"{'-':>16}"))
    allreduce = {key: statistics.median(run["allreduce"][key] for run in runs["giagrad_2"])
                 for key in runs["giagrad_2"][0]["allreduce"]}
    print(f"all-reduce at 2 ranks: latency {allreduce['latency_us']:.1f} us (8 bytes), bus bandwidth "
          f"{allreduce['bus_bandwidth_1MB_gb_s']:.2f} GB/s (1 MB), "
          f"{allreduce['bus_bandwidth_16MB_gb_s']:.2f} GB/s (16 MB)")
    return {"rows": rows, "allreduce": allreduce}


if __name__ == "__main__":
    main()
