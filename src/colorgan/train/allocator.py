"""Keeping freed memory for reuse during training (glibc's malloc, Linux).

A training step frees and allocates the same large activations every step. By default glibc hands blocks of
more than about 128 KiB straight back to the system and asks for them again, and each page of memory that comes
back costs a page fault: about 20,000 a step for the shipped recipe on 2 cores, a quarter of the step's time
(docs/benchmarks.md). Raising the thresholds keeps the step's memory in the process instead; the peak is the same.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt's parameters (malloc.h) and the values training uses
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {
    M_MMAP_THRESHOLD: 32 * 2**20,  # glibc's largest: blocks up to 32 MiB come from the heap, not fresh maps
    M_TRIM_THRESHOLD: 2**30,  # free memory at the heap's top is kept up to 1 GiB, not returned
    M_TOP_PAD: 256 * 2**20,  # and the heap grows in 256 MiB steps
}


def keep_freed_memory() -> bool:
    """Apply SETTINGS to this process's malloc; False (and nothing changes) where it is not glibc's."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")  # musl and other C libraries have no such file: left as they are
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    applied = [mallopt(param, value) == 1 for param, value in SETTINGS.items()]  # each one, even if one fails
    return all(applied)
