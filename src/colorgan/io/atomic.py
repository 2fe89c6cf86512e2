"""Safe file I/O: atomic writes (a reader sees the old file or the whole new one, never a torn one) and bounded
reads of regular files only (a FIFO, a device or an endless file never hangs or floods a reader)."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename over `path`, fsync the folder.

    On any failure (disk full, file-size limit, kill) the temp file is removed and `path` is untouched.
    """
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """A temp file name beside `path` for a writer that needs a name (a video muxer): renamed over `path` when
    the block ends, removed if it raises, so `path` is never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new `.NAME.RANDOM.tmp` beside `path`, with the permissions a plain open() would give the file (the
    umask's, or the mode of the file being replaced), not mkstemp's owner-only 0600."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        if mode is not None:  # keep the replaced file's permissions (os.fchmod is POSIX-only before 3.13)
            with contextlib.suppress(OSError):
                os.fchmod(fd, mode) if hasattr(os, "fchmod") else os.chmod(tmp, mode)
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    # surrogateescape: file names that are not valid UTF-8 (os.fsdecode's surrogates) are written back as the
    # bytes they were, instead of failing after the work is done.
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")  # what _create_temp makes, and nothing else


def remove_stale_temps(folder: str | os.PathLike, recursive: bool = False) -> int:
    """Delete temp files left by a killed writer (in `folder`, or its whole tree); returns how many."""
    count = 0
    for tmp in (Path(folder).rglob if recursive else Path(folder).glob)(".*.tmp"):
        if _TEMP_NAME.match(tmp.name) and tmp.is_file() and not tmp.is_symlink():
            with contextlib.suppress(OSError):
                tmp.unlink()
                count += 1
    return count


def read_regular_file(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of `path` if it is a regular file of at most `limit` bytes; OSError naming the reason if not.

    Opened non-blocking, so a FIFO named like a photo returns at once instead of waiting for a writer, and
    checked with fstat on the open descriptor, so what is read is what was checked.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb", buffering=0) as handle:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, device or socket)")
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"file too large ({info.st_size:,} bytes, limit {limit:,})")
        # Read what fstat says is there, plus one byte to see it grow: a buffer of `limit` bytes would be
        # allocated before reading, which fails under a memory limit even for a small file.
        chunks, total = [], 0
        while chunk := handle.read(min(info.st_size + 1, limit + 1 - total) or 1):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew while being read
                raise OSError(errno.EFBIG, f"file too large (over {limit:,} bytes)")
    return b"".join(chunks)


def remove_stale_temps_of(path: str | os.PathLike) -> int:
    """Delete the temp files a killed writer left for this one output (`.NAME.RANDOM.tmp` beside it)."""
    path = Path(path)
    count = 0
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if _TEMP_NAME.match(tmp.name) and tmp.name[1 : -len(".12345678.tmp")] == path.name and tmp.is_file():
            with contextlib.suppress(OSError):
                tmp.unlink()
                count += 1
    return count
