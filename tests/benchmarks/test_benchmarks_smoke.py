"""Smoke test of the benchmark suite: every script runs on a tiny size and reports figures.

``benchmarks/run_all.py --quick`` runs each benchmark's ``main`` once (each framework in a
worker process of its own) and writes the JSON results file; the tests check that every
benchmark succeeded, that its figures are positive finite numbers and that the file holds them.
No timing is asserted: speed is for the benchmarks' printouts, not for the tests. PyTorch's side
runs when ``GIAGRAD_TORCH_PYTHON`` (or this interpreter) can import torch, and is skipped
otherwise.

BLAS runs on one thread here: on a busy CI machine, BLAS threads waiting for cores that other
work holds can make the tiny runs many times slower, and their figures are not looked at.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"

# Figures that may be zero or negative: the machine's load, memory growth, the tolerance.
NOT_POSITIVE_FIGURES = {"load_average", "growth_last_epoch_mb", "tolerance_mb"}

# Figures each benchmark must report (giagrad's side; PyTorch's are optional).
REQUIRED = {
    "mlp": ["rows"],
    "cnn": ["giagrad_ms", "layers_ms"],
    "cnn_recipe": ["giagrad_step_ms", "giagrad_epoch_s", "step_ms", "best_threads"],
    "lstm": ["giagrad_ms", "inference_giagrad_ms"],
    "gpt": ["giagrad"],
    "ops": ["giagrad_ns_per_op", "giagrad_matmul_ns_per_op"],
    "optim": ["adam_us_per_step", "sgd_us_per_step", "adam_naive_us_per_step", "sgd_naive_us_per_step"],
    "loader": ["loader_seconds_per_epoch", "numpy_mlp_seconds_per_epoch", "loader_share_of_numpy_mlp"],
    "workers": ["per_sample_workers_0_seconds", "per_sample_workers_2_seconds", "speedup_2_workers"],
    "memory": ["rss_after_epoch_mb", "peak_rss_mb"],
    "cnn_memory": ["giagrad"],
    "ddp": ["rows", "allreduce"],
}


def load_run_all() -> Any:
    """benchmarks/run_all.py as a module; the benchmarks import each other from their folder."""
    if str(BENCHMARKS_DIR) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS_DIR))
    spec = importlib.util.spec_from_file_location("run_all", BENCHMARKS_DIR / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run_all() -> Any:
    return load_run_all()


def one_blas_thread() -> contextlib.AbstractContextManager:
    """BLAS limited to one thread in this process (when threadpoolctl is there to do it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@pytest.fixture(scope="module")
def quick_run(run_all: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("benchmarks") / "results.json"
    with pytest.MonkeyPatch.context() as patch, one_blas_thread():
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            patch.setenv(variable, "1")  # for the memory benchmark's own process
        return run_all.main(["--quick", "--out", str(out)]), out


def numeric_figures(value: Any, key: str = "") -> list[tuple[str, float]]:
    """Every number in a result, with the key it stands under (booleans are verdicts, not figures)."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [(key, value)]
    if isinstance(value, dict):
        return [figure for k, v in value.items() for figure in numeric_figures(v, str(k))]
    if isinstance(value, list):
        return [figure for v in value for figure in numeric_figures(v, key)]
    return []


def test_every_benchmark_is_run(run_all: Any) -> None:
    assert set(run_all.BENCHMARKS) == set(REQUIRED)


@pytest.mark.parametrize("name", list(REQUIRED))
def test_benchmark_reports_positive_figures(quick_run: tuple[dict[str, Any], Path], name: str) -> None:
    document, _ = quick_run
    result = document["results"][name]
    assert result is not None, f"{name} failed:\n{document['printouts'][name]}"
    for key in REQUIRED[name]:
        assert numeric_figures(result[key]), f"{name}: no figure under {key!r}"
    for key, figure in numeric_figures(result):
        if key not in NOT_POSITIVE_FIGURES and key not in ("batch", "images", "batches"):
            assert math.isfinite(figure) and figure > 0, f"{name}: {key} = {figure}"


def test_mlp_table_has_the_eight_configurations(quick_run: tuple[dict[str, Any], Path]) -> None:
    rows = quick_run[0]["results"]["mlp"]["rows"]
    assert len({(row["model"], row["optimizer"], row["batch"]) for row in rows}) == 8


def test_cnn_recipe_tries_each_thread_count(quick_run: tuple[dict[str, Any], Path]) -> None:
    result = quick_run[0]["results"]["cnn_recipe"]
    assert set(result["step_ms"]["giagrad"]) == {"1", "2"}
    assert result["best_threads"]["giagrad"] in (1, 2)


def test_workers_report_their_thread_settings(quick_run: tuple[dict[str, Any], Path]) -> None:
    results = quick_run[0]["results"]
    for name in ("mlp", "cnn", "ops", "optim"):
        settings = results[name]["settings"]
        assert {"giagrad"} <= set(settings), name
        assert all("blas threads" in worker for worker in settings.values()), name
    assert set(results["mlp"]["settings"]) >= {"giagrad", "numpy"}


def test_json_file_is_written(quick_run: tuple[dict[str, Any], Path]) -> None:
    document, out = quick_run
    written = json.loads(out.read_text())
    assert written["quick"] is True
    assert set(written["results"]) == set(REQUIRED)
    assert set(written["seconds"]) == set(REQUIRED)
    assert written["machine"]["cores"] == document["machine"]["cores"]
    assert all(bar["result"] in ("pass", "miss") for bar in written["bars"])


def test_only_runs_the_named_benchmarks(run_all: Any, tmp_path: Path) -> None:
    out = tmp_path / "optim.json"
    document = run_all.main(["--quick", "--only", "optim", "--out", str(out)])
    assert list(document["results"]) == ["optim"]
    assert json.loads(out.read_text())["results"]["optim"]["sgd_us_per_step"] > 0


def test_only_rejects_an_unknown_name(run_all: Any) -> None:
    with pytest.raises(SystemExit):
        run_all.main(["--only", "mlp,nonsense"])


@pytest.mark.parametrize(("ratio", "bar", "strictly_below", "expected"), [
    (1.0, 1.0, False, "pass"),
    (1.01, 1.0, False, "miss"),
    (1.0, 1.0, True, "miss"),
    (0.99, 1.0, True, "pass"),
    (None, 1.15, False, "-"),
])
def test_verdict(run_all: Any, ratio: float | None, bar: float, strictly_below: bool, expected: str) -> None:
    assert run_all.verdict(ratio, bar, strictly_below) == expected
