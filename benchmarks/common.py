"""Shared pieces of the benchmark scripts: timing, the machine description, optional PyTorch."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def median_seconds(run: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``run()`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_torch() -> Any | None:
    """PyTorch when it is importable (never a dependency of giagrad), else None.

    It runs with as many threads as numpy's BLAS, so both use the same cores.
    """
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(blas_threads() or os.cpu_count() or 1)
    return torch


def blas_threads() -> int | None:
    """How many threads numpy's BLAS uses, if threadpoolctl can tell."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return pools[0]["num_threads"] if pools else None


def machine() -> dict[str, Any]:
    """CPU model, cores, numpy and its BLAS: printed with every table of figures."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = "unknown (install threadpoolctl to see it)"
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            blas = f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads"
            blas += f", {p.get('architecture')})" if p.get("architecture") else ")"
    except ImportError:
        pass
    torch = import_torch()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(not set)"),
        "torch": torch.__version__ if torch is not None else "(not installed)",
    }


def print_machine(info: dict[str, Any]) -> None:
    for key, value in info.items():
        print(f"  {key:18} {value}")
