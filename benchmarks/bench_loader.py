"""What the DataLoader costs: one epoch of 60,000 Fashion-MNIST images, against an MLP training epoch.

The loader epoch: batch 64, shuffled, ToTensor + Normalize + Flatten, no model: the batches are
made and thrown away. The images come from the Debian package's Fashion-MNIST when it is there
(any location ``FashionMNIST(download=False)`` finds), else from a synthetic uint8 array of the
same shape (said in the output). The bar (issue 5): the loader costs under 5% of a training epoch
of the 784-128-10 MLP. The MLP epoch is timed twice: with a plain numpy forward/backward/SGD
written here (the cheapest an epoch can be, so the harshest comparison), and with giagrad's own
nn/optim when those modules provide what it needs, both on batches built beforehand and fed by
the DataLoader (the difference is what the loader adds inside a real training loop; it is small
and noisy). CPU time is the figure to trust on a shared machine.

    python benchmarks/bench_loader.py            # full epoch
    python benchmarks/bench_loader.py --quick    # a small smoke run
"""

from __future__ import annotations

import os
import statistics
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    argument_parser,
    fashion_mnist_training_images,
    machine,
    median_wall_and_cpu_seconds,
    print_machine,
)

import giagrad  # noqa: E402
from giagrad.data import DataLoader  # noqa: E402
from giagrad.data.datasets import FashionMNIST  # noqa: E402
from giagrad.data.transforms import Compose, Flatten, Normalize, ToTensor  # noqa: E402

BATCH_SIZE = 64
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530


def loader_epoch(images: np.ndarray, labels: np.ndarray) -> tuple[Any, DataLoader]:
    transform = Compose([ToTensor(), Normalize((FASHION_MEAN,), (FASHION_STD,)), Flatten()])
    dataset = FashionMNIST.from_arrays(images, labels, transform=transform)
    loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, seed=0)

    def epoch() -> None:
        for _ in loader:
            pass

    return epoch, loader


def numpy_mlp_epoch(images: np.ndarray, labels: np.ndarray) -> Any:
    """One SGD epoch of 784-128-10 (ReLU, softmax cross-entropy) written with numpy alone.

    The inputs are prepared once beforehand (float32, normalised, flattened), so the timing holds
    the model's work only: forward, backward and the update.
    """
    rng = np.random.default_rng(0)
    inputs = ((images.reshape(len(images), -1) / np.float32(255) - np.float32(FASHION_MEAN))
              / np.float32(FASHION_STD)).astype(np.float32)
    w1 = (rng.standard_normal((784, 128)) * (2 / 784) ** 0.5).astype(np.float32)
    b1 = np.zeros(128, np.float32)
    w2 = (rng.standard_normal((128, 10)) * (2 / 128) ** 0.5).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    lr = 0.1

    def epoch() -> None:
        nonlocal w1, b1, w2, b2
        order = rng.permutation(len(inputs))
        for start in range(0, len(order), BATCH_SIZE):
            index = order[start:start + BATCH_SIZE]
            x, y = inputs[index], labels[index]
            hidden = x @ w1 + b1
            active = np.maximum(hidden, 0)
            logits = active @ w2 + b2
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            grad_logits = probabilities
            grad_logits[np.arange(len(y)), y] -= 1
            grad_logits *= np.float32(1 / len(y))
            grad_w2 = active.T @ grad_logits
            grad_active = grad_logits @ w2.T
            grad_active[hidden <= 0] = 0
            grad_w1 = x.T @ grad_active
            w2 -= lr * grad_w2
            b2 -= lr * grad_logits.sum(axis=0)
            w1 -= lr * grad_w1
            b1 -= lr * grad_active.sum(axis=0)

    return epoch


def giagrad_mlp_epochs(images: np.ndarray, labels: np.ndarray) -> tuple[Any, Any] | None:
    """Two SGD epochs of giagrad's 784-128-10 MLP: fed by the DataLoader, and on batches built beforehand.

    None when giagrad's nn/optim lack a piece. The difference of the two is what the loader adds
    inside a real training loop.
    """
    try:
        from giagrad import nn, optim

        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        loss_fn = nn.CrossEntropyLoss()
    except (ImportError, AttributeError):
        return None
    _, loader = loader_epoch(images, labels)
    prebuilt = list(loader)

    def train(batches: Any) -> None:
        for x, y in batches:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()

    return (lambda: train(loader)), (lambda: train(prebuilt))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = argument_parser(__doc__, quick_help="6,400 images and one repeat: a smoke run").parse_args(argv)
    limit, repeats = (6_400, 1) if args.quick else (None, 3)

    print("Machine:")
    print_machine(machine())
    images, labels, source = fashion_mnist_training_images(limit)
    print(f"Data: {source}; {len(images)} images, batch {BATCH_SIZE}, shuffle, ToTensor+Normalize+Flatten")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Load average (1 min) before timing: {load:.2f} on {os.cpu_count()} cores (other work slows both sides)")
    giagrad.manual_seed(0)

    epoch, loader = loader_epoch(images, labels)
    batches = len(loader)
    loader_wall, loader_cpu = median_wall_and_cpu_seconds(epoch, repeats)
    print(f"\n{'':31}{'wall s':>9}{'CPU s':>9}   loader share (wall / CPU)")
    print(f"{'Loader epoch (no model)':31}{loader_wall:9.4f}{loader_cpu:9.4f}   "
          f"{1e6 * loader_wall / batches:.1f} / {1e6 * loader_cpu / batches:.1f} us per batch ({batches} batches)")
    mlp_wall, mlp_cpu = median_wall_and_cpu_seconds(numpy_mlp_epoch(images, labels), repeats)
    print(f"{'MLP epoch, numpy by hand':31}{mlp_wall:9.4f}{mlp_cpu:9.4f}   "
          f"{100 * loader_wall / mlp_wall:.2f}% / {100 * loader_cpu / mlp_cpu:.2f}%")
    result: dict[str, Any] = {
        "load_average": load, "source": source, "images": len(images), "batches": batches,
        "loader_seconds_per_epoch": loader_wall, "loader_us_per_batch": 1e6 * loader_wall / batches,
        "loader_cpu_seconds_per_epoch": loader_cpu,
        "numpy_mlp_seconds_per_epoch": mlp_wall, "numpy_mlp_cpu_seconds_per_epoch": mlp_cpu,
        "loader_share_of_numpy_mlp": loader_wall / mlp_wall,
    }
    giagrad_epochs = giagrad_mlp_epochs(images, labels)
    if giagrad_epochs is None:
        print("MLP epoch, giagrad: skipped (giagrad.nn/optim lack Linear, CrossEntropyLoss or SGD)")
        train_wall, train_cpu, name = mlp_wall, mlp_cpu, "the numpy MLP epoch"
    else:
        fed_epoch, prebuilt_epoch = giagrad_epochs
        fed_epoch(), prebuilt_epoch()  # warm-up
        fed, prebuilt = [], []
        for _ in range(repeats + 2):  # interleaved, so a change of machine load hits both alike
            fed.append(median_wall_and_cpu_seconds(fed_epoch, 1, warmup=0))
            prebuilt.append(median_wall_and_cpu_seconds(prebuilt_epoch, 1, warmup=0))
        train_wall, train_cpu = (statistics.median(t[0] for t in prebuilt), statistics.median(t[1] for t in prebuilt))
        fed_wall, fed_cpu = statistics.median(t[0] for t in fed), statistics.median(t[1] for t in fed)
        name = "giagrad's MLP epoch"
        print(f"{'MLP epoch, giagrad, pre-built':31}{train_wall:9.4f}{train_cpu:9.4f}   "
              f"{100 * loader_wall / train_wall:.2f}% / {100 * loader_cpu / train_cpu:.2f}%")
        print(f"{'MLP epoch, giagrad, DataLoader':31}{fed_wall:9.4f}{fed_cpu:9.4f}   "
              f"adds {100 * (fed_wall / train_wall - 1):+.2f}% / {100 * (fed_cpu / train_cpu - 1):+.2f}% "
              f"to the pre-built epoch")
        result.update(giagrad_mlp_seconds_per_epoch=train_wall, giagrad_mlp_cpu_seconds_per_epoch=train_cpu,
                      giagrad_fed_seconds_per_epoch=fed_wall, giagrad_fed_cpu_seconds_per_epoch=fed_cpu,
                      loader_share_of_giagrad_mlp=loader_wall / train_wall,
                      loader_cpu_share_of_giagrad_mlp=loader_cpu / train_cpu)
    verdict = "meets" if loader_cpu / train_cpu < 0.05 else "misses"
    print(f"\nThe loader epoch alone is {100 * loader_cpu / train_cpu:.2f}% of {name} by CPU time "
          f"({100 * loader_wall / train_wall:.2f}% by wall time): it {verdict} the bar of < 5% by CPU time.")
    return result


if __name__ == "__main__":
    main()
