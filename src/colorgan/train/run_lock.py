"""One trainer per run folder: an OS file lock that dies with its process."""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout


class TrainingError(RuntimeError):
    """Training cannot go on (locked run folder, diverged losses, nothing to resume)."""


class TrainingStopped(TrainingError):
    """SIGTERM or SIGINT: the run stopped at a step boundary with a checkpoint written; `--resume` continues it
    exactly. `signum` gives the exit status (128 + signum, as a shell reports a killed process)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class RunLock:
    """An exclusive OS file lock on the run folder (through `filelock`, on every OS); it dies with its process.
    The lock file holds the owner's PID, for people."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        # A .lock that is a symlink (or anything but a plain file) must not get its target truncated or locked.
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
            raise TrainingError(
                f"{self.path}: cannot open the run lock (it is not a plain file); it must be a plain file"
            )
        self.lock = FileLock(self.path)
        try:
            self.lock.acquire(timeout=0)
            fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
        except Timeout:
            raise TrainingError(f"{run_dir}: another training process is using this run folder") from None
        except OSError as exc:
            self.lock.release()
            raise TrainingError(f"{self.path}: cannot open the run lock ({exc.strerror or exc})") from None

    def release(self) -> None:
        self.lock.release()
