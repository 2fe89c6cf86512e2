"""The process's standard error, filtered at its file descriptor: native libraries write there directly."""

from __future__ import annotations

import contextlib
import os
import sys
import threading


@contextlib.contextmanager
def stderr_without(text: str):
    """Inside the block, lines written to file descriptor 2 (by Python or by native code) that contain `text` are
    dropped and every other line goes on to standard error, in order. A process started inside the block that
    keeps the descriptor writes through the filter, which then stays until it closes it."""
    sys.stderr.flush()
    target = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    unwanted = text.encode()

    def forward():
        with os.fdopen(read_end, "rb") as lines, os.fdopen(target, "wb") as out:
            for line in lines:
                if unwanted not in line:
                    out.write(line)
                    out.flush()

    thread = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        # Closes the pipe's last writer here, so the thread reaches the end and closes `target`; until then it is open.
        os.dup2(target, 2)
        thread.join(timeout=1.0)
