"""Training steps of a LeNet-style CNN on a batch of 64 random 28x28 images: giagrad vs PyTorch.

The model: conv 1->32 3x3, ReLU, max pool 2, conv 32->64 3x3, ReLU, max pool 2, linear
1600->128, ReLU, linear 128->10, cross-entropy on random labels. Float32. Two measurements:

- ``fwd_bwd``: forward, loss, backward and zeroing the gradients (no optimizer);
- ``adam_step``: the same plus an Adam update (a whole training step).

Also the forward and backward of each conv/pool layer alone (giagrad), to see where the time goes.
Each framework runs in a worker process of its own, the two taking turns step by step; prints the
median milliseconds per step over several repetitions. PyTorch runs in ``--torch-python``
(default: ``GIAGRAD_TORCH_PYTHON``, else this interpreter); its column is skipped when that
cannot import it (it is never needed).

    python benchmarks/bench_cnn.py                                # full run
    python benchmarks/bench_cnn.py --torch-python PATH/TO/python  # PyTorch from another environment
    python benchmarks/bench_cnn.py --quick                        # a short smoke run
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    Workers,
    argument_parser,
    import_torch,
    print_worker_settings,
    run_and_report,
    serve_repetitions,
    thread_settings,
    worker_commands,
)

import giagrad  # noqa: E402
import giagrad.nn.functional as F  # noqa: E402
from giagrad import nn, optim  # noqa: E402

BATCH = 64


def random_batch(batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.random((batch, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, size=batch).astype(np.int64)
    return images, labels


def cross_entropy(logits: giagrad.Tensor, labels: np.ndarray) -> giagrad.Tensor:
    """Mean cross-entropy: ``F.cross_entropy`` where it exists, else log-softmax and a one-hot mask."""
    if hasattr(F, "cross_entropy"):
        return F.cross_entropy(logits, giagrad.Tensor(labels))
    one_hot = np.zeros(logits.shape, dtype=logits.dtype)
    one_hot[np.arange(len(labels)), labels] = -1.0 / len(labels)
    return (F.log_softmax(logits, dim=1) * giagrad.Tensor(one_hot)).sum()


# ----------------------------------------------------------------------------------- giagrad


def giagrad_model() -> nn.Module:
    giagrad.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def giagrad_steps(images: np.ndarray, labels: np.ndarray) -> dict[str, Callable[[], None]]:
    model = giagrad_model()
    x = giagrad.Tensor(images)
    adam = optim.Adam(model.parameters(), lr=1e-3)

    def fwd_bwd() -> None:
        cross_entropy(model(x), labels).backward()
        model.zero_grad()

    def adam_step() -> None:
        adam.zero_grad()
        cross_entropy(model(x), labels).backward()
        adam.step()

    return {"fwd_bwd": fwd_bwd, "adam_step": adam_step}


def giagrad_layers(images: np.ndarray) -> dict[str, Callable[[], None]]:
    """Forward + backward of each conv/pool layer on the input it sees in the model."""
    giagrad.manual_seed(0)
    rng = np.random.default_rng(1)
    conv1, conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
    inputs = {
        "conv1": (conv1, images),
        "pool1": (nn.MaxPool2d(2), rng.random((BATCH, 32, 26, 26), dtype=np.float32)),
        "conv2": (conv2, rng.random((BATCH, 32, 13, 13), dtype=np.float32)),
        "pool2": (nn.MaxPool2d(2), rng.random((BATCH, 64, 11, 11), dtype=np.float32)),
    }
    runs = {}
    for name, (layer, array) in inputs.items():
        def run(layer: nn.Module = layer, array: np.ndarray = array) -> None:
            x = giagrad.Tensor(array, requires_grad=True)
            out = layer(x)
            out.backward(np.ones(out.shape, dtype=np.float32))
            layer.zero_grad()
        runs[name] = run
    return runs


# ----------------------------------------------------------------------------------- PyTorch


def torch_steps(torch: Any, images: np.ndarray, labels: np.ndarray) -> dict[str, Callable[[], None]]:
    torch.manual_seed(0)
    tnn = torch.nn
    model = tnn.Sequential(
        tnn.Conv2d(1, 32, 3), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(64 * 5 * 5, 128), tnn.ReLU(), tnn.Linear(128, 10),
    )
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = tnn.CrossEntropyLoss()

    def fwd_bwd() -> None:
        loss_fn(model(x), y).backward()
        model.zero_grad()

    def adam_step() -> None:
        adam.zero_grad()
        loss_fn(model(x), y).backward()
        adam.step()

    return {"fwd_bwd": fwd_bwd, "adam_step": adam_step}


STEPS = ("fwd_bwd", "adam_step")


def worker(framework: str) -> None:
    """Serve one framework's steps (and giagrad's layers) (run by :func:`main` in a child process)."""
    images, labels = random_batch()
    torch = import_torch() if framework == "torch" else None
    runs = torch_steps(torch, images, labels) if torch is not None else \
        {**giagrad_steps(images, labels), **giagrad_layers(images)}
    serve_repetitions(runs, first_line={"settings": thread_settings(torch)})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time the steps; return ``{"batch", "giagrad_ms", "torch_ms", "layers_ms", "settings"}`` (medians)."""
    args = argument_parser(__doc__, repeats_help="repetitions per measurement (default 20, 3 with --quick)",
                           workers=("giagrad", "torch")).parse_args(argv)
    if args.worker:
        worker(args.worker)
        return {}
    repeats = args.repeats or (3 if args.quick else 20)
    results: dict[str, Any] = {"batch": BATCH, "giagrad_ms": {}, "torch_ms": {}, "layers_ms": {}}
    with Workers(worker_commands(__file__, ["giagrad", "torch"], args.torch_python)) as workers:
        for step in STEPS:
            for label, (median, best) in workers.interleaved(repeats, warmup=1 if args.quick else 2, run=step).items():
                results[f"{label}_ms"][step] = 1000 * median
                results[f"{label}_best_ms"] = {**results.get(f"{label}_best_ms", {}), step: 1000 * best}
        for layer in ("conv1", "pool1", "conv2", "pool2"):
            median, _ = workers.interleaved(repeats, warmup=1, run=layer, labels=["giagrad"])["giagrad"]
            results["layers_ms"][layer] = 1000 * median
        results["settings"] = workers.settings
    results["torch_ms"] = results["torch_ms"] or None
    return results


def report(results: dict[str, Any]) -> None:
    print(f"LeNet-style CNN, batch {results['batch']} of 1x28x28, float32: median ms per step")
    torch_ms = results["torch_ms"] or {}
    print(f"  {'':10} {'giagrad':>9} {'PyTorch':>9} {'ratio':>7}")
    for name, ms in results["giagrad_ms"].items():
        other = torch_ms.get(name)
        ratio = f"{ms / other:7.2f}" if other else "      -"
        other_text = f"{other:9.2f}" if other else "        -"
        print(f"  {name:10} {ms:9.2f} {other_text} {ratio}")
    print_worker_settings(results["settings"])
    print("  per layer, forward + backward (giagrad):")
    for name, ms in results["layers_ms"].items():
        print(f"    {name:8} {ms:7.2f} ms")


if __name__ == "__main__":
    run_and_report(main, report)
