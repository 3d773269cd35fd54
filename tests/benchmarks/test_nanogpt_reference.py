"""benchmarks/nanogpt_reference.py: nanoGPT's procedure in PyTorch runs and reports its figures (needs torch)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS_DIR) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS_DIR))


def test_a_tiny_run_reports_the_estimates_and_the_full_validation_loss() -> None:
    pytest.importorskip("torch")
    import nanogpt_reference

    figures = nanogpt_reference.train(seed=0, max_iters=4, eval_interval=2, eval_iters=2, layers=1, heads=2,
                                      width=16, block=8, batch=2)
    assert set(figures) == {"val_estimate", "train_estimate", "full_val"}
    # four steps from N(0, 0.02) weights: still about the loss of a uniform guess over 65 characters
    for value in figures.values():
        assert abs(value - math.log(65)) < 0.2


def test_the_torch_model_is_initialised_as_nanogpt() -> None:
    torch = pytest.importorskip("torch")
    import bench_gpt

    torch.manual_seed(0)
    model = bench_gpt.torch_gpt(torch, {"vocab": 65, "block": 8, "layers": 2, "heads": 2, "width": 16})
    assert model.lm_head.weight is model.wte.weight
    stds = {name: float(param.detach().std()) for name, param in model.named_parameters() if param.dim() >= 2}
    assert stds["h.0.mlp_proj.weight"] == pytest.approx(0.02 / math.sqrt(4), rel=0.3)
    assert stds["h.0.c_fc.weight"] == pytest.approx(0.02, rel=0.3)
