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
