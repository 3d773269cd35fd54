"""giagrad.allocator: freed memory is kept for the next step (glibc), and the switch that turns it off."""

import os
import platform
import subprocess
import sys

import pytest

from giagrad import allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Each round allocates 40 arrays of 2 MB (a step's activations), touches them, frees them all.
# Prints the page faults of the last rounds per round, and how many 4 KiB pages a round touches.
ROUNDS = """
import resource
import numpy as np
import giagrad

def round_of_arrays():
    arrays = [np.ones(1 << 19, dtype=np.float32) for _ in range(40)]
    del arrays

for _ in range(3):
    round_of_arrays()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_of_arrays()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults / 10, 40 * (2 << 20) / 4096)
"""


def faults_per_round(keep: str) -> tuple[float, float]:
    env = {**os.environ, "GIAGRAD_KEEP_FREED_MEMORY": keep}
    out = subprocess.run([sys.executable, "-c", ROUNDS], env=env, capture_output=True, text=True, check=True).stdout
    faults, pages = (float(word) for word in out.split())
    return faults, pages


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_import_keeps_freed_memory_so_a_step_does_not_fault_its_pages_in_again():
    faults, pages = faults_per_round("1")
    assert faults < 0.05 * pages


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_turned_off_a_step_faults_its_pages_in_again():
    # glibc's own thresholds follow one freed block (2 MB): the rest of the 80 MB goes back to the
    # system at the end of every round. This is what the default above saves.
    faults, pages = faults_per_round("0")
    assert faults > 0.5 * pages


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_keep_freed_memory_reports_that_it_applied():
    assert allocator.keep_freed_memory() is True


@pytest.mark.skipif(GLIBC, reason="elsewhere than glibc there is nothing to set")
def test_keep_freed_memory_does_nothing_elsewhere():
    assert allocator.keep_freed_memory() is False


@pytest.mark.parametrize("bad", [-1, 1 << 31, 2.5, True, "1"])
def test_keep_freed_memory_rejects_bad_thresholds(bad):
    with pytest.raises(ValueError, match="keep_freed_memory: trim_threshold"):
        allocator.keep_freed_memory(trim_threshold=bad)
    with pytest.raises(ValueError, match="keep_freed_memory: mmap_threshold"):
        allocator.keep_freed_memory(mmap_threshold=bad)
