"""Bounded reads: what read_regular_file reads and refuses, and what memory it asks for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from colorgan.io.atomic import read_regular_file


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
        "from colorgan.io.atomic import read_regular_file\n"
        f"assert len(read_regular_file({str(path)!r}, 8 << 30)) == 5000\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_sigterm_during_a_write_leaves_no_temp_file(tmp_path):
    import os
    import signal
    import time

    from colorgan.infer.stopping import ExitOnSigterm
    from colorgan.io.atomic import atomic_output

    target = tmp_path / "film_color.mp4"
    with pytest.raises(SystemExit) as stop, ExitOnSigterm(), atomic_output(target) as tmp:
        tmp.write_bytes(b"half a film")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert stop.value.code == 143
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_rerun_removes_the_temps_its_output_left_and_no_others(tiny_model, tmp_path):
    from PIL import Image

    from colorgan.cli.main import main

    from .helpers import synthetic_photo

    Image.fromarray(synthetic_photo(0)).convert("L").save(tmp_path / "a.png")
    stale = tmp_path / ".a_color.png.0123abcd.tmp"
    other = tmp_path / ".b_color.png.0123abcd.tmp"
    stale.write_bytes(b"x")
    other.write_bytes(b"y")
    assert main(["colorize", str(tmp_path / "a.png"), "--model", str(tiny_model), "--quiet"]) == 0
    assert not stale.exists() and other.exists() and (tmp_path / "a_color.png").is_file()
