"""``import giagrad`` (and its modules for optional formats) never needs the optional extras."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_importing_giagrad_loads_no_optional_package():
    code = ("import sys, giagrad, giagrad.onnx, giagrad.safetensors_file\n"
            "loaded = {'onnx', 'onnxruntime', 'safetensors', 'mkdocs', 'mypy'} & set(sys.modules)\n"
            "assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
