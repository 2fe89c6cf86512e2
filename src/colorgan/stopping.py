"""Stop training cleanly on SIGTERM or SIGINT: after the step in progress, with a checkpoint (`Trainer.fit`)."""

from __future__ import annotations

import signal
import threading


class StopOnSignal:
    """While a run trains, SIGTERM and SIGINT (a preempted machine, `timeout`, Ctrl-C) ask it to stop after the
    step in progress, with a checkpoint, instead of losing everything since the last one. A second signal
    acts as before. Not under torchrun, where every rank would have to agree on the same step."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, enabled: bool = True):
        self.signum = 0
        self.previous: dict[int, object] = {}
        if enabled and threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                # an ignored signal stays ignored (a job started with & from a script ignores SIGINT);
                # a handler set outside Python (None) cannot be put back, so it is left alone
                if signal.getsignal(signum) not in (signal.SIG_IGN, None):
                    self.previous[signum] = signal.signal(signum, self._request)

    def _request(self, signum: int, frame) -> None:
        self.signum = signum
        self.restore()  # a second signal stops the process the usual way

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}


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
