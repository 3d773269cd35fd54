"""The benchmarks' worker processes (``benchmarks/common.py``): named runs, threads, failures."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS_DIR) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS_DIR))

import common  # noqa: E402

# A worker serving two named runs; its first line tells its BLAS threads and whether run "b" ran.
WORKER = f"""
import os, sys
sys.path.insert(0, {str(BENCHMARKS_DIR)!r})
from common import serve_repetitions
calls = []
serve_repetitions({{"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}},
                  first_line={{"threads": os.environ.get("OPENBLAS_NUM_THREADS")}})
"""


def test_workers_take_turns_on_named_runs() -> None:
    commands = {"one": [sys.executable, "-c", WORKER], "two": [sys.executable, "-c", WORKER]}
    with common.Workers(commands, threads={"one": 1, "two": 2}) as workers:
        assert workers.first_lines == {"one": {"threads": "1"}, "two": {"threads": "2"}}
        timings = workers.interleaved(repeats=3, warmup=1, run="a")
        only_two = workers.interleaved(repeats=2, warmup=0, run="b", labels=["two"])
    assert set(timings) == {"one", "two"} and set(only_two) == {"two"}
    for median, best in [*timings.values(), *only_two.values()]:
        assert 0 <= best <= median


def test_a_worker_that_dies_is_reported() -> None:
    with pytest.raises(RuntimeError, match="'broken'"):
        with common.Workers({"broken": [sys.executable, "-c", "raise SystemExit(3)"]}):
            pass


def test_torch_workers_are_left_out_when_torch_cannot_be_imported(capsys: pytest.CaptureFixture[str]) -> None:
    commands = common.worker_commands("bench.py", ["giagrad", "torch"], "/nonexistent/python")
    assert list(commands) == ["giagrad"]
    assert commands["giagrad"][0] == sys.executable
    assert commands["giagrad"][-2:] == ["--worker", "giagrad"]
    assert "not importable" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "expected"), [
    (["--quick"], "python benchmarks/run_all.py --quick"),
    (["--torch-python", "/some/where/python"], "python benchmarks/run_all.py --torch-python PYTHON_WITH_TORCH"),
    (["--torch-python=/x/python", "--only", "mlp"],
     "python benchmarks/run_all.py --torch-python=PYTHON_WITH_TORCH --only mlp"),
])
def test_the_recorded_command_leaves_out_the_torch_interpreter(argv: list[str], expected: str) -> None:
    run_all: Any = pytest.importorskip("run_all")
    assert run_all.command_line(argv) == expected


@pytest.fixture
def recorded_workers(monkeypatch: pytest.MonkeyPatch) -> tuple[common.Workers, list[tuple[str, Any]]]:
    """Workers "one" and "two" whose runs and pauses are recorded, not made; a run's seconds tick 1, 2, 3..."""
    events: list[tuple[str, Any]] = []
    monkeypatch.setattr(common.time, "sleep", lambda seconds: events.append(("sleep", seconds)))
    workers = common.Workers({})
    workers.processes = {"one": None, "two": None}
    clock = iter(range(1, 100))

    def seconds(label: str, run: str = "") -> float:
        events.append(("run", label))
        return float(next(clock))

    monkeypatch.setattr(workers, "seconds", seconds)
    return workers, events


def test_each_turn_pauses_then_warms_up_then_times_one_repetition(recorded_workers) -> None:
    workers, events = recorded_workers
    timings = workers.interleaved(repeats=2, warmup=1, run="a", settle=0.25, turn_warmup=1)
    turn = [("sleep", 0.25), ("run", "one"), ("run", "one"), ("sleep", 0.25), ("run", "two"), ("run", "two")]
    assert events == [("run", "one"), ("run", "two"), *turn, *turn]
    # the clock ticks once a run: the timed runs are 4 and 8 for "one", 6 and 10 for "two"
    assert timings == {"one": (6.0, 4.0), "two": (8.0, 6.0)}


def test_a_worker_alone_pauses_once_then_runs_back_to_back(recorded_workers) -> None:
    workers, events = recorded_workers
    timings = workers.interleaved(repeats=3, warmup=1, run="a", labels=["two"], settle=0.25, turn_warmup=1)
    assert events == [("sleep", 0.25), *[("run", "two")] * 4]
    assert timings == {"two": (3.0, 2.0)}
