"""Shared pieces of the benchmark scripts: timing, the machine description, optional PyTorch."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# Pause before each turn of :meth:`Workers.interleaved`. A worker that has just run leaves its
# thread pool spinning: OpenBLAS's threads busy-wait for about 2**28 clock cycles (a tenth of a
# second) before they sleep, and on two cores that halves the next worker's speed. Without the
# pause PyTorch's 2-thread worker measured the CNN recipe's step at 80 ms after giagrad's turn,
# instead of 31 ms.
SETTLE_SECONDS = 0.3


def argument_parser(doc: str, quick_help: str = "a few repetitions only (smoke test)",
                    repeats_help: str | None = None, repeats_default: int | None = None,
                    workers: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """The command line every benchmark script shares: described by the first line of its ``doc``,
    ``--quick`` for a smoke run, and ``--repeats`` when ``repeats_help`` says what is repeated.

    A script that runs each framework in a worker process of its own names the ``workers`` it can
    start: it gets ``--torch-python`` (the interpreter of PyTorch's worker) and the hidden
    ``--worker`` and ``--threads`` its workers are started with.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if repeats_help:
        parser.add_argument("--repeats", type=int, default=repeats_default, help=repeats_help)
    if workers:
        parser.add_argument("--torch-python", default=default_torch_python(),
                            help="the Python that runs PyTorch's worker (default: GIAGRAD_TORCH_PYTHON, else this one)")
        parser.add_argument("--worker", choices=workers, help=argparse.SUPPRESS)
        parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    return parser


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


def median_wall_and_cpu_seconds(run: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``run()`` over ``repeats`` calls, after ``warmup`` calls.

    CPU time (this process, all its threads) is less disturbed than wall time when other work
    shares the machine; a multi-threaded BLAS adds its threads' time, spinning included.
    """
    for _ in range(warmup):
        run()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def import_torch(absent_notice: str | None = None) -> Any | None:
    """PyTorch when it is importable (never a dependency of giagrad), else None.

    It runs with as many threads as numpy's BLAS, so both use the same cores. When it is absent
    and ``absent_notice`` is given, prints "PyTorch is not importable: <absent_notice>".
    """
    try:
        import torch
    except ImportError:
        if absent_notice:
            print(f"PyTorch is not importable: {absent_notice}")
        return None
    torch.set_num_threads(blas_threads() or os.cpu_count() or 1)
    return torch


def blas_threads() -> int | None:
    """How many threads numpy's BLAS uses, if threadpoolctl can tell (else what the environment
    asks of OpenBLAS, if anything)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            if os.environ.get(variable, "").isdigit() and int(os.environ[variable]) > 0:
                return int(os.environ[variable])
        return None
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return pools[0]["num_threads"] if pools else None


def machine(with_torch: bool = True) -> dict[str, Any]:
    """CPU model, cores, numpy and its BLAS: printed with every table of figures.

    ``with_torch=False`` leaves PyTorch unimported (its version unreported): for measurements it
    would disturb, such as resident memory.
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = blas_from_numpy_build()
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            blas = f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads"
            blas += f", {p.get('architecture')})" if p.get("architecture") else ")"
    except ImportError:
        pass
    torch = import_torch() if with_torch else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(not set)"),
        "torch": torch.__version__ if torch is not None else "(not installed)" if with_torch else "(not imported)",
    }


def blas_from_numpy_build() -> str:
    """The BLAS numpy was built against, from ``numpy.show_config`` (threadpoolctl tells more)."""
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # the layout of show_config's dictionary is not a stable API
        return "unknown"
    return f"{config.get('name')} {config.get('version')} (numpy build; install threadpoolctl for threads)"


def print_machine(info: dict[str, Any]) -> None:
    for key, value in info.items():
        print(f"  {key:18} {value}")


def run_and_report(main: Callable[[], dict[str, Any]], report: Callable[[dict[str, Any]], None]) -> None:
    """A benchmark script's entry point: run ``main`` and, when it returns figures (a worker's run
    returns none), print the machine and ``report`` them."""
    figures = main()
    if figures:
        print_machine(machine(with_torch=False))
        report(figures)


def print_worker_settings(settings: dict[str, dict[str, Any]]) -> None:
    """One line per worker process: its thread settings (:func:`thread_settings`)."""
    for label, worker_settings in settings.items():
        print(f"  {label} worker: " + ", ".join(f"{key} {value}" for key, value in worker_settings.items()))


def fashion_mnist_training_images(limit: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Fashion-MNIST's training images as uint8 (N, 28, 28), int64 labels, and where they came from.

    Wherever ``FashionMNIST(download=False)`` finds them (the Debian package's location among
    others); else a synthetic uint8 array of the same shape, which the returned source says.
    ``limit`` keeps the first images only (the quick smoke runs).
    """
    from giagrad.data.datasets import DatasetNotFoundError, FashionMNIST

    try:
        dataset = FashionMNIST(train=True, download=False)
        images, labels, source = dataset.data, dataset.targets, f"Fashion-MNIST from {dataset.source[0]}"
    except DatasetNotFoundError:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, size=(60_000, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=60_000).astype(np.int64)
        source = "synthetic uint8 array of shape (60000, 28, 28) (Fashion-MNIST not found)"
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, np.asarray(labels, dtype=np.int64), source


def flat_float_images(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) images as float32 (N, 784) in [0, 1]: the MLP's inputs."""
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(len(images), -1)


# ------------------------------------------------------------------ one framework per process


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def default_torch_python() -> str:
    """The interpreter that runs PyTorch's side: ``GIAGRAD_TORCH_PYTHON`` when set, else this one."""
    return os.environ.get("GIAGRAD_TORCH_PYTHON") or sys.executable


def worker_environment(threads: int | None = None) -> dict[str, str]:
    """This process's environment with the imported giagrad's folder first on PYTHONPATH, so that a
    child interpreter (another Python, e.g. one with PyTorch) imports the same giagrad.

    ``threads`` sets the BLAS and OpenMP thread counts of the child (PyTorch takes the same number,
    see :func:`import_torch`); None leaves the environment's.
    """
    import giagrad

    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(giagrad.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    if threads is not None:
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    return env


def torch_settings(python: str, threads: int | None = None) -> dict[str, Any] | None:
    """PyTorch's version and threads as a worker run by ``python`` would see them, or None when
    ``python`` cannot import torch."""
    import json
    import subprocess

    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from common import import_torch, thread_settings; "
            "torch = import_torch(); assert torch is not None; print(json.dumps(thread_settings(torch)))")
    try:
        completed = subprocess.run([python, "-c", code, os.path.dirname(os.path.abspath(__file__))],
                                   capture_output=True, text=True, env=worker_environment(threads))
    except OSError:  # no such interpreter
        return None
    return json.loads(completed.stdout) if completed.returncode == 0 else None


def thread_settings(torch: Any = None) -> dict[str, Any]:
    """The thread settings a worker runs with: BLAS's, PyTorch's (when given) and OPENBLAS_CORETYPE."""
    settings: dict[str, Any] = {"blas threads": blas_threads() or f"BLAS default ({os.cpu_count()} cores)"}
    if torch is not None:
        settings.update({"torch": torch.__version__, "torch threads": torch.get_num_threads()})
    settings["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE", "(not set)")
    return settings


def worker_commands(script: str, labels: list[str], torch_python: str, options: list[str] | None = None,
                    torch_labels: tuple[str, ...] = ("torch",)) -> dict[str, list[str]]:
    """The commands that start ``script`` as each worker of ``labels`` (``--worker LABEL`` and
    ``options``): the ``torch_labels`` with ``torch_python``, when it can import torch (else they
    are left out with a notice), the others with this interpreter."""
    script = os.path.abspath(script)
    wanted_torch = [label for label in labels if label in torch_labels]
    if wanted_torch and torch_settings(torch_python) is None:
        print(f"PyTorch is not importable by {torch_python}: its column is skipped")
        labels = [label for label in labels if label not in wanted_torch]
    return {label: [torch_python if label in torch_labels else sys.executable, script, "--worker", label,
                    *(options or [])] for label in labels}


def print_profile(title: str, seconds: dict[str, float], total: float, repetitions: int, remainder: str,
                  name_width: int = 38) -> dict[str, float]:
    """Print and return ``seconds`` (summed over ``repetitions``) as milliseconds per repetition,
    most first, each with its share of ``total``; ``remainder`` names what the parts leave of it."""
    per_repetition = 1000 * total / repetitions
    profile = {name: 1000 * value / repetitions for name, value in sorted(seconds.items(), key=lambda item: -item[1])}
    profile[remainder] = per_repetition - sum(profile.values())
    print(f"giagrad, {per_repetition:.1f} ms {title}:")
    for name, ms in profile.items():
        print(f"  {name:{name_width}} {ms:6.2f} ms  {100 * ms / per_repetition:5.1f}%")
    return profile


def serve_repetitions(runs: Callable[[], Any] | dict[str, Callable[[], Any]], first_line: Any = None) -> None:
    """The worker's side of :class:`Workers`: print ``first_line`` as JSON, then for each ``run``
    line read on stdin (``run NAME`` for one of several named ``runs``) make the run and print its
    wall-clock seconds."""
    import json

    print(json.dumps(first_line), flush=True)
    for line in sys.stdin:
        words = line.split(maxsplit=1)
        if not words or words[0] != "run":
            break
        run = runs[words[1].strip()] if len(words) > 1 else runs
        start = time.perf_counter_ns()
        run()  # type: ignore[operator]
        print((time.perf_counter_ns() - start) * 1e-9, flush=True)


class Workers:
    """Benchmark worker processes, one per label, each serving repetitions (:func:`serve_repetitions`).

    One framework per process: neither shares its interpreter, allocator or thread pools with the
    other. :meth:`interleaved` makes them take turns repetition by repetition, so that a busy
    machine slows them alike. Use as a context manager; ``first_lines`` holds what each worker
    printed first (its settings, results to compare).

    >>> with Workers({"a": [sys.executable, "worker.py"]}) as workers:  # doctest: +SKIP
    ...     median, best = workers.interleaved(repeats=10)["a"]
    """

    def __init__(self, commands: dict[str, list[str]], threads: dict[str, int | None] | None = None) -> None:
        self.commands, self.threads = commands, threads or {}
        self.processes: dict[str, Any] = {}
        self.first_lines: dict[str, Any] = {}

    def __enter__(self) -> Workers:
        import json
        import subprocess

        for label, command in self.commands.items():
            self.processes[label] = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                     text=True, env=worker_environment(self.threads.get(label)))
        for label, process in self.processes.items():
            line = process.stdout.readline()
            if not line:
                self.__exit__()
                raise RuntimeError(f"benchmark worker {label!r} exited with {process.wait()}")
            self.first_lines[label] = json.loads(line)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for process in self.processes.values():
            if process.stdin and not process.stdin.closed:
                process.stdin.close()
            process.wait()

    @property
    def settings(self) -> dict[str, Any]:
        """Each worker's thread settings: the ``settings`` of its first line."""
        return {label: line["settings"] for label, line in self.first_lines.items()}

    def seconds(self, label: str, run: str = "") -> float:
        """One repetition of ``run`` (the worker's only run when empty) by worker ``label``."""
        process = self.processes[label]
        process.stdin.write(f"run {run}\n" if run else "run\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {label!r} exited with {process.wait()} during {run or 'its run'!r}")
        return float(line)

    def interleaved(self, repeats: int, warmup: int = 2, run: str = "", labels: list[str] | None = None,
                    settle: float = SETTLE_SECONDS, turn_warmup: int = 1) -> dict[str, tuple[float, float]]:
        """(median, best) seconds of ``run`` per worker (all, or ``labels``), the workers taking turns.

        A turn is a pause of ``settle`` seconds, so that the previous worker's threads have
        stopped spinning (see :data:`SETTLE_SECONDS`), then ``turn_warmup`` untimed repetitions,
        which wake this worker's threads and fill its caches again (after the pause, a step of a
        few milliseconds would otherwise be timed cold), then one timed repetition. Runs of a
        second or more need no warm-up in each turn (``turn_warmup=0``); microsecond runs, which
        wake no thread pool and would be all cold start after a pause, take ``settle=0``. One
        worker alone has no one to wait for between its repetitions: it pauses once, before its
        warm-up, and then runs them back to back.
        """
        labels = list(self.processes) if labels is None else labels
        alone = len(labels) == 1
        if alone:
            time.sleep(settle)  # for whichever worker ran before this call
        for label in labels:
            for _ in range(warmup):
                self.seconds(label, run)
        times: dict[str, list[float]] = {label: [] for label in labels}
        for _ in range(repeats):
            for label in labels:
                if not alone:
                    time.sleep(settle)
                    for _ in range(turn_warmup):
                        self.seconds(label, run)
                times[label].append(self.seconds(label, run))
        return {label: (statistics.median(t), min(t)) for label, t in times.items()}
