"""giagrad's blocked elementwise kernels on one and on two threads, and on two processes at once.

The kernel is the exact float32 GELU (value and slope) of the char GPT's widest activation,
768 x 512, over blocks of rows (``giagrad.kernels.for_row_blocks``), in a process that makes no
matrix product (OpenBLAS's threads never wake). First a worker with one kernel thread and a
worker with two take turns (medians); then the one-thread kernel runs ``--loops`` times in one
process alone, and in two processes started together: if two processes each keep their speed
while two threads of one process do not, the cores are free and the threads lose their time to
each other (every numpy call takes and releases Python's lock).

    python benchmarks/bench_kernel_threads.py
    python benchmarks/bench_kernel_threads.py --quick   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Workers, argument_parser, run_and_report, serve_repetitions  # noqa: E402

ROWS, WIDTH = 768, 512


def gelu_kernel(threads: int) -> Callable[[], None]:
    """One run: the blocked float32 GELU of a ``(ROWS, WIDTH)`` array on ``threads`` kernel threads."""
    from giagrad import kernels
    from giagrad.mlops import gelu_float32_block

    kernels.set_num_threads(threads)
    x = np.random.default_rng(0).standard_normal((ROWS, WIDTH)).astype(np.float32)
    out, slope = np.empty_like(x), np.empty_like(x)

    def run() -> None:
        kernels.for_row_blocks(lambda rows: gelu_float32_block(x[rows], out[rows], slope[rows]), ROWS, WIDTH)

    return run


def loop_seconds(loops: int) -> float:
    """Seconds for ``loops`` one-thread runs back to back (after one untimed run)."""
    run = gelu_kernel(1)
    run()
    start = time.perf_counter()
    for _ in range(loops):
        run()
    return time.perf_counter() - start


def processes_seconds(count: int, loops: int) -> list[float]:
    """:func:`loop_seconds` in ``count`` processes started together: each one's seconds."""
    command = [sys.executable, os.path.abspath(__file__), "--loop", str(loops)]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    outputs = [child.communicate()[0] for child in children]
    if any(child.returncode for child in children):
        raise RuntimeError("a looping process failed")
    return [float(output) for output in outputs]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Median ms of the kernel on 1 and 2 threads; seconds of the loops alone and side by side."""
    parser = argument_parser(__doc__, repeats_help="turns per thread count (default 40)", workers=("1", "2"))
    parser.add_argument("--loops", type=int, default=None, help="runs per looping process (default 400)")
    parser.add_argument("--loop", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loop:
        print(loop_seconds(args.loop))
        return {}
    if args.worker:
        serve_repetitions(gelu_kernel(int(args.worker)))
        return {}
    repeats = args.repeats or (3 if args.quick else 40)
    loops = args.loops or (5 if args.quick else 400)
    script = os.path.abspath(__file__)
    commands = {label: [sys.executable, script, "--worker", label] for label in ("1", "2")}
    with Workers(commands) as workers:
        timings = workers.interleaved(repeats)
    alone = processes_seconds(1, loops)
    together = processes_seconds(2, loops)
    return {"one_thread_ms": 1000 * timings["1"][0], "two_threads_ms": 1000 * timings["2"][0], "loops": loops,
            "one_process_s": alone[0], "two_processes_s": together}


def report(results: dict[str, Any]) -> None:
    print(f"exact float32 GELU of a {ROWS} x {WIDTH} array, blocked, median ms:")
    print(f"  1 kernel thread  {results['one_thread_ms']:7.3f}")
    print(f"  2 kernel threads {results['two_threads_ms']:7.3f}")
    together = ", ".join(f"{seconds:.2f}" for seconds in results["two_processes_s"])
    print(f"{results['loops']} runs on one thread: {results['one_process_s']:.2f} s in one process alone, "
          f"{together} s in each of two processes at once")


if __name__ == "__main__":
    run_and_report(main, report)
