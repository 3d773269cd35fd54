"""``giagrad.backends``: the flags PyTorch scripts set (``backends.cudnn.benchmark = True``).

They have no effect in giagrad (numpy on the CPU) and exist so such lines run unchanged;
``backends.mps.is_available()`` and ``backends.cuda.is_built()`` answer False.
"""

from __future__ import annotations

from types import SimpleNamespace

__all__ = ["cudnn", "mps", "cuda"]


def _false() -> bool:
    return False


cudnn = SimpleNamespace(benchmark=False, deterministic=False, enabled=False, is_available=_false)
mps = SimpleNamespace(is_available=_false, is_built=_false)
cuda = SimpleNamespace(is_built=_false)
