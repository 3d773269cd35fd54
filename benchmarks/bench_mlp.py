"""One training epoch of an MLP on Fashion-MNIST: giagrad vs a hand-written numpy floor vs PyTorch.

Eight configurations: models 784-128-10 and 784-256-128-10 (ReLU), SGD(lr 0.1, momentum 0.9)
and Adam(lr 1e-3), batch sizes 64 and 256. Float32, data shuffled each epoch, the last partial
batch dropped, batching inside the timing. The numpy floor is the same training written by hand
with no autograd: what giagrad costs above it is the price of the engine.

Each of the three (giagrad, the numpy floor, PyTorch) runs in a worker process of its own, with
the threads the environment gives BLAS (PyTorch takes as many); they take turns epoch by epoch,
and the figures are the median (and best) epoch. PyTorch runs in ``--torch-python`` (default:
``GIAGRAD_TORCH_PYTHON``, else this interpreter); its column is skipped when that cannot import it.

    python benchmarks/bench_mlp.py                                # full table
    python benchmarks/bench_mlp.py --torch-python PATH/TO/python  # PyTorch from another environment
    python benchmarks/bench_mlp.py --quick                        # a tiny smoke run
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    Workers,
    argument_parser,
    fashion_mnist_training_images,
    flat_float_images,
    import_torch,
    machine,
    print_machine,
    print_worker_settings,
    serve_repetitions,
    thread_settings,
    worker_commands,
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


# worker name -> column; "jit" is giagrad with the step replayed by giagrad.jit.capture (the opt-in)
FRAMEWORKS = {"giagrad": "giagrad_s", "jit": "jit_s", "numpy": "numpy_s", "torch": "torch_s"}
QUICK_IMAGES = 512


def configurations() -> dict[str, tuple[tuple[int, ...], str, int]]:
    """The eight configurations by name ("784-128-10 sgd 64"): sizes, optimizer, batch size."""
    return {f"{model} {optimizer} {batch}": (sizes, optimizer, batch)
            for model, sizes in MODELS.items() for optimizer in OPTIMIZERS for batch in BATCH_SIZES}


def worker(framework: str, quick: bool) -> None:
    """Serve one framework's epochs of every configuration (run by :func:`main` in a child process)."""
    images, labels, source = load_training_images(limit=QUICK_IMAGES if quick else None)
    torch = import_torch() if framework == "torch" else None
    epochs = {}
    for name, (sizes, optimizer, batch) in configurations().items():
        if torch is not None:
            epochs[name] = torch_epoch(torch, sizes, optimizer, batch, images, labels)
        elif framework == "numpy":
            epochs[name] = numpy_epoch(sizes, optimizer, batch, images, labels)
        else:
            epochs[name] = giagrad_epoch(sizes, optimizer, batch, images, labels, jit=framework == "jit")
    serve_repetitions(epochs, first_line={"source": source, "settings": thread_settings(torch)})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time the eight configurations; return ``{"source", "settings", "rows"}`` (median seconds, and best)."""
    args = argument_parser(__doc__, quick_help="a tiny smoke run", workers=tuple(FRAMEWORKS),
                           repeats_help="epochs timed per configuration and framework (median; default 5, 1 with "
                           "--quick)").parse_args(argv)
    if args.worker:
        worker(args.worker, args.quick)
        return {}
    repeats = args.repeats or (1 if args.quick else 5)
    commands = worker_commands(__file__, list(FRAMEWORKS), args.torch_python, ["--quick"] if args.quick else [])
    rows = []
    with Workers(commands) as workers:
        for name, (_, optimizer, batch) in configurations().items():
            row: dict[str, Any] = {"model": name.split()[0], "optimizer": optimizer, "batch": batch}
            # a repetition is an epoch: no cold start to hide
            timings = workers.interleaved(repeats, warmup=0 if args.quick else 1, run=name, turn_warmup=0)
            for framework, key in FRAMEWORKS.items():
                row[key], row[key.replace("_s", "_best_s")] = timings.get(framework, (None, None))
            row["vs_numpy"] = row["giagrad_s"] / row["numpy_s"]
            row["jit_vs_numpy"] = row["jit_s"] / row["numpy_s"]
            row["vs_torch"] = row["giagrad_s"] / row["torch_s"] if row["torch_s"] else None
            rows.append(row)
            if not args.quick:
                print(format_row(row), flush=True)
        first_lines = workers.first_lines
    return {"source": first_lines["giagrad"]["source"], "repeats": repeats,
            "settings": {label: line["settings"] for label, line in first_lines.items()}, "rows": rows}


def format_row(row: dict[str, Any]) -> str:
    torch_s = f"{row['torch_s']:8.3f}" if row["torch_s"] else "       -"
    vs_torch = f"{row['vs_torch']:6.2f}" if row["vs_torch"] else "     -"
    return (f"{row['model']:>15} {row['optimizer']:>5} {row['batch']:>5} {row['giagrad_s']:9.3f} "
            f"{row['jit_s']:8.3f} {row['numpy_s']:8.3f} {torch_s} {row['vs_numpy']:8.2f} {row['jit_vs_numpy']:8.2f} "
            f"{vs_torch}")


HEADER = f"{'model':>15} {'opt':>5} {'batch':>5} {'giagrad s':>9} {'jit s':>8} {'numpy s':>8} {'torch s':>8} " \
         f"{'g/numpy':>8} {'jit/numpy':>8} {'g/torch':>6}"

if __name__ == "__main__":
    if "--worker" not in sys.argv:
        print_machine(machine(with_torch=False))
        print(HEADER)
    result = main()
    if result:
        print("data:", result["source"])
        print_worker_settings(result["settings"])
        if "--quick" in sys.argv:
            for row in result["rows"]:
                print(format_row(row))
