"""Per-op overhead: a chain of 100 small float32 ops, forward and backward, in ns per op.

On tiny tensors the numpy work is negligible, so this measures what the engine itself costs per
op: creating the node, dispatching, recording and walking the graph backward. Two chains:

- ``elementwise``: 16 floats through ``* 2``, ``+ 1``, ``tanh``, ``- y`` (cycled), then ``sum``;
- ``matmul mix``: a 4x4 matrix through ``@ w``, ``+ b``, ``tanh``, ``sum(dim=1, keepdim=True)``
  scaled back in (cycled), then ``sum``.

Each chain has 100 ops; one repetition builds it and runs backward. The figure is the median
(and best) over repetitions divided by 100. PyTorch runs the same chains when it is importable,
with the same number of threads as numpy's BLAS, taking turns with giagrad repetition by
repetition. Its results are checked against giagrad's before timing.

Usage::

    python benchmarks/bench_ops.py            # full run
    python benchmarks/bench_ops.py --quick    # a few repetitions, as a smoke test
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import argument_parser, import_torch, interleaved_seconds, machine, print_machine  # noqa: E402

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


def check_same_results(torch: Any) -> None:
    """The two libraries must compute the same chains, or the comparison means nothing."""
    ours, theirs = giagrad_inputs(), torch_inputs(torch)
    for name, chain in CHAINS.items():
        a = chain(giagrad, *ours[name])
        b = chain(torch, *theirs[name])
        a.backward()
        b.backward()
        np.testing.assert_allclose(a.item(), b.item(), rtol=1e-4, err_msg=name)
        for x, t in zip(ours[name], theirs[name], strict=True):
            np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)


def main(argv: list[str] | None = None) -> dict[str, float | None]:
    """Run the benchmark, print a table and return the headline figures (ns per op)."""
    args = argument_parser(__doc__, repeats_help="repetitions per chain (default 300)").parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 300)
    print(f"Per-op overhead: chains of {CHAIN_LENGTH} small float32 ops, forward + backward, "
          f"{repeats} repetitions")
    print_machine(machine())
    torch = import_torch(absent_notice="its rows are skipped")
    if torch is not None:
        print(f"  {'torch threads':18} {torch.get_num_threads()}")
    results: dict[str, float | None] = {}
    ours = giagrad_inputs()
    theirs: dict[str, list[Any]] = {}
    if torch is not None:
        check_same_results(torch)
        theirs = torch_inputs(torch)
    print(f"{'chain':<14}{'library':<10}{'median ns/op':>14}{'best ns/op':>12}")
    for name, chain in CHAINS.items():
        runs = {"giagrad": make_run(chain, giagrad, ours[name])}
        if torch is not None:
            runs["torch"] = make_run(chain, torch, theirs[name])
        timings = {label: (median / CHAIN_LENGTH * 1e9, best / CHAIN_LENGTH * 1e9)
                   for label, (median, best) in interleaved_seconds(runs, repeats, max(2, repeats // 10)).items()}
        key = "" if name == "elementwise" else "matmul_"
        for label in ("giagrad", "torch"):
            if label in timings:
                median, best = timings[label]
                print(f"{name:<14}{label:<10}{median:>14,.0f}{best:>12,.0f}")
            results[f"{label}_{key}ns_per_op"] = timings[label][0] if label in timings else None
    return results


if __name__ == "__main__":
    print(main())
