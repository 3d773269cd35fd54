"""Keep the memory one training step frees for the next step, instead of giving it back to the system.

A training step allocates and frees the same large arrays every time: activations, their
gradients, the optimizer's temporaries. With glibc's ``malloc`` (Linux) a freed block that came
from ``mmap`` goes back to the kernel at once, and so does free memory at the top of the heap
beyond the *trim threshold*. The next step's arrays then start on fresh pages, which the kernel
maps and zeroes one 4 KiB page at a time, about 1.6 microseconds each. glibc raises both
thresholds by itself when big blocks are freed, but only to the size of one block (the trim
threshold to twice that). A step frees far more than one block at once: on the char GPT of
``recipes.char_gpt``, each iteration faulted in about 50 MB of pages again (12,600 page faults).

:func:`keep_freed_memory` sets both thresholds once, through ``mallopt``. Blocks up to
``mmap_threshold`` come from the heap, and up to ``trim_threshold`` bytes of free heap are kept
for reuse. ``import giagrad`` calls it with the defaults below unless the environment variable
``GIAGRAD_KEEP_FREED_MEMORY`` is ``0``. Elsewhere than glibc (macOS, Windows, musl) it does
nothing and returns ``False``.

The cost is memory: the process holds what it freed (up to ``trim_threshold``), and a peak
can be a little higher when memory freed earlier does not fit later requests. Measured on a
2-core machine: the char GPT's training iteration (``python benchmarks/bench_gpt.py
--profile``) took 77 ms and 12,600 page faults before, 56 ms and 1,300 after, its run's peak
resident memory 113 MB before and 116 MB after; 200 steps of the CNN recipe's model
(``python benchmarks/bench_memory_cnn.py``) peak at 181 MB instead of 163 MB, and hold 179 MB
instead of 85 MB before training (what loading the images freed is kept). numpy itself caches
the memory of small arrays only.

Examples
--------
>>> from giagrad import allocator
>>> allocator.keep_freed_memory() in (True, False)  # False where the C library is not glibc
True
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

# glibc's own ceiling for its self-adjusting mmap threshold on 64-bit systems: larger blocks are
# rare (whole datasets, say) and are best mapped and unmapped on their own.
MMAP_THRESHOLD = 32 << 20
# What a process may keep free: several steps' worth of a small model's arrays, little beside a
# training process's resident size.
TRIM_THRESHOLD = 256 << 20

# mallopt's parameter numbers, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(trim_threshold: int = TRIM_THRESHOLD, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Let ``malloc`` keep up to ``trim_threshold`` bytes of freed memory, and serve blocks up to
    ``mmap_threshold`` bytes from it; ``True`` if it did (glibc only).

    Setting either threshold turns off glibc's own adjustment of both, so both are always set:
    the trim threshold alone would leave every block over 128 KiB to ``mmap``, which is slower
    than before (105 ms instead of 77 for the char GPT's iteration).

    Parameters
    ----------
    trim_threshold : int
        Bytes of free memory at the top of the heap that ``free`` leaves to the process.
    mmap_threshold : int
        Blocks up to this many bytes come from the heap, larger ones from ``mmap``.

    Returns
    -------
    bool
        Whether both settings took effect (``False`` off glibc, or for a value glibc refuses).

    Examples
    --------
    >>> keep_freed_memory(trim_threshold=512 << 20) in (True, False)
    True
    """
    for name, value in (("trim_threshold", trim_threshold), ("mmap_threshold", mmap_threshold)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 31:
            raise ValueError(f"keep_freed_memory: {name} must be an int in [0, 2**31), got {value!r}")
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def _keep_freed_memory_on_import() -> bool:
    """What ``import giagrad`` does: :func:`keep_freed_memory` unless ``GIAGRAD_KEEP_FREED_MEMORY=0``."""
    if os.environ.get("GIAGRAD_KEEP_FREED_MEMORY", "1").strip() == "0":
        return False
    return keep_freed_memory()
