"""Bounded reads: what read_regular_file reads and refuses, and what memory it asks for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from colorgan.atomic import read_regular_file


def test_reads_a_file_whole_below_its_limit(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 40)
    assert read_regular_file(path, 1 << 33) == bytes(range(256)) * 40
    assert read_regular_file(path, 10240) == bytes(range(256)) * 40
    (tmp_path / "empty").write_bytes(b"")
    assert read_regular_file(tmp_path / "empty", 10) == b""


def test_a_file_over_its_limit_is_refused_with_its_size(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 1001)
    with pytest.raises(OSError, match="file too large"):
        read_regular_file(path, 1000)


def test_a_generous_limit_allocates_only_what_the_file_holds(tmp_path):
    """Under a 1 GiB address-space limit (containers, HPC, ulimit -v) an 8 GiB limit must not allocate 8 GiB."""
    path = tmp_path / "small.bin"
    path.write_bytes(b"y" * 5000)
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from colorgan.atomic import read_regular_file\n"
        f"assert len(read_regular_file({str(path)!r}, 8 << 30)) == 5000\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
