"""``giagrad.cuda``: the answers a PyTorch script asks before choosing its device.

giagrad computes on the CPU only, so ``is_available()`` is False and ``device_count()`` is 0;
``device = giagrad.device("cuda" if giagrad.cuda.is_available() else "cpu")`` picks the CPU.
Seeding functions are accepted and do nothing (there is no GPU generator to seed).

Examples
--------
>>> giagrad.cuda.is_available()
False
"""

from __future__ import annotations

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all"]


def is_available() -> bool:
    """Always False: giagrad has no GPU backend."""
    return False


def device_count() -> int:
    """Always 0."""
    return 0


def manual_seed(seed: int) -> None:
    """Accepted and ignored (no GPU generator); seed with ``giagrad.manual_seed``."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored (no GPU generator); seed with ``giagrad.manual_seed``."""
