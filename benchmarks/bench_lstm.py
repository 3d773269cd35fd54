"""One LSTM layer, forward + backward through time: giagrad's ``nn.LSTM`` vs PyTorch's, in ms.

One layer, batch 32, sequence 64, input 64, hidden 256, float32, time-major input that requires
grad; a repetition runs the layer, backpropagates ``output.sum()`` into the input and every
weight, and forgets the gradients. A second figure times the forward pass alone without
recording a graph (``no_grad``, as in evaluation or generation). Both frameworks start from the
same weights and input (the first results are compared before timing). Each framework runs in
a process of its own, the two taking turns repetition by repetition; the figures are medians.
PyTorch runs in the interpreter given by ``--torch-python`` (default: ``GIAGRAD_TORCH_PYTHON``,
else this one), with as many threads as numpy's BLAS; its column is skipped when it cannot
import torch.

    python benchmarks/bench_lstm.py                              # full run
    python benchmarks/bench_lstm.py --torch-python PATH/TO/python # PyTorch from another environment
    python benchmarks/bench_lstm.py --quick                      # a tiny smoke run
    python benchmarks/bench_lstm.py --profile                    # giagrad only: where its time goes

``--profile`` times, in this process, every matrix product and every transposing copy the
layer's node makes (``giagrad.rnnops`` sees a numpy whose ``matmul`` and ``ascontiguousarray``
are timed), grouped by the operands' shapes, in milliseconds per repetition; what is left is the
per-step gate passes and Python.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    Workers,
    argument_parser,
    import_torch,
    print_profile,
    run_and_report,
    serve_repetitions,
    worker_commands,
)

SIZES = {"full": {"batch": 32, "steps": 64, "input_size": 64, "hidden_size": 256},
         "quick": {"batch": 4, "steps": 8, "input_size": 8, "hidden_size": 16}}


def problem(size: dict[str, int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The input ``(steps, batch, input_size)`` and the weights, by PyTorch's names."""
    rng = np.random.default_rng(0)
    hidden, bound = size["hidden_size"], 1 / np.sqrt(size["hidden_size"])
    shapes = {"weight_ih_l0": (4 * hidden, size["input_size"]), "weight_hh_l0": (4 * hidden, hidden),
              "bias_ih_l0": (4 * hidden,), "bias_hh_l0": (4 * hidden,)}
    weights = {name: rng.uniform(-bound, bound, shape).astype(np.float32) for name, shape in shapes.items()}
    x = rng.standard_normal((size["steps"], size["batch"], size["input_size"])).astype(np.float32)
    return x, weights


def giagrad_runs(size: dict[str, int]) -> tuple[dict[str, Callable[[], Any]], Any]:
    import giagrad
    from giagrad import nn

    x_array, weights = problem(size)
    lstm = nn.LSTM(size["input_size"], size["hidden_size"])
    lstm.load_state_dict(weights)
    x = giagrad.Tensor(x_array, requires_grad=True)

    def step() -> Any:
        lstm.zero_grad()
        x.grad = None
        output, _ = lstm(x)
        output.sum().backward()
        return output

    def inference() -> Any:
        with giagrad.no_grad():
            return lstm(x)

    runs = {"train": step, "inference": inference}
    return runs, lambda: (float(step().data.sum()), float(x.grad.sum()), float(lstm.weight_hh_l0.grad.sum()))


def torch_runs(size: dict[str, int]) -> tuple[dict[str, Callable[[], Any]], Any]:
    torch = import_torch()
    x_array, weights = problem(size)
    lstm = torch.nn.LSTM(size["input_size"], size["hidden_size"])
    lstm.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()})
    x = torch.from_numpy(x_array).requires_grad_(True)

    def step() -> Any:
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        output, _ = lstm(x)
        output.sum().backward()
        return output

    def inference() -> Any:
        with torch.no_grad():
            return lstm(x)

    def check() -> tuple[float, float, float]:
        output = step()
        return float(output.detach().sum()), float(x.grad.sum()), float(lstm.weight_hh_l0.grad.sum())

    return {"train": step, "inference": inference}, check


class _TimedNumpy:
    """numpy, as ``giagrad.rnnops`` sees it under ``--profile``: ``matmul`` and
    ``ascontiguousarray`` add their seconds to ``seconds`` under a name made of the operands' shapes."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    def __getattr__(self, name: str) -> Any:
        function = getattr(np, name)
        if name not in ("matmul", "ascontiguousarray"):
            return function

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = function(*args, **kwargs)
            key = f"{name} " + " @ ".join(str(tuple(a.shape)) for a in args if isinstance(a, np.ndarray))
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start
            return result

        return timed


def profile_giagrad(size: dict[str, int], repeats: int) -> dict[str, float]:
    """Milliseconds per repetition of each kind of product and copy, and of the whole step."""
    from giagrad import rnnops

    step = giagrad_runs(size)[0]["train"]
    for _ in range(3):
        step()
    seconds: dict[str, float] = {}
    real_numpy, rnnops.np = rnnops.np, _TimedNumpy(seconds)
    try:
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        total = time.perf_counter() - start
    finally:
        rnnops.np = real_numpy
    return print_profile("per repetition (forward + backward)", seconds, total, repeats,
                         "(gate passes, the engine and Python)", name_width=50)


def worker(framework: str, size_name: str) -> None:
    """Serve repetitions of one framework's runs (by :func:`main` in a child process)."""
    runs, check = (giagrad_runs if framework == "giagrad" else torch_runs)(SIZES[size_name])
    serve_repetitions(runs, first_line=check())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time both frameworks; return the sizes, ``giagrad_ms``, ``torch_ms`` and their ``ratio``."""
    parser = argument_parser(__doc__, repeats_help="repetitions per framework (default 30)",
                             workers=("giagrad", "torch"))
    parser.add_argument("--profile", action="store_true",
                        help="giagrad only: time the layer's matrix products and copies in this process")
    args = parser.parse_args(argv)
    size_name = "quick" if args.quick else "full"
    if args.profile:
        profile_giagrad(SIZES[size_name], args.repeats or (3 if args.quick else 30))
        return {}
    if args.worker:
        worker(args.worker, size_name)
        return {}
    repeats = args.repeats or (3 if args.quick else 30)
    size = SIZES[size_name]
    commands = worker_commands(__file__, ["giagrad", "torch"], args.torch_python, ["--quick"] if args.quick else [])
    warmup = 1 if args.quick else 3
    with Workers(commands) as workers:
        checks = workers.first_lines
        if "torch" in checks:
            np.testing.assert_allclose(checks["giagrad"], checks["torch"], rtol=1e-3, atol=1e-3,
                                       err_msg="giagrad's and PyTorch's LSTM disagree: the comparison means nothing")
        timings = {run: workers.interleaved(repeats, warmup, run=run) for run in ("train", "inference")}
    figures: dict[str, Any] = {**size, "repeats": repeats}
    for run, prefix in (("train", ""), ("inference", "inference_")):
        ours, ours_best = (1000 * seconds for seconds in timings[run]["giagrad"])
        theirs, theirs_best = ((1000 * seconds for seconds in timings[run]["torch"]) if "torch" in checks
                               else (None, None))
        figures.update({f"{prefix}giagrad_ms": ours, f"{prefix}torch_ms": theirs,
                        f"{prefix}ratio": ours / theirs if theirs else None,
                        f"{prefix}giagrad_best_ms": ours_best, f"{prefix}torch_best_ms": theirs_best})
    return figures


def report(results: dict[str, Any]) -> None:
    print(f"One LSTM layer, batch {results['batch']}, sequence {results['steps']}, input {results['input_size']}, "
          f"hidden {results['hidden_size']}, float32, median ms over {results['repeats']}")
    for label, prefix in (("forward + backward", ""), ("forward, no_grad", "inference_")):
        torch_ms, ratio = results[f"{prefix}torch_ms"], results[f"{prefix}ratio"]
        print(f"  {label:18}  giagrad {results[f'{prefix}giagrad_ms']:8.2f}   PyTorch "
              + (f"{torch_ms:8.2f}   ratio {ratio:5.2f}" if torch_ms else "       -"))
        if torch_ms:
            print(f"  {'':18}  best: giagrad {results[f'{prefix}giagrad_best_ms']:.2f}, "
                  f"PyTorch {results[f'{prefix}torch_best_ms']:.2f}")


if __name__ == "__main__":
    run_and_report(main, report)
