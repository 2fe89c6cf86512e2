"""Training keeps the memory it frees (glibc's malloc), so a step's activations do not come back as page faults."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CHURN = """
import resource, sys, torch
from colorgan.train.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def churn():  # like a step's activations: a dozen 4 MiB blocks held together, then all freed; ten times
    for _ in range(10):
        held = [torch.ones(4 * 2**20 + 1000 * i, dtype=torch.uint8) for i in range(12)]
        del held
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_kept_memory_is_reused_without_page_faults():
    # glibc's default thresholds move with what the process does; fixed small ones make the default
    # behaviour certain: every freed block goes back to the system and faults in again when reused
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
    faults = {
        mode: int(
            subprocess.run(
                [sys.executable, "-c", CHURN, mode], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for mode in ("default", "keep")
    }
    pages = 10 * 12 * (4 * 2**20) // 4096
    assert faults["default"] > pages // 2
    assert faults["keep"] < pages // 100


def test_elsewhere_nothing_changes(monkeypatch):
    from colorgan.train import allocator

    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False
