"""The pixel cache: every usable training photo decoded once, resized, and stored as uint8 arrays on disk.

Built once per (files, sizes, mtimes, size) under `~/.cache/colorgan/<key>/` (or --cache-dir), by one process
while the others wait; read with pread, so an epoch decodes no JPEG and RAM never holds the dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout
from tqdm import tqdm

from ..io.atomic import atomic_write_text
from ..io.images import ImageReadError, Skipped, write_skipped_csv
from .data import DataError, Sample, decode_sample, find_samples

CACHE_VERSION = 1


@dataclass
class PixelCache:
    """Memory-mapped uint8 pixels of every usable sample, built once per (files, mtimes, size)."""

    folder: Path
    names: list[str]
    skipped: list[Skipped]
    color: np.ndarray  # (N, S, S, 3) uint8 memmap
    gray: np.ndarray  # (N, S, S) uint8 memmap
    offsets: dict[str, int] = field(default_factory=dict)  # byte offset of the rows in folder/{color,gray}.npy

    def __len__(self) -> int:
        return len(self.names)

    def read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> (color, gray) of `rows`, in that order, as fresh arrays.

        Read with pread rather than through the memory map: the data stays in the OS page cache (shared and
        evictable), so the process's resident memory holds one batch, not every page it ever touched, and
        does not grow with the dataset.
        """
        if not self.offsets:
            return self.color[rows], self.gray[rows]
        return (
            _pread_rows(self.folder / "color.npy", self.offsets["color"], self.color, rows),
            _pread_rows(self.folder / "gray.npy", self.offsets["gray"], self.gray, rows),
        )

    def write_skipped_csv(self, path: str | os.PathLike) -> None:
        write_skipped_csv(path, self.skipped)


def _pread_rows(path: Path, offset: int, like: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = np.empty((len(rows), *like.shape[1:]), like.dtype)
    row_bytes = like.itemsize * int(np.prod(like.shape[1:]))
    with open(path, "rb", buffering=0) as f:
        for i, row in enumerate(rows):
            f.seek(offset + int(row) * row_bytes)
            if f.readinto(memoryview(out[i]).cast("B")) != row_bytes:
                raise DataError(f"{path}: cache file is truncated; delete {path.parent} to rebuild it")
    return out


def default_cache_root() -> Path:
    return Path(os.environ.get("COLORGAN_CACHE", Path.home() / ".cache" / "colorgan"))


def cache_key(samples: list[Sample], size: int) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{size}".encode())
    for s in samples:
        for path in (s.color, s.gray):
            if path is not None:
                st = path.stat()
                digest.update(f"|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def load_cache(
    root: str | os.PathLike | Sequence[str | os.PathLike],
    size: int,
    cache_root: str | os.PathLike | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> PixelCache:
    """Find, check, decode and cache the data under `root` (one folder or several); reuse it when nothing changed."""
    samples, skipped = find_samples(root)
    if limit is not None:
        samples = samples[:limit]
    present = [s.color.exists() and (s.gray is None or s.gray.exists()) for s in samples]
    if not all(present):  # dangling symlinks, or files deleted since the listing: skipped like unreadable files
        skipped = skipped + [
            Skipped(s.name, "file not found (a dangling symlink?)") for s, ok in zip(samples, present) if not ok
        ]
        samples = [s for s, ok in zip(samples, present) if ok]
    folder = Path(cache_root or default_cache_root()) / cache_key(samples, size)
    if not (folder / "index.json").exists():
        lock = build_lock(folder.parent, folder.name)
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()  # one builder per cache: other processes (a node's DDP ranks) wait, then open its result
        except OSError as exc:
            raise DataError(
                f"{folder.parent}: cannot write the pixel cache ({exc.strerror or exc}); put it "
                "elsewhere with --cache-dir DIR (or $COLORGAN_CACHE)"
            ) from None
        try:
            if not (folder / "index.json").exists():
                _build_cache(folder, samples, skipped, size, progress)
        finally:
            lock.release()
    return _open_cache(folder)


def _build_cache(folder: Path, samples: list[Sample], skipped: list[Skipped], size: int, progress: bool) -> None:
    # Build beside the final folder and rename it into place: a crash mid-build leaves no half cache.
    _remove_dead_builds(folder.parent, folder.name)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n = len(samples)
    names: list[str] = []
    skipped = list(skipped)
    # Plain writes, not a memory map: a full disk is then an OSError here, not a SIGBUS that kills the process.
    try:
        with (
            _NpyWriter(tmp / "color.npy", (n, size, size, 3)) as color,
            _NpyWriter(tmp / "gray.npy", (n, size, size)) as gray,
        ):
            for sample in tqdm(samples, desc="caching images", unit="img", disable=not progress):
                try:
                    color_px, gray_px = decode_sample(sample, size)
                except ImageReadError as err:  # name the file at fault: in a pair it may be the gray one
                    at_fault = sample.gray_name if sample.gray and err.name == str(sample.gray) else sample.name
                    skipped.append(Skipped(at_fault, err.reason))
                    continue
                color.write(color_px)
                gray.write(gray_px)
                names.append(sample.name)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(
            f"{folder.parent}: cannot write the pixel cache ({exc.strerror or exc}); free some space "
            "or put it elsewhere with --cache-dir DIR (or $COLORGAN_CACHE)"
        ) from None
    if not names:
        shutil.rmtree(tmp, ignore_errors=True)
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3])
        raise DataError(f"no usable image among {len(samples) + len(skipped)} files ({reasons})")
    index = {
        "version": CACHE_VERSION,
        "size": size,
        "count": len(names),
        "names": names,
        "skipped": [[s.path, s.reason] for s in skipped],
    }
    atomic_write_text(tmp / "index.json", json.dumps(index))
    try:
        os.rename(tmp, folder)
    except OSError:  # another process finished the same cache first
        shutil.rmtree(tmp, ignore_errors=True)


class _NpyWriter:
    """Writes a uint8 .npy of `shape` row by row; rows never written (skipped samples) read as zeros."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path, self.shape = path, shape
        self.handle = open(path, "wb")  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> _NpyWriter:
        header = {"descr": "|u1", "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_1_0(self.handle, header)
        self.data_start = self.handle.tell()
        return self

    def write(self, row: np.ndarray) -> None:
        self.handle.write(np.ascontiguousarray(row, dtype=np.uint8).tobytes())

    def __exit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is None:
                self.handle.truncate(self.data_start + int(np.prod(self.shape)))
                self.handle.flush()
                os.fsync(self.handle.fileno())
        finally:
            self.handle.close()


def build_lock(cache_root: Path, key: str) -> FileLock:
    """The lock a cache's builder holds while it builds (an OS file lock: it dies with its process)."""
    return FileLock(cache_root / f"{key}.lock")


def _remove_dead_builds(cache_root: Path, own_key: str) -> None:
    """Delete half-built caches whose builder is gone (killed mid-build); they can be dataset-sized. A build is
    dead when its lock can be taken (no process list needed, so this works on every OS); those of `own_key` are
    dead already, since the caller holds that lock."""
    for partial in cache_root.glob("*.tmp-*"):
        key = partial.name.split(".tmp-")[0]
        if key == own_key:
            shutil.rmtree(partial, ignore_errors=True)
            continue
        lock = build_lock(cache_root, key)
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):  # being built right now (or the lock is not ours to take)
            continue
        try:
            shutil.rmtree(partial, ignore_errors=True)
        finally:
            lock.release()


def _open_cache(folder: Path) -> PixelCache:
    index = json.loads((folder / "index.json").read_text())
    count = index["count"]
    # Arrays are allocated full size and filled in order; skipped samples leave unused rows at the end.
    color = np.load(folder / "color.npy", mmap_mode="r")
    gray = np.load(folder / "gray.npy", mmap_mode="r")
    offsets = {"color": color.offset, "gray": gray.offset}
    skipped = [Skipped(p, r) for p, r in index["skipped"]]
    return PixelCache(folder, index["names"], skipped, color[:count], gray[:count], offsets)
