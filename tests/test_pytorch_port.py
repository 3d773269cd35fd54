"""A PyTorch training script runs on giagrad after changing its import lines only.

The script (tests/porting/pytorch_cnn_script.py) uses Conv2d, BatchNorm2d, Dropout, Linear,
CrossEntropyLoss with label smoothing, AdamW, StepLR, a DataLoader over a TensorDataset split by
random_split, train/eval modes, no_grad, clip_grad_norm_, .to(device), torch.manual_seed,
state_dict save/load with map_location and weights_only, and the usual tensor habits
(``from_numpy``, ``flatten``, ``argmax(keepdim=True)``, ``eq``/``view_as``, ``size(0)``,
``allclose``). Its import lines are rewritten (``import torch`` -> ``import giagrad as torch``,
``torch.x`` -> ``giagrad.x``) and nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "porting" / "pytorch_cnn_script.py"


def port_imports(source: str) -> str:
    """The script with giagrad in its import lines (and only there)."""
    ported = []
    for line in source.splitlines():
        if re.match(r"\s*import torch\s*$", line):
            line = line.replace("import torch", "import giagrad as torch")
        elif re.match(r"\s*(import|from) torch[.\s]", line):
            line = re.sub(r"\btorch\b", "giagrad", line)
        ported.append(line)
    return "\n".join(ported) + "\n"


def run(source: str) -> dict:
    namespace = {"__name__": "__main__"}
    exec(compile(source, str(SCRIPT), "exec"), namespace)
    return namespace


def test_only_import_lines_change():
    source = SCRIPT.read_text()
    ported = port_imports(source)
    changed = [(a, b) for a, b in zip(source.splitlines(), ported.splitlines()) if a != b]
    assert changed and all(a.lstrip().startswith(("import ", "from ")) for a, _ in changed)
    assert len(source.splitlines()) == len(ported.splitlines())


def test_the_script_runs_on_giagrad_and_learns(capsys):
    namespace = run(port_imports(SCRIPT.read_text()))
    printed = capsys.readouterr().out
    assert "epoch 3:" in printed and "giagrad" in type(namespace["model"]).__mro__[1].__module__
    assert namespace["final_accuracy"] > 0.9


def test_the_original_runs_on_pytorch(capsys):
    pytest.importorskip("torch")
    namespace = run(SCRIPT.read_text())
    assert "epoch 3:" in capsys.readouterr().out
    assert namespace["final_accuracy"] > 0.9
