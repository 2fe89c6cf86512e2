"""Colorizing on a real local Ray cluster (issue #34): the same files as one machine, resumable, a killed worker.

The cluster is `ray.init` with 2 CPUs in this process (a head node with its own raylet and worker processes),
started once for the module. The single-machine path must never import Ray.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorgan import Colorizer
from colorgan.cli.main import main

from .helpers import synthetic_photo

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

from colorgan.infer.cluster import ClusterSettings, colorize_on_cluster  # noqa: E402

LOCAL = ClusterSettings(address="local", workers=2)


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    yield
    ray.shutdown()


def _archive(root: Path, count: int, size=(90, 120)) -> Path:
    """Photos in nested folders, one name in two formats (two outputs), and a file that is not a photo."""
    for i in range(count):
        folder = root / ("scans" if i % 2 else "") / ("1950s" if i % 4 == 3 else "")
        folder.mkdir(parents=True, exist_ok=True)
        photo = synthetic_photo(i, (size[0] + 7 * (i % 4), size[1]))
        Image.fromarray(photo).save(folder / f"p{i:02d}.{'jpg' if i % 2 else 'png'}", quality=90)
    Image.fromarray(synthetic_photo(99, size)).save(root / "p00.gif")  # p00.gif -> p00.gif.png beside p00.png
    (root / "notes.jpg").write_text("not a photo")
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _worker_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"MapWorker" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_a_cluster_run_writes_the_same_files_as_one_machine_bit_for_bit(tiny_model, tmp_path):
    src = _archive(tmp_path / "archive", 11)
    alone = Colorizer.load(tiny_model).colorize_folder(src, tmp_path / "alone", progress=False)
    settings = ClusterSettings(address="local", workers=2, model=str(tiny_model))
    report = colorize_on_cluster(src, tmp_path / "cluster", settings, progress=False)
    assert len(report.done) == len(alone.done) == 12 and not report.existing
    assert sorted(report.skipped) == sorted(alone.skipped) and "notes.jpg" in report.skipped[0][0]
    ours, theirs = _files(tmp_path / "cluster"), _files(tmp_path / "alone")
    assert ours.keys() == theirs.keys() and "p00.gif.png" in ours and "scans/p01.jpg" in ours
    assert all(ours[name] == theirs[name] for name in ours)  # skipped.csv included


def test_videos_go_one_per_actor_and_come_out_as_one_machine_writes_them(tiny_model, tmp_path):
    """Two films and a photo: each film is its own unit (its temporal state on one actor), and every file, the
    audio and every frame's timing included, is the bytes the single-machine run writes."""
    from .clips import read_clip, write_clip

    src = tmp_path / "reels"
    (src / "1962").mkdir(parents=True)
    write_clip(src / "wedding.mp4", pan_frames_gray(12, seed=1))
    write_clip(src / "1962" / "picnic.ts", pan_frames_gray(9, seed=2), audio=False)
    Image.fromarray(synthetic_photo(3, (60, 80))).save(src / "poster.png")
    alone = Colorizer.load(tiny_model).colorize_folder(src, tmp_path / "alone", progress=False)
    settings = ClusterSettings(address="local", workers=2, model=str(tiny_model))
    report = colorize_on_cluster(src, tmp_path / "cluster", settings, progress=False)
    assert len(report.done) == len(alone.done) == 3 and not report.skipped and not report.existing
    ours, theirs = _files(tmp_path / "cluster"), _files(tmp_path / "alone")
    assert sorted(ours) == ["1962/picnic.ts.mp4", "poster.png", "wedding.mp4"] == sorted(theirs)
    assert all(ours[name] == theirs[name] for name in ours)
    film = read_clip(tmp_path / "cluster" / "wedding.mp4")
    assert len(film["rgb"]) == 12 and film["audio"] and film["size"] == (64, 48)


def pan_frames_gray(count: int, seed: int) -> list[np.ndarray]:
    from .clips import pan_frames

    return [np.repeat(f.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8) for f in pan_frames(count, seed=seed)]


def test_a_trial_then_a_rerun_finishes_the_rest_and_rewrites_nothing(tiny_model, tmp_path, capfd):
    src, out = _archive(tmp_path / "archive", 9), tmp_path / "out"
    args = ["colorize", str(src), "--out", str(out), "--model", str(tiny_model), "--cluster", "local", "--quiet"]
    ray.shutdown()  # this run starts Ray itself, as a user's first run does
    assert main([*args, "--workers", "2", "--limit", "3"]) == 0
    captured = capfd.readouterr()
    assert "log level" not in captured.err  # Ray's C++ core announces its log level on descriptor 2
    done, existing, skipped = _counts(captured.out)
    assert done + skipped == 3 and existing == 0
    first = {p: p.stat().st_mtime_ns for p in out.rglob("p*")}
    assert len(first) == done
    assert main([*args, "--workers", "2"]) == 0
    assert _counts(capfd.readouterr().out) == (10 - done, done, 1)
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())
    assert main([*args, "--workers", "2"]) == 0
    assert _counts(capfd.readouterr().out) == (0, 10, 1)


def _counts(summary: str) -> tuple[int, int, int]:
    """(colorized, already there, skipped) from the summary line."""
    match = re.search(r"colorized (\d+), already there (\d+), skipped (\d+)", summary)
    return tuple(int(g) for g in match.groups())


def test_a_worker_killed_mid_run_leaves_no_partial_file_and_the_run_still_finishes(tiny_model, tmp_path):
    src = _archive(tmp_path / "archive", 40, size=(600, 800))
    out = tmp_path / "out"
    settings = ClusterSettings(address="local", workers=2, model=str(tiny_model))
    result = {}
    run = threading.Thread(target=lambda: result.update(report=colorize_on_cluster(src, out, settings, progress=False)))
    run.start()
    deadline = time.monotonic() + 120
    while not any(out.rglob("p*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    killed = _worker_pids()
    assert killed, "no worker process found"
    os.kill(killed[0], signal.SIGKILL)  # mid-chunk: the first outputs are only just appearing
    run.join(timeout=300)
    assert not run.is_alive()
    report = result["report"]
    assert len(report.done) == 41 and [p for p, _ in report.skipped] == [str(src / "notes.jpg")]
    assert not list(out.rglob("*.tmp"))
    alone = Colorizer.load(tiny_model).colorize_folder(src, tmp_path / "alone", progress=False)
    assert len(alone.done) == 41 and _files(out) == _files(tmp_path / "alone")


def test_file_lists_and_csv_manifests_keep_paths_below_their_folder(tiny_model, tmp_path):
    src = _archive(tmp_path / "archive", 4)
    outside = tmp_path / "elsewhere.png"
    Image.fromarray(synthetic_photo(5)).save(outside)
    (src / "list.txt").write_text(
        f"p00.png\n# a comment\n{src / 'scans' / 'p01.jpg'}\n{outside}\nmissing.png\np00.png\n"
    )
    (src / "manifest.csv").write_text("path,year\np02.png,1950\nscans/1950s/p03.jpg,1961\n")
    settings = ClusterSettings(address="local", workers=1, model=str(tiny_model))
    report = colorize_on_cluster(src / "list.txt", tmp_path / "from_list", settings, progress=False)
    assert sorted(p.relative_to(tmp_path / "from_list").as_posix() for p in report.done) == [
        "p00.png",
        "scans/p01.jpg",
    ]
    reasons = dict(report.skipped)
    assert "outside the list's folder" in reasons[str(outside)] and reasons["missing.png"] == "not found"
    report = colorize_on_cluster(src / "manifest.csv", tmp_path / "from_csv", settings, progress=False)
    assert len(report.done) == 2 and (tmp_path / "from_csv" / "scans" / "1950s" / "p03.jpg").is_file()
    (src / "bad.csv").write_text("file\np02.png\n")
    assert main(["colorize", str(src / "bad.csv"), "--out", str(tmp_path / "x"), "--cluster", "local"]) == 2


def test_cluster_flags_that_do_not_fit_are_one_line(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    assert main(["colorize", str(tmp_path / "a"), "--limit", "3", "--out", str(tmp_path / "o")]) == 2
    assert "add --cluster" in capsys.readouterr().err
    assert main(["colorize", str(tmp_path / "a"), str(tmp_path / "a"), "--cluster", "local", "--out", "o"]) == 2
    assert main(["colorize", str(tmp_path / "a"), "--cluster", "local"]) == 2
    assert "--out FOLDER" in capsys.readouterr().err
    assert main(["colorize", str(tmp_path / "nope"), "--cluster", "local", "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    Image.fromarray(synthetic_photo(1)).save(tmp_path / "a" / "p.png")
    assert main(["colorize", str(tmp_path / "a"), "--cluster", "127.0.0.1:1", "--out", str(tmp_path / "o")]) == 2
    assert "cannot reach the Ray cluster at '127.0.0.1:1'" in capsys.readouterr().err


def test_the_single_machine_path_never_imports_ray(tiny_model, tmp_path):
    photo = tmp_path / "a.png"
    Image.fromarray(np.asarray(synthetic_photo(1))).save(photo)
    code = (
        "import sys; from colorgan.cli.main import main; "
        f"rc = main(['colorize', {str(photo)!r}, '--model', {str(tiny_model)!r}, '--quiet']); "
        "assert rc == 0, rc; assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
