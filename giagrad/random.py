"""The one random number generator behind all of giagrad's randomness.

``manual_seed(s)`` makes initialisation, dropout, shuffling and random tensors reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["manual_seed", "generator", "get_rng_state", "set_rng_state"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed giagrad's generator and return it.

    Examples
    --------
    >>> generator = giagrad.manual_seed(0)
    >>> a = giagrad.randn(3)
    >>> generator = giagrad.manual_seed(0)
    >>> np.array_equal(giagrad.randn(3).data, a.data)
    True
    """
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """Return the current generator (replaced by every ``manual_seed``)."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """Return the generator's state as a plain dict (for checkpoints)."""
    return dict(_generator.bit_generator.state)  # a fresh dict each call, as before


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    _generator.bit_generator.state = state
