"""The Fashion-MNIST CNN recipe's model in training: giagrad vs PyTorch, a step and an epoch.

The model is ``recipes/mnist_cnn.py``'s ``ConvNet`` (conv 1->32 3x3 pad 1 without bias,
BatchNorm2d, ReLU, max pool 2, conv 32->64 3x3 pad 1 without bias, BatchNorm2d, ReLU, max pool
2, dropout 0.25, linear 3136->10), imported from the recipe; PyTorch's worker builds the same
layers. Both train with Adam (lr 1e-3) and cross-entropy, float32, in training mode (batch
statistics, dropout on). Two figures:

- a training step on a batch of 64 (zero the gradients, forward, loss, backward, Adam): median ms;
- a full epoch over Fashion-MNIST's 60,000 training images in batches of 64, shuffled, the last
  batch partial, batching inside the timing: median seconds.

Each framework runs in a worker process of its own. On a machine with few cores the number of
BLAS / PyTorch threads matters, so the step is measured with 1 and with 2 threads (four workers
taking turns step by step); each framework's epoch is then timed at its best thread count, and
the table reports each framework there and says which. Every worker holds the data (float32,
188 MB for the 60,000 images). PyTorch runs in ``--torch-python``
(default: ``GIAGRAD_TORCH_PYTHON``, else this interpreter); its column is skipped when that
cannot import it.

    python benchmarks/bench_cnn_recipe.py                                # full run (a few minutes)
    python benchmarks/bench_cnn_recipe.py --torch-python PATH/TO/python  # PyTorch from another environment
    python benchmarks/bench_cnn_recipe.py --quick                        # a tiny smoke run
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_cnn import random_batch  # noqa: E402
from common import (  # noqa: E402
    Workers,
    argument_parser,
    fashion_mnist_training_images,
    import_torch,
    print_worker_settings,
    run_and_report,
    serve_repetitions,
    thread_settings,
    worker_commands,
)

BATCH, QUICK_BATCH = 64, 8
THREAD_COUNTS = (1, 2)
QUICK_IMAGES = 32
FRAMEWORKS = ("giagrad", "torch")


def torch_convnet(torch: Any, dropout: float = 0.25) -> Any:
    """The recipe's ConvNet in PyTorch, layer for layer."""
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, 32, 3, padding=1, bias=False), tnn.BatchNorm2d(32), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3, padding=1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Dropout(dropout), tnn.Flatten(), tnn.Linear(64 * 7 * 7, 10),
    )


def training_step(framework: str) -> Callable[[np.ndarray, np.ndarray], None]:
    """A training step of the recipe's model with Adam in ``framework``, on numpy images and labels."""
    if framework == "torch":
        torch = import_torch()
        torch.manual_seed(0)
        library, model, as_tensor = torch, torch_convnet(torch), torch.from_numpy
    else:
        sys.path.insert(0, os.path.dirname(HERE))  # the repository root, for `recipes`
        import giagrad
        from recipes.mnist_cnn import ConvNet

        giagrad.manual_seed(0)
        library, model, as_tensor = giagrad, ConvNet(), giagrad.Tensor
    model.train()
    optimizer = library.optim.Adam(model.parameters(), lr=1e-3)
    loss_function = library.nn.CrossEntropyLoss()

    def step(images: np.ndarray, labels: np.ndarray) -> None:
        optimizer.zero_grad()
        loss_function(model(as_tensor(images)), as_tensor(labels)).backward()
        optimizer.step()

    return step


def epoch_of(step: Callable[[np.ndarray, np.ndarray], None], images: np.ndarray, labels: np.ndarray,
             batch: int = BATCH) -> Callable[[], None]:
    """One epoch over ``images`` in shuffled batches of ``batch`` (the last one partial)."""
    rng = np.random.default_rng(0)

    def epoch() -> None:
        order = rng.permutation(len(images))
        for start in range(0, len(order), batch):
            index = order[start:start + batch]
            step(images[index], labels[index])

    return epoch


def training_images(limit: int | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Fashion-MNIST's training images as float32 (N, 1, 28, 28) in [0, 1], labels and their source."""
    images, labels, source = fashion_mnist_training_images(limit)
    return (images.astype(np.float32) / 255.0)[:, None], labels, source


def worker(framework: str, quick: bool) -> None:
    """Serve ``step`` (a fixed batch) and ``epoch`` (run by :func:`main` in a child process)."""
    step, batch = training_step(framework), QUICK_BATCH if quick else BATCH
    images, labels = random_batch(batch)
    data, targets, source = training_images(QUICK_IMAGES if quick else None)
    runs = {"step": lambda: step(images, labels), "epoch": epoch_of(step, data, targets, batch)}
    serve_repetitions(runs, first_line={"source": source, "images": len(data),
                                        "settings": thread_settings(import_torch() if framework == "torch" else None)})


def threads_label(framework: str, threads: int) -> str:
    return f"{framework}, {threads} thread" + ("s" if threads > 1 else "")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time the step at each thread count, then the epoch at each framework's best; return the figures."""
    parser = argument_parser(__doc__, quick_help=f"batch {QUICK_BATCH}, {QUICK_IMAGES} images, a few repetitions "
                             "(smoke test)",
                             repeats_help="timed steps per worker (default 20, 2 with --quick)", workers=FRAMEWORKS)
    parser.add_argument("--epochs", type=int, default=None,
                        help="timed epochs per framework (default 3, 1 with --quick)")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.quick)
        return {}
    repeats, epochs = args.repeats or (2 if args.quick else 20), args.epochs or (1 if args.quick else 3)
    quick = ["--quick"] if args.quick else []
    frameworks = worker_commands(__file__, list(FRAMEWORKS), args.torch_python, quick)
    sweep = {threads_label(framework, threads): (framework, threads)
             for framework in frameworks for threads in THREAD_COUNTS}
    with Workers({label: frameworks[framework] for label, (framework, _) in sweep.items()},
                 threads={label: threads for label, (_, threads) in sweep.items()}) as workers:
        step_timings = workers.interleaved(repeats, warmup=1 if args.quick else 3, run="step")
        step_ms: dict[str, dict[str, float]] = {framework: {} for framework in frameworks}
        for label, (framework, threads) in sweep.items():
            step_ms[framework][str(threads)] = 1000 * step_timings[label][0]
        best_threads = {framework: int(min(by_threads, key=by_threads.__getitem__))
                        for framework, by_threads in step_ms.items()}
        # The epoch at each framework's best thread count only: the steps above warmed those workers up.
        best_labels = {threads_label(framework, threads): framework for framework, threads in best_threads.items()}
        epoch_timings = {best_labels[label]: seconds for label, seconds in
                         workers.interleaved(epochs, warmup=0, run="epoch", labels=list(best_labels),
                                             turn_warmup=0).items()}
        settings = workers.settings
        first = workers.first_lines[threads_label("giagrad", best_threads["giagrad"])]
    results: dict[str, Any] = {"batch": QUICK_BATCH if args.quick else BATCH, "images": first["images"],
                               "source": first["source"], "step_repeats": repeats, "epochs": epochs, "step_ms": step_ms,
                               "best_threads": best_threads, "settings": settings}
    for framework in FRAMEWORKS:
        threads = best_threads.get(framework)
        results[f"{framework}_step_ms"] = step_ms[framework][str(threads)] if threads else None
        results[f"{framework}_step_best_ms"] = 1000 * step_timings[threads_label(framework, threads)][1] \
            if threads else None
        results[f"{framework}_epoch_s"], results[f"{framework}_epoch_best_s"] = epoch_timings.get(framework,
                                                                                                  (None, None))
    for figure in ("step_ms", "epoch_s"):
        ours, theirs = results[f"giagrad_{figure}"], results[f"torch_{figure}"]
        results[f"{figure.split('_')[0]}_ratio"] = ours / theirs if theirs else None
    return results


def report(results: dict[str, Any]) -> None:
    print(f"The CNN recipe's model (conv-BN-ReLU-pool x2, dropout, linear), Adam, batch {results['batch']}, float32")
    print(f"  training step, ms (median of {results['step_repeats']}) by BLAS / PyTorch threads:")
    for framework, by_threads in results["step_ms"].items():
        cells = "  ".join(f"{threads} thread{'s' if threads != '1' else ''} {ms:8.2f}"
                          for threads, ms in by_threads.items())
        print(f"    {framework:8} {cells}   best: {results['best_threads'][framework]}")
    print(f"  epoch over {results['images']:,} images at the best thread count, s (median of {results['epochs']}):")
    for framework in FRAMEWORKS:
        seconds = results[f"{framework}_epoch_s"]
        print(f"    {framework:8} " + (f"{seconds:8.2f}" if seconds is not None else "       -"))
    for figure in ("step", "epoch"):
        ratio = results[f"{figure}_ratio"]
        print(f"  giagrad / PyTorch, {figure}: " + (f"{ratio:.2f}" if ratio is not None else "-"))
    print(f"  data: {results['source']}")
    print_worker_settings(results["settings"])


if __name__ == "__main__":
    run_and_report(main, report)
