"""Optimizer step time: microseconds per ``step()`` for Adam and SGD with momentum.

The parameters are those of the 784-128-10 MLP (weights 128x784 and 10x128, biases 128 and 10,
float32, 101,770 numbers) with gradients present, as after a backward. Rows:

- ``giagrad``: ``optimizer.step()``, the update run once on the group's flat buffers;
- ``giagrad per-parameter``: the same optimizer when one extra parameter has no gradient, so
  the same update function runs on each parameter's segment (4 calls instead of 1);
- ``naive numpy loop``: a hand-written loop over the parameters with ordinary numpy expressions
  (``m = b1 * m + (1 - b1) * g``, ...), which allocate temporaries: what the issue measured;
- ``torch``: ``torch.optim`` with its defaults, when PyTorch is importable (skipped otherwise).

Each row runs in a worker process of its own (PyTorch's in ``--torch-python``, default:
``GIAGRAD_TORCH_PYTHON``, else this interpreter), the rows taking turns step by step; figures are
medians over many calls. Usage::

    python benchmarks/bench_optim.py                                # full run
    python benchmarks/bench_optim.py --torch-python PATH/TO/python  # PyTorch from another environment
    python benchmarks/bench_optim.py --quick                        # a few repetitions, as a smoke test
"""

from __future__ import annotations

import math
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
    machine,
    print_machine,
    print_worker_settings,
    serve_repetitions,
    thread_settings,
    worker_commands,
)

import giagrad  # noqa: E402
from giagrad import optim  # noqa: E402

SHAPES = [(128, 784), (128,), (10, 128), (10,)]
LR, MOMENTUM, BETAS, EPS = 1e-3, 0.9, (0.9, 0.999), 1e-8


def arrays(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    values = [(rng.standard_normal(shape) * 0.05).astype(np.float32) for shape in SHAPES]
    grads = [(rng.standard_normal(shape) * 0.01).astype(np.float32) for shape in SHAPES]
    return values, grads


def giagrad_step(kind: str, per_parameter: bool) -> Callable[[], Any]:
    values, grads = arrays()
    params = [giagrad.Tensor(v.copy(), requires_grad=True) for v in values]
    members = [*params, giagrad.zeros(1, requires_grad=True)] if per_parameter else params
    optimizer = optim.Adam(members, lr=LR, betas=BETAS, eps=EPS) if kind == "adam" else \
        optim.SGD(members, lr=LR, momentum=MOMENTUM)
    for p, g in zip(params, grads, strict=True):
        p.grad = g.copy()  # the first step moves it into the optimizer's buffer, as backward would
    return optimizer.step


def naive_step(kind: str) -> Callable[[], Any]:
    params, grads = arrays()
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    state = {"t": 0}
    beta1, beta2 = BETAS

    def adam() -> None:
        state["t"] += 1
        t = state["t"]
        for p, g, m, v in zip(params, grads, first, second, strict=True):
            m[...] = beta1 * m + (1 - beta1) * g
            v[...] = beta2 * v + (1 - beta2) * g * g
            m_hat = m / (1 - beta1**t)
            v_hat = v / (1 - beta2**t)
            p -= LR * m_hat / (np.sqrt(v_hat) + EPS)

    def sgd() -> None:
        for p, g, b in zip(params, grads, first, strict=True):
            b[...] = MOMENTUM * b + g
            p -= LR * b

    return adam if kind == "adam" else sgd


def torch_step(torch: Any, kind: str) -> Callable[[], Any]:
    values, grads = arrays()
    params = [torch.tensor(v, requires_grad=True) for v in values]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.tensor(g)
    optimizer = torch.optim.Adam(params, lr=LR, betas=BETAS, eps=EPS) if kind == "adam" else \
        torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)
    return optimizer.step


def check_same_results() -> None:
    """The optimizers must compute the documented steps, or the comparison means nothing."""
    for kind in ("adam", "sgd"):
        values, grads = arrays()
        ours = [giagrad.Tensor(v.copy(), requires_grad=True) for v in values]
        optimizer = optim.Adam(ours, lr=LR, betas=BETAS, eps=EPS) if kind == "adam" else \
            optim.SGD(ours, lr=LR, momentum=MOMENTUM)
        params, _ = arrays()
        first = [np.zeros_like(p) for p in params]
        second = [np.zeros_like(p) for p in params]
        for t in range(1, 4):
            for p, g in zip(ours, grads, strict=True):
                p.grad = g
            optimizer.step()
            for p, g, m, v in zip(params, grads, first, second, strict=True):
                if kind == "adam":
                    m[...] = BETAS[0] * m + (1 - BETAS[0]) * g
                    v[...] = BETAS[1] * v + (1 - BETAS[1]) * g * g
                    p -= LR / (1 - BETAS[0] ** t) * m / (np.sqrt(v) / math.sqrt(1 - BETAS[1] ** t) + EPS)
                else:
                    m[...] = g if t == 1 else MOMENTUM * m + g
                    p -= LR * m
        for p, expected in zip(ours, params, strict=True):
            np.testing.assert_allclose(p.data, expected, rtol=1e-5, atol=1e-7, err_msg=kind)


# worker -> the suffix of its figures' keys and the name of its row
ROWS = {"giagrad": ("", "giagrad"), "giagrad-per-parameter": ("_per_parameter", "giagrad per-parameter"),
        "numpy": ("_naive", "naive numpy loop"), "torch": ("_torch", "torch")}


def worker(row: str) -> None:
    """Serve one row's Adam and SGD steps (run by :func:`main` in a child process)."""
    torch = import_torch() if row == "torch" else None
    steps = {}
    for kind in ("adam", "sgd"):
        if row == "torch":
            steps[kind] = torch_step(torch, kind)
        elif row == "numpy":
            steps[kind] = naive_step(kind)
        else:
            steps[kind] = giagrad_step(kind, per_parameter=row == "giagrad-per-parameter")
    serve_repetitions(steps, first_line={"settings": thread_settings(torch)})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table and return the figures (microseconds per step)."""
    args = argument_parser(__doc__, repeats_help="timed steps per row (default 2000)",
                           workers=tuple(ROWS)).parse_args(argv)
    if args.worker:
        worker(args.worker)
        return {}
    repeats = args.repeats or (20 if args.quick else 2000)
    warmup = 5 if args.quick else 200
    print(f"Optimizer step on the 784-128-10 MLP's parameters ({sum(math.prod(s) for s in SHAPES):,} float32), "
          f"median of {repeats} steps")
    print_machine(machine(with_torch=False))
    check_same_results()
    results: dict[str, Any] = {}
    with Workers(worker_commands(__file__, list(ROWS), args.torch_python)) as workers:
        settings = workers.settings
        print(f"{'optimizer':<14}{'implementation':<24}{'us/step':>10}")
        for kind, label in (("adam", "Adam"), ("sgd", "SGD momentum")):
            timings = workers.interleaved(repeats, warmup, run=kind, settle=0, turn_warmup=0)  # microseconds: no pause
            for row, (suffix, name) in ROWS.items():
                microseconds = timings[row][0] * 1e6 if row in timings else None
                results[f"{kind}{suffix}_us_per_step"] = microseconds
                if microseconds is not None:
                    print(f"{label:<14}{name:<24}{microseconds:>10,.1f}")
    print_worker_settings(settings)
    results["settings"] = settings
    return results


if __name__ == "__main__":
    figures = main()
    if figures:
        print({key: value for key, value in figures.items() if key != "settings"})
