"""The wheel: built from this tree, installed outside the repo, it runs and colorizes with its bundled weights."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from colorgan import __version__

from .helpers import synthetic_photo

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_the_wheel_installs_and_colorizes_outside_the_repo(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("colorgan-*.whl")
    assert wheel.name.startswith(f"colorgan-{__version__}-")  # one version, from colorgan.__version__
    target = tmp_path / "site"
    started = time.monotonic()
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    install_s = time.monotonic() - started
    # Run from a folder outside the repo, the installed copy first on the path (ahead of the editable one).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import colorgan; print(colorgan.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    version = subprocess.run(
        [sys.executable, "-m", "colorgan", "--version"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.strip() == f"colorgan {__version__}"
    Image.fromarray(synthetic_photo(3, (90, 120))[..., 1]).save(elsewhere / "old.png")
    run = subprocess.run(
        [sys.executable, "-m", "colorgan", "colorize", "old.png", "--quiet"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert Image.open(elsewhere / "old_color.png").size == (120, 90)
    print(f"wheel {wheel.stat().st_size / 2**20:.1f} MiB, installed in {install_s:.1f} s")
