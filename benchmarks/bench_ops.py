"""Per-op overhead: a chain of 100 small float32 ops, forward and backward, in ns per op.

On tiny tensors the numpy work is negligible, so this measures what the engine itself costs per
op: creating the node, dispatching, recording and walking the graph backward. Two chains:

- ``elementwise``: 16 floats through ``* 2``, ``+ 1``, ``tanh``, ``- y`` (cycled), then ``sum``;
- ``matmul mix``: a 4x4 matrix through ``@ w``, ``+ b``, ``tanh``, ``sum(dim=1, keepdim=True)``
  scaled back in (cycled), then ``sum``.

Each chain has 100 ops; one repetition builds it and runs backward. The figure is the median
(and best) over repetitions divided by 100: nanoseconds per op, forward and backward together.
Each framework runs in a worker process of its own, the two taking turns repetition by
repetition. PyTorch runs the same chains in ``--torch-python`` (default: ``GIAGRAD_TORCH_PYTHON``,
else this interpreter), with the same number of threads as numpy's BLAS; its results are
checked against giagrad's before timing, and its rows are skipped when it cannot be imported.

Usage::

    python benchmarks/bench_ops.py                                # full run
    python benchmarks/bench_ops.py --torch-python PATH/TO/python  # PyTorch from another environment
    python benchmarks/bench_ops.py --quick                        # a few repetitions, as a smoke test
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
    machine,
    print_machine,
    print_worker_settings,
    serve_repetitions,
    thread_settings,
    worker_commands,
)

import giagrad  # noqa: E402

CHAIN_LENGTH = 100


def elementwise_chain(lib: Any, x: Any, y: Any) -> Any:
    """99 elementwise ops cycling ``* 2, + 1, tanh, - y``, then ``sum``: 100 ops."""
    h = x
    for i in range(CHAIN_LENGTH - 1):
        step = i % 4
        if step == 0:
            h = h * 2.0
        elif step == 1:
            h = h + 1.0
        elif step == 2:
            h = h.tanh()
        else:
            h = h - y
    return h.sum()


def matmul_chain(lib: Any, x: Any, w: Any, b: Any) -> Any:
    """99 ops cycling ``@ w, + b, tanh, h * h.sum(1, keepdim=True)`` (two ops), then ``sum``."""
    h = x
    i = 0
    while i < CHAIN_LENGTH - 1:
        step = i % 5
        if step == 0:
            h = h @ w
        elif step == 1:
            h = h + b
        elif step == 2:
            h = h.tanh()
        elif step == 3:
            s = h.sum(1, keepdim=True)
            i += 1
            if i < CHAIN_LENGTH - 1:
                h = h * s
        i += 1
    return h.sum()


def giagrad_inputs(seed: int = 0) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    x = giagrad.tensor(rng.standard_normal(16).astype(np.float32), requires_grad=True)
    y = giagrad.tensor(rng.standard_normal(16).astype(np.float32) * 0.1, requires_grad=True)
    m = giagrad.tensor(rng.standard_normal((4, 4)).astype(np.float32), requires_grad=True)
    w = giagrad.tensor(rng.standard_normal((4, 4)).astype(np.float32) * 0.5, requires_grad=True)
    b = giagrad.tensor(rng.standard_normal(4).astype(np.float32) * 0.1, requires_grad=True)
    return {"elementwise": [x, y], "matmul mix": [m, w, b]}


def torch_inputs(torch: Any, seed: int = 0) -> dict[str, list[Any]]:
    arrays = giagrad_inputs(seed)
    return {name: [torch.tensor(t.data, requires_grad=True) for t in tensors] for name, tensors in arrays.items()}


CHAINS: dict[str, Callable[..., Any]] = {"elementwise": elementwise_chain, "matmul mix": matmul_chain}


def make_run(chain: Callable[..., Any], lib: Any, inputs: list[Any]) -> Callable[[], None]:
    """One repetition: build the chain from fresh leaf gradients and run backward."""

    def run() -> None:
        for t in inputs:
            t.grad = None
        chain(lib, *inputs).backward()

    return run


def chain_results(lib: Any, inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Each chain's value and its inputs' gradients, as plain lists: what the workers compare."""
    results = {}
    for name, chain in CHAINS.items():
        out = chain(lib, *inputs[name])
        out.backward()
        results[name] = [out.item(), *(np.asarray(t.grad).tolist() for t in inputs[name])]
    return results


def check_same_results(ours: dict[str, list[Any]], theirs: dict[str, list[Any]]) -> None:
    """The two libraries must compute the same chains, or the comparison means nothing."""
    for name in CHAINS:
        np.testing.assert_allclose(ours[name][0], theirs[name][0], rtol=1e-4, err_msg=name)
        for x, t in zip(ours[name][1:], theirs[name][1:], strict=True):
            np.testing.assert_allclose(x, t, rtol=1e-3, atol=1e-5, err_msg=name)


def worker(framework: str) -> None:
    """Serve one library's chains (run by :func:`main` in a child process)."""
    torch = import_torch() if framework == "torch" else None
    lib, make_inputs = (torch, lambda: torch_inputs(torch)) if torch is not None else (giagrad, giagrad_inputs)
    first_line = {"results": chain_results(lib, make_inputs()), "settings": thread_settings(torch)}
    inputs = make_inputs()
    serve_repetitions({name: make_run(chain, lib, inputs[name]) for name, chain in CHAINS.items()}, first_line)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table and return the headline figures (ns per op)."""
    args = argument_parser(__doc__, repeats_help="repetitions per chain (default 300)",
                           workers=("giagrad", "torch")).parse_args(argv)
    if args.worker:
        worker(args.worker)
        return {}
    repeats = args.repeats or (5 if args.quick else 300)
    print(f"Per-op overhead: chains of {CHAIN_LENGTH} small float32 ops, forward + backward, "
          f"{repeats} repetitions")
    print_machine(machine(with_torch=False))
    results: dict[str, Any] = {}
    with Workers(worker_commands(__file__, ["giagrad", "torch"], args.torch_python)) as workers:
        first_lines = workers.first_lines
        if "torch" in first_lines:
            check_same_results(first_lines["giagrad"]["results"], first_lines["torch"]["results"])
        print_worker_settings(workers.settings)
        print(f"{'chain':<14}{'library':<10}{'median ns/op':>14}{'best ns/op':>12}")
        for name in CHAINS:
            timings = {label: (median / CHAIN_LENGTH * 1e9, best / CHAIN_LENGTH * 1e9) for label, (median, best)
                       in workers.interleaved(repeats, max(2, repeats // 10), run=name,  # microseconds: no pause
                                               settle=0, turn_warmup=0).items()}
            key = "" if name == "elementwise" else "matmul_"
            for label in ("giagrad", "torch"):
                if label in timings:
                    median, best = timings[label]
                    print(f"{name:<14}{label:<10}{median:>14,.0f}{best:>12,.0f}")
                results[f"{label}_{key}ns_per_op"] = timings[label][0] if label in timings else None
                results[f"{label}_{key}best_ns_per_op"] = timings[label][1] if label in timings else None
        results["settings"] = workers.settings
    return results


if __name__ == "__main__":
    figures = main()
    if figures:
        print({key: value for key, value in figures.items() if key != "settings"})
