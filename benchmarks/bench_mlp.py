"""One training epoch of an MLP on Fashion-MNIST: giagrad vs a hand-written numpy floor vs PyTorch.

Eight configurations: models 784-128-10 and 784-256-128-10 (ReLU), SGD(lr 0.1, momentum 0.9)
and Adam(lr 1e-3), batch sizes 64 and 256. Float32, data shuffled each epoch, the last partial
batch dropped, batching inside the timing. The numpy floor is the same training written by hand
with no autograd: what giagrad costs above it is the price of the engine.

    python benchmarks/bench_mlp.py            # full table
    python benchmarks/bench_mlp.py --quick    # a tiny smoke run
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    argument_parser,
    fashion_mnist_training_images,
    flat_float_images,
    import_torch,
    interleaved_seconds,
    machine,
    print_machine,
)

import giagrad  # noqa: E402
import giagrad.jit  # noqa: E402
from giagrad import nn, optim  # noqa: E402
from giagrad.data import DataLoader, TensorDataset  # noqa: E402

MODELS = {"784-128-10": (784, 128, 10), "784-256-128-10": (784, 256, 128, 10)}
OPTIMIZERS = ("sgd", "adam")
BATCH_SIZES = (64, 256)


def load_training_images(limit: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Fashion-MNIST's 60,000 training images as float32 (N, 784) in [0, 1], and labels."""
    images, labels, source = fashion_mnist_training_images(limit)
    return flat_float_images(images), labels, source


# ----------------------------------------------------------------------------------- giagrad


def giagrad_epoch(sizes: tuple[int, ...], optimizer: str, batch_size: int, images: np.ndarray,
                  labels: np.ndarray, jit: bool = False) -> Any:
    """An epoch of eager giagrad, or with ``jit=True`` of the step replayed by ``giagrad.jit.capture``."""
    giagrad.manual_seed(0)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "sgd" \
        else optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(giagrad.Tensor(images), giagrad.Tensor(labels)),
                        batch_size=batch_size, shuffle=True, drop_last=True, seed=0)

    def step(x: giagrad.Tensor, y: giagrad.Tensor) -> None:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    train_step = giagrad.jit.capture(step) if jit else step

    def epoch() -> None:
        for x, y in loader:
            train_step(x, y)

    return epoch


# ---------------------------------------------------------------------------- numpy by hand


def numpy_epoch(sizes: tuple[int, ...], optimizer: str, batch_size: int, images: np.ndarray,
                labels: np.ndarray) -> Any:
    """The same training with no autograd: forward, hand-derived backward, in-place updates."""
    rng = np.random.default_rng(0)
    params: list[np.ndarray] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    state = [[np.zeros_like(p) for p in params] for _ in range(2)]
    step = [0]
    n_layers = len(sizes) - 1
    n_batches = len(images) // batch_size

    def update(grads: list[np.ndarray]) -> None:
        if optimizer == "sgd":
            for p, g, buf in zip(params, grads, state[0]):
                buf *= 0.9
                buf += g
                p -= 0.1 * buf
            return
        step[0] += 1
        beta1, beta2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
        correction1, correction2 = 1 - beta1 ** step[0], 1 - beta2 ** step[0]
        for p, g, m, v in zip(params, grads, state[0], state[1]):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            denominator = np.sqrt(v / correction2)
            denominator += eps
            p -= (lr / correction1) * m / denominator

    def epoch() -> None:
        order = rng.permutation(len(images))
        for b in range(n_batches):
            index = order[b * batch_size:(b + 1) * batch_size]
            x, y = images[index], labels[index]
            activations = [x]
            for i in range(n_layers):
                h = activations[-1] @ params[2 * i].T + params[2 * i + 1]
                activations.append(np.maximum(h, 0) if i < n_layers - 1 else h)
            logits = activations[-1]
            shifted = logits - logits.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            probs = exp / exp.sum(axis=1, keepdims=True)
            grad = probs
            grad[np.arange(batch_size), y] -= 1
            grad /= batch_size
            grads: list[np.ndarray] = [None] * len(params)  # type: ignore[list-item]
            for i in range(n_layers - 1, -1, -1):
                grads[2 * i] = grad.T @ activations[i]
                grads[2 * i + 1] = grad.sum(axis=0)
                if i:
                    grad = (grad @ params[2 * i]) * (activations[i] > 0)
            update(grads)

    return epoch


# ----------------------------------------------------------------------------------- PyTorch


def torch_epoch(torch: Any, sizes: tuple[int, ...], optimizer: str, batch_size: int, images: np.ndarray,
                labels: np.ndarray) -> Any:
    torch.manual_seed(0)
    layers: list[Any] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "sgd" \
        else torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
    n_batches = len(images) // batch_size

    def epoch() -> None:
        # Index batches straight from the tensors: PyTorch's fastest way to batch in-memory data.
        order = torch.randperm(len(images))
        for b in range(n_batches):
            index = order[b * batch_size:(b + 1) * batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x_all[index]), y_all[index])
            loss.backward()
            opt.step()

    return epoch


def main(quick: bool = False, repeats: int = 3) -> dict[str, Any]:
    images, labels, source = load_training_images(limit=2048 if quick else None)
    torch = import_torch(absent_notice="its column is skipped")
    rows = []
    for model_name, sizes in MODELS.items():
        for optimizer in OPTIMIZERS:
            for batch_size in BATCH_SIZES:
                row: dict[str, Any] = {"model": model_name, "optimizer": optimizer, "batch": batch_size}
                epochs = {"giagrad_s": giagrad_epoch(sizes, optimizer, batch_size, images, labels),
                          "numpy_s": numpy_epoch(sizes, optimizer, batch_size, images, labels)}
                if torch is not None:
                    epochs["torch_s"] = torch_epoch(torch, sizes, optimizer, batch_size, images, labels)
                # The three take turns epoch by epoch, so that a busy moment slows them alike.
                medians = interleaved_seconds(epochs, repeats, warmup=1)
                for label, (median, _) in medians.items():
                    row[label] = median
                row.setdefault("torch_s", None)
                row["vs_numpy"] = row["giagrad_s"] / row["numpy_s"]
                row["vs_torch"] = row["giagrad_s"] / row["torch_s"] if row["torch_s"] else None
                rows.append(row)
                if not quick:
                    print(format_row(row), flush=True)
    return {"source": source, "rows": rows}


def format_row(row: dict[str, Any]) -> str:
    torch_s = f"{row['torch_s']:8.3f}" if row["torch_s"] else "       -"
    vs_torch = f"{row['vs_torch']:6.2f}" if row["vs_torch"] else "     -"
    return (f"{row['model']:>15} {row['optimizer']:>5} {row['batch']:>5} {row['giagrad_s']:9.3f} "
            f"{row['numpy_s']:8.3f} {torch_s} {row['vs_numpy']:8.2f} {vs_torch}")


HEADER = f"{'model':>15} {'opt':>5} {'batch':>5} {'giagrad s':>9} {'numpy s':>8} {'torch s':>8} " \
         f"{'g/numpy':>8} {'g/torch':>6}"

if __name__ == "__main__":
    args = argument_parser(__doc__, quick_help="a tiny smoke run", repeats_default=3,
                           repeats_help="epochs timed per configuration (median)").parse_args()
    print_machine(machine())
    print(HEADER)
    result = main(args.quick, args.repeats)
    print("data:", result["source"])
    if args.quick:
        for row in result["rows"]:
            print(format_row(row))
