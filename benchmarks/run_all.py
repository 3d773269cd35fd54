"""Run every benchmark and print one table of the figures against the bars, with the machine.

Sections: the MLP epoch table (giagrad vs the hand-written numpy floor vs PyTorch), the
LeNet-style CNN training step, the CNN recipe's model (step and epoch, each framework at its best
thread count), one LSTM layer, the character-level GPT's training iteration and generation, the
per-op overhead, the optimizer step, the DataLoader's overhead, the resident memory over 3 MLP
epochs and of the CNN recipe's training (giagrad vs PyTorch), and data-parallel training over
MPI (2 ranks vs PyTorch DDP). Every benchmark runs each framework (giagrad, the numpy floor,
PyTorch) in a process of its own, so that no framework's threads compete with another's. Each
benchmark's own printout is kept out of the table (shown with ``--verbose``, and saved in the
results file). BLAS runs with the threads the environment gives it (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS, ...) and PyTorch gets the same number, except in the CNN recipe's section,
which tries 1 and 2. PyTorch runs in ``--torch-python`` (default: ``GIAGRAD_TORCH_PYTHON``, else
this interpreter), passed to every benchmark; when that cannot import it, its columns are skipped
with a notice.

    python benchmarks/run_all.py --torch-python PATH/TO/python  # everything, results in benchmarks/results.json
    python benchmarks/run_all.py --quick --out r.json           # tiny sizes: a smoke run, not figures to quote
    python benchmarks/run_all.py --only mlp,cnn_recipe          # some benchmarks only
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cnn  # noqa: E402
import bench_cnn_recipe  # noqa: E402
import bench_ddp  # noqa: E402
import bench_gpt  # noqa: E402
import bench_loader  # noqa: E402
import bench_loader_workers  # noqa: E402
import bench_lstm  # noqa: E402
import bench_memory  # noqa: E402
import bench_memory_cnn  # noqa: E402
import bench_mlp  # noqa: E402
import bench_ops  # noqa: E402
import bench_optim  # noqa: E402
from common import default_torch_python, machine, thread_settings, torch_settings, worker_environment  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")

# The bars of the speed issue: the highest ratio giagrad / reference that passes.
MLP_BAR_NUMPY, MLP_BAR_TORCH, CNN_BAR_TORCH, LOADER_BAR_SHARE = 1.05, 1.0, 1.2, 0.05
OPS_BAR_US = 2.0  # per-op overhead of the 100-op chains, forward + backward: at most 2 us per op
LSTM_BAR_TORCH = 1.5
DDP_BAR_TORCH = 0.5  # giagrad's 2-rank epoch at most half of PyTorch DDP's
GPT_BAR_TORCH = 1.0


def quick_flag(quick: bool) -> list[str]:
    return ["--quick"] if quick else []


def options(quick: bool, torch_python: str) -> list[str]:
    """The command line of a benchmark with a PyTorch side."""
    return [*quick_flag(quick), "--torch-python", torch_python]


def memory_in_own_process(quick: bool) -> dict[str, Any]:
    """bench_memory in a fresh interpreter: resident memory is the process's, and this one holds
    the other benchmarks' data and PyTorch."""
    env = worker_environment()
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "memory.json")
        completed = subprocess.run([sys.executable, bench_memory.__file__, *quick_flag(quick), "--json", out],
                                   env=env, capture_output=True, text=True)
        print(completed.stdout, end="")
        if completed.returncode:
            raise RuntimeError(f"bench_memory.py exited with {completed.returncode}:\n{completed.stderr}")
        with open(out) as f:
            return json.load(f)


# name -> run(quick, torch_python) returning the benchmark's figures; the order of the table.
BENCHMARKS: dict[str, Callable[[bool, str], dict[str, Any]]] = {
    "mlp": lambda quick, python: bench_mlp.main(options(quick, python)),
    "cnn": lambda quick, python: bench_cnn.main(options(quick, python)),
    "cnn_recipe": lambda quick, python: bench_cnn_recipe.main(options(quick, python)),
    "lstm": lambda quick, python: bench_lstm.main(options(quick, python)),
    "gpt": lambda quick, python: bench_gpt.main(quick, python),
    "ops": lambda quick, python: bench_ops.main(options(quick, python)),
    "optim": lambda quick, python: bench_optim.main(options(quick, python)),
    "loader": lambda quick, _: bench_loader.main(quick_flag(quick)),
    "workers": lambda quick, _: bench_loader_workers.main(quick_flag(quick)),
    "memory": lambda quick, _: memory_in_own_process(quick),
    "cnn_memory": lambda quick, python: bench_memory_cnn.main(options(quick, python)),
    "ddp": lambda quick, python: bench_ddp.main(options(quick, python)),
}


def verdict(ratio: float | None, bar: float, strictly_below: bool = False) -> str:
    """'pass' or 'miss' for a ratio against its bar, '-' when there is no ratio (no PyTorch)."""
    if ratio is None:
        return "-"
    return "pass" if (ratio < bar if strictly_below else ratio <= bar) else "miss"


def number(value: float | None, width: int, digits: int) -> str:
    return f"{value:{width},.{digits}f}" if value is not None else f"{'-':>{width}}"


def ratio_of(value: float | None, reference: float | None) -> float | None:
    return value / reference if value is not None and reference else None


class Table:
    """The lines of the one table, and the bars met or missed on the way."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.bars: list[dict[str, Any]] = []

    def section(self, title: str) -> None:
        self.lines += ["", title]

    def add(self, line: str) -> None:
        self.lines.append("  " + line)

    def bar(self, what: str, ratio: float | None, bar: float, strictly_below: bool = False,
            figure: str = "ratio") -> str:
        """'pass', 'miss' or '-' for ``ratio`` (a ``figure`` of another kind, e.g. "us_per_op") against ``bar``."""
        mark = verdict(ratio, bar, strictly_below)
        if mark != "-":
            self.bars.append({"what": what, figure: ratio, "bar": bar, "result": mark})
        return mark


def mlp_section(table: Table, result: dict[str, Any]) -> None:
    table.section(f"MLP training epoch, seconds (median); data: {result['source']}")
    table.add(f"{'model':>15} {'opt':>5} {'batch':>5} {'giagrad':>8} {'jit':>8} {'numpy':>8} {'torch':>8}"
              f" {'g/numpy':>8} {f'<={MLP_BAR_NUMPY}':>6} {'jit/numpy':>9} {f'<={MLP_BAR_NUMPY}':>6}"
              f" {'g/torch':>8} {f'<={MLP_BAR_TORCH}':>6}")
    for row in result["rows"]:
        name = f"MLP {row['model']} {row['optimizer']} batch {row['batch']}"
        vs_numpy, jit_vs_numpy, vs_torch = row["vs_numpy"], row["jit_vs_numpy"], row["vs_torch"]
        table.add(f"{row['model']:>15} {row['optimizer']:>5} {row['batch']:>5} {number(row['giagrad_s'], 8, 3)} "
                  f"{number(row['jit_s'], 8, 3)} {number(row['numpy_s'], 8, 3)} {number(row['torch_s'], 8, 3)} "
                  f"{number(vs_numpy, 8, 2)} {table.bar(name + ' vs numpy', vs_numpy, MLP_BAR_NUMPY):>6} "
                  f"{number(jit_vs_numpy, 9, 2)} "
                  f"{table.bar(name + ' with jit vs numpy', jit_vs_numpy, MLP_BAR_NUMPY):>6} "
                  f"{number(vs_torch, 8, 2)} {table.bar(name + ' vs PyTorch', vs_torch, MLP_BAR_TORCH):>6}")


def cnn_section(table: Table, result: dict[str, Any]) -> None:
    table.section(f"LeNet-style CNN, batch {result['batch']}, ms per step (median; one process per framework)")
    table.add(f"{'step':<22} {'giagrad':>8} {'torch':>8} {'g/torch':>8} {f'<={CNN_BAR_TORCH}':>6}")
    torch_ms = result["torch_ms"] or {}
    for step, ms in result["giagrad_ms"].items():
        ratio = ratio_of(ms, torch_ms.get(step))
        # The bar is on a whole training step (with Adam); forward+backward alone is shown for context.
        mark = table.bar("CNN Adam step vs PyTorch", ratio, CNN_BAR_TORCH) if step == "adam_step" else ""
        table.add(f"{step:<22} {number(ms, 8, 2)} {number(torch_ms.get(step), 8, 2)} {number(ratio, 8, 2)} {mark:>6}")
    for layer, ms in result["layers_ms"].items():
        table.add(f"{'  ' + layer + ' fwd+bwd':<22} {number(ms, 8, 2)}")


def cnn_recipe_section(table: Table, result: dict[str, Any]) -> None:
    threads = result["best_threads"]
    table.section(f"The Fashion-MNIST CNN recipe's model, Adam, batch {result['batch']} (one process per framework, "
                  "each at its best thread count: " + ", ".join(f"{framework} {count}" for framework, count
                                                                in threads.items()) + ")")
    table.add(f"{'figure':<22} {'giagrad':>8} {'torch':>8} {'g/torch':>8} {f'<={CNN_BAR_TORCH}':>6}")
    mark = table.bar("CNN recipe training step vs PyTorch", result["step_ratio"], CNN_BAR_TORCH)
    table.add(f"{'training step, ms':<22} {number(result['giagrad_step_ms'], 8, 2)} "
              f"{number(result['torch_step_ms'], 8, 2)} {number(result['step_ratio'], 8, 2)} {mark:>6}")
    epoch = f"epoch ({result['images']:,} images), s"
    table.add(f"{epoch:<22} {number(result['giagrad_epoch_s'], 8, 2)} "
              f"{number(result['torch_epoch_s'], 8, 2)} {number(result['epoch_ratio'], 8, 2)}")
    for framework, by_threads in result["step_ms"].items():
        table.add(f"{f'  {framework} step by threads':<22} " + ", ".join(
            f"{count}: {ms:.2f} ms" for count, ms in by_threads.items()))


def lstm_section(table: Table, result: dict[str, Any]) -> None:
    table.section(f"One LSTM layer, batch {result['batch']}, sequence {result['steps']}, input {result['input_size']}, "
                  f"hidden {result['hidden_size']}: ms (median; one process per framework)")
    table.add(f"{'':<22} {'giagrad':>8} {'torch':>8} {'g/torch':>8} {'<=1.5':>6}")
    mark = table.bar("LSTM layer forward + backward vs PyTorch", result["ratio"], LSTM_BAR_TORCH)
    table.add(f"{'LSTM fwd+bwd':<22} {number(result['giagrad_ms'], 8, 2)} {number(result['torch_ms'], 8, 2)} "
              f"{number(result['ratio'], 8, 2)} {mark:>6}")
    table.add(f"{'LSTM fwd, no_grad':<22} {number(result['inference_giagrad_ms'], 8, 2)} "
              f"{number(result['inference_torch_ms'], 8, 2)} {number(result['inference_ratio'], 8, 2)}")


def gpt_section(table: Table, result: dict[str, Any]) -> None:
    config, ours, theirs = result["config"], result["giagrad"], result["torch"] or {}
    table.section(f"Character-level GPT ({config['layers']} layers, width {config['width']}, "
                  f"context {config['block']}, "
                  f"batch {config['batch']}), each framework in its own process")
    table.add(f"{'figure':<30} {'giagrad':>8} {'torch':>8} {'g/torch':>8} {'<=1.0':>6}")
    ratio = ratio_of(ours["iteration_ms"], theirs.get("iteration_ms"))
    mark = table.bar("GPT training iteration vs PyTorch", ratio, GPT_BAR_TORCH)
    table.add(f"{'training iteration, ms':<30} {number(ours['iteration_ms'], 8, 1)} "
              f"{number(theirs.get('iteration_ms'), 8, 1)} {number(ratio, 8, 2)} {mark:>6}")
    table.add(f"{'generation, chars/s (cached)':<30} {number(ours['generate_cached_chars_per_s'], 8, 0)}")
    table.add(f"{'generation, chars/s (recomputed)':<30} {number(ours['generate_chars_per_s'], 8, 0)} "
              f"{number(theirs.get('generate_chars_per_s'), 8, 0)}")


def microseconds(nanoseconds: float | None) -> float | None:
    return nanoseconds / 1000 if nanoseconds is not None else None


def ops_section(table: Table, result: dict[str, Any]) -> None:
    table.section("Per-op overhead: a chain of 100 small ops built and run backward, time / 100, "
                  "us per op (median; one process per framework)")
    table.add(f"{'chain':<22} {'giagrad':>8} {'torch':>8} {'g/torch':>8} {f'<={OPS_BAR_US}us':>6}")
    for chain, key in (("elementwise", ""), ("matmul mix", "matmul_")):
        ours, theirs = microseconds(result[f"giagrad_{key}ns_per_op"]), microseconds(result[f"torch_{key}ns_per_op"])
        mark = table.bar(f"per-op overhead, {chain} chain", ours, OPS_BAR_US, figure="us_per_op")
        table.add(f"{chain:<22} {number(ours, 8, 2)} {number(theirs, 8, 2)} {number(ratio_of(ours, theirs), 8, 2)} "
                  f"{mark:>6}")


def optim_section(table: Table, result: dict[str, Any]) -> None:
    table.section("Optimizer step on the 784-128-10 MLP's parameters, us per step (median)")
    table.add(f"{'optimizer':<14} {'giagrad':>8} {'per-param':>9} {'naive np':>9} {'torch':>8}")
    for kind, label in (("adam", "Adam"), ("sgd", "SGD momentum")):
        table.add(f"{label:<14} {number(result[f'{kind}_us_per_step'], 8, 1)} "
                  f"{number(result[f'{kind}_per_parameter_us_per_step'], 9, 1)} "
                  f"{number(result[f'{kind}_naive_us_per_step'], 9, 1)} "
                  f"{number(result[f'{kind}_torch_us_per_step'], 8, 1)}")


def loader_section(table: Table, result: dict[str, Any]) -> None:
    table.section(f"DataLoader epoch, {result['images']:,} images, batch 64, transforms; load average "
                  f"{result['load_average']:.2f} when it started")
    table.add(f"{'loader epoch alone':<34} {result['loader_seconds_per_epoch']:8.3f} s "
              f"({result['loader_us_per_batch']:.1f} us per batch)")
    table.add(f"{'share of a numpy MLP epoch':<34} {100 * result['loader_share_of_numpy_mlp']:7.2f} % (wall)")
    if "loader_share_of_giagrad_mlp" in result:
        share_cpu = result["loader_cpu_share_of_giagrad_mlp"]
        mark = table.bar("DataLoader CPU share of giagrad's MLP epoch", share_cpu, LOADER_BAR_SHARE)
        table.add(f"{'share of giagrad MLP epoch':<34} {100 * result['loader_share_of_giagrad_mlp']:7.2f} % (wall), "
                  f"{100 * share_cpu:.2f} % (CPU; bar < 5 %: {mark})")


def workers_section(table: Table, result: dict[str, Any]) -> None:
    table.section(f"DataLoader workers, {result['images']:,} images decoded and augmented per sample, "
                  f"wall s per epoch ({result['cores']} cores)")
    for workers in (0, 1, 2):
        seconds = result[f"per_sample_workers_{workers}_seconds"]
        table.add(f"{f'{workers} workers':<22} {number(seconds, 8, 3)} "
                  f"{result['per_sample_workers_0_seconds'] / seconds:6.2f}x")
    table.add(f"{'batch indexing, 0 / 2':<22} {number(result['batch_indexing_workers_0_seconds'], 8, 3)} / "
              f"{result['batch_indexing_workers_2_seconds']:.3f} (workers do not pay off there)")


def memory_section(table: Table, result: dict[str, Any]) -> None:
    table.section(f"Resident memory, 784-128-10 MLP, SGD momentum, batch {result['batch']}, "
                  f"{result['images']:,} images, MB")
    table.add(f"{'before training':<22} {number(result['rss_before_mb'], 8, 1)}")
    for epoch, rss in enumerate(result["rss_after_epoch_mb"], start=1):
        table.add(f"{f'after epoch {epoch}':<22} {number(rss, 8, 1)}")
    table.add(f"{'peak':<22} {number(result['peak_rss_mb'], 8, 1)} ({result['peak_covers']})")
    growth = result["growth_last_epoch_mb"]
    if growth is not None:
        mark = "miss" if result["grows"] else "pass"
        table.bars.append({"what": "memory does not grow from epoch 2 to 3", "ratio": None,
                           "bar": result["tolerance_mb"], "result": mark})
        table.add(f"{'growth epoch 2 -> 3':<22} {growth:+8.1f} (tolerance {result['tolerance_mb']:.0f} MB: {mark})")


def cnn_memory_section(table: Table, result: dict[str, Any]) -> None:
    table.section(f"Resident memory training the CNN recipe's model, {result['steps']} steps of {result['batch']}, MB "
                  "(a fresh process per framework)")
    table.add(f"{'':<22} {'giagrad':>8} {'torch':>8} {'g/torch':>8}")
    ours, theirs = result["giagrad"], result["torch"] or {}
    for key, label in (("rss_before_mb", "before training"), ("peak_rss_mb", "peak")):
        table.add(f"{label:<22} {number(ours[key], 8, 1)} {number(theirs.get(key), 8, 1)} "
                  f"{number(ratio_of(ours[key], theirs.get(key)), 8, 2)}")
    table.add(f"(peak covers {ours['peak_covers']})")


def ddp_section(table: Table, result: dict[str, Any]) -> None:
    table.section("Data-parallel MLP 784-256-128-10 epoch over MPI, SGD momentum, seconds (median)")
    table.add(f"{'global batch':>12} {'1 rank':>8} {'2 ranks':>8} {'torch 2':>8} {'g2/t2':>8} {'<=0.5':>6}")
    for row in result["rows"]:
        ratio = row["giagrad_2_vs_torch_2"]
        mark = table.bar(f"DDP epoch at 2 ranks, batch {row['batch']}, vs PyTorch DDP", ratio, DDP_BAR_TORCH)
        seconds = [number(row[key], 8, 3) for key in ("giagrad_1_rank_s", "giagrad_2_ranks_s", "torch_ddp_2_ranks_s")]
        table.add(f"{row['batch']:>12} {' '.join(seconds)} {number(ratio, 8, 2)} {mark:>6}")
    allreduce = result["allreduce"]
    table.add(f"all-reduce: {allreduce['latency_us']:.1f} us for 8 bytes; bus bandwidth "
              f"{allreduce['bus_bandwidth_1MB_gb_s']:.2f} GB/s at 1 MB, {allreduce['bus_bandwidth_16MB_gb_s']:.2f} "
              "GB/s at 16 MB")


SECTIONS: dict[str, Callable[[Table, dict[str, Any]], None]] = {
    "mlp": mlp_section, "cnn": cnn_section, "cnn_recipe": cnn_recipe_section, "lstm": lstm_section,
    "gpt": gpt_section, "ops": ops_section, "optim": optim_section, "loader": loader_section,
    "workers": workers_section, "memory": memory_section, "cnn_memory": cnn_memory_section, "ddp": ddp_section,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few repetitions: a smoke run")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--out", default=DEFAULT_OUT, help="the JSON results file (default benchmarks/results.json)")
    parser.add_argument("--verbose", action="store_true", help="show each benchmark's own printout too")
    parser.add_argument("--torch-python", default=default_torch_python(),
                        help="the Python that runs PyTorch's side of every benchmark (default: GIAGRAD_TORCH_PYTHON, "
                        "else this one)")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.names = names
    return args


def command_line(argv: list[str]) -> str:
    """The command that ran, with the torch interpreter's path (a detail of one machine) left out."""
    words = ["python", "benchmarks/run_all.py"]
    for word in argv:
        if words[-1] == "--torch-python":
            word = "PYTHON_WITH_TORCH"
        elif word.startswith("--torch-python="):
            word = "--torch-python=PYTHON_WITH_TORCH"
        words.append(word)
    return " ".join(words)


def run_one(name: str, quick: bool, verbose: bool, torch_python: str) -> tuple[dict[str, Any] | None, str]:
    """A benchmark's figures (None when it failed) and its own printout (with the traceback if it failed)."""
    printout = io.StringIO()
    print(f"running {name} ...", file=sys.stderr, flush=True)
    try:
        with contextlib.redirect_stdout(sys.stdout if verbose else printout):
            return BENCHMARKS[name](quick, torch_python), printout.getvalue()
    except Exception:  # one broken benchmark must not lose the figures of the others
        return None, printout.getvalue() + traceback.format_exc()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the chosen benchmarks, print the table, write the JSON file; return what it holds."""
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    info = {**machine(with_torch=False), **thread_settings()}
    torch = torch_settings(args.torch_python)
    info.update({"torch python": "this interpreter" if args.torch_python == sys.executable else "--torch-python",
                 "torch": torch["torch"] if torch else "(not importable)",
                 "torch threads": torch["torch threads"] if torch else "-"})
    info["load average"] = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "-"

    results: dict[str, Any] = {}
    printouts: dict[str, str] = {}
    seconds: dict[str, float] = {}  # how long each benchmark took, to plan a full run
    table = Table()
    for name in args.names:
        start = time.perf_counter()
        result, printouts[name] = run_one(name, args.quick, args.verbose, args.torch_python)
        seconds[name] = round(time.perf_counter() - start, 1)
        results[name] = result
        if result is None:
            table.section(f"{name}: FAILED (traceback in the results file)")
            print(printouts[name], file=sys.stderr)
        else:
            SECTIONS[name](table, result)

    title = "giagrad benchmarks" + (" (--quick: tiny sizes, not figures to quote)" if args.quick else "")
    print(title)
    for key, value in info.items():
        print(f"  {key:18} {value}")
    if torch is None:
        print(f"PyTorch is not importable by {args.torch_python}: its columns are skipped")
    for line in table.lines:
        print(line)
    print("\nThe bars (giagrad / reference unless a unit is given):")
    for bar in table.bars:
        figure = next((f"{value:.2f} {key.replace('_per_', '/').replace('ratio', '')}".strip()
                       for key, value in bar.items() if key not in ("what", "bar", "result") and value is not None), "")
        print(f"  {bar['what']:<58} {figure:>10} (bar {bar['bar']}) {bar['result']}")
    missed = [bar["what"] for bar in table.bars if bar["result"] == "miss"]
    print(f"\nBars: {len(table.bars) - len(missed)} of {len(table.bars)} met" + (f"; missed: {', '.join(missed)}"
                                                                                   if missed else ""))
    print(f"Run time: {sum(seconds.values()):.0f} s (" + ", ".join(f"{name} {s:.0f}" for name, s in seconds.items())
          + ")")

    document = {
        "command": command_line(argv if argv is not None else sys.argv[1:]),
        "started_utc": started.isoformat(timespec="seconds"),
        "quick": args.quick, "machine": info, "results": results, "bars": table.bars, "seconds": seconds,
        "printouts": printouts,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(document, f, indent=1, default=str)
    print(f"Results written to {args.out}")
    return document


if __name__ == "__main__":
    main()
