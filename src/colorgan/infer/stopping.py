"""Stop writing photos or films cleanly on SIGTERM: through every `finally`, so no temp file is left behind."""

from __future__ import annotations

import signal
import threading


class ExitOnSigterm:
    """While photos or films are written, SIGTERM raises SystemExit(143) in the main thread instead of ending
    the process where it stands, so every `finally` and atomic writer removes its temp file on the way out."""

    def __enter__(self) -> ExitOnSigterm:
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGTERM)
            if current not in (signal.SIG_IGN, None):
                self.previous = signal.signal(signal.SIGTERM, self._exit)
        return self

    @staticmethod
    def _exit(signum: int, frame) -> None:
        raise SystemExit(128 + signum)

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
