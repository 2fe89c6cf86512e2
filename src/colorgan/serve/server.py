"""Running the app: uvicorn with a header timeout, in the foreground or on a thread (tests, notebooks)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager, suppress

from fastapi import FastAPI

from .app import create_app
from .limits import ServeLimits


# ---------------------------------------------------------------------------------------------- running it
def _quiet_multipart_logs() -> None:
    """python-multipart logs every malformed body as a warning; the client already gets it as a 400."""
    import logging

    logging.getLogger("python_multipart").setLevel(logging.ERROR)


def _http_protocol(head_timeout: float):
    """uvicorn's h11 protocol with a deadline for each request's line and headers.

    uvicorn alone waits forever for a connection that sends nothing, or trickles its headers in (slowloris);
    here such a connection is closed after `head_timeout` seconds. Falls back to uvicorn's default protocol
    if its internals ever change.
    """
    try:
        from uvicorn.protocols.http.h11_impl import H11Protocol
    except ImportError:
        return "auto"
    if not all(
        hasattr(H11Protocol, name)
        for name in ("connection_made", "handle_events", "on_response_complete", "connection_lost")
    ):
        return "auto"

    class TimedH11Protocol(H11Protocol):
        _head_timer = None
        _waiting_since_cycle = None

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            self._waiting_since_cycle = self.cycle
            self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.cycle is self._waiting_since_cycle and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_head_timer()

        def handle_events(self) -> None:
            super().handle_events()
            if self._head_timer is not None and self.cycle is not self._waiting_since_cycle:
                self._cancel_head_timer()  # a request line and its headers have arrived

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_head_timer()  # the next request on this connection gets the same deadline

        def connection_lost(self, exc) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

    return TimedH11Protocol


def uvicorn_config(
    app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info", access_log: bool = True
):
    import uvicorn

    _quiet_multipart_logs()
    limits = getattr(app.state, "limits", None) or ServeLimits()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        http=_http_protocol(limits.head_timeout),
        timeout_keep_alive=5,  # idle keep-alive connections are closed after 5 s
        timeout_graceful_shutdown=10,
        server_header=False,
        proxy_headers=False,
        workers=None,
        h11_max_incomplete_event_size=16 * 1024,  # request line + headers
    )


def warm_up(colorizer) -> None:
    """One small inference, so the first user does not pay for lazy initialisation."""
    import numpy as np

    colorizer.colorize(np.full((64, 64), 128, np.uint8))


def run_server(
    colorizer,
    limits: ServeLimits | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    warmup: bool = True,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    limits = limits or ServeLimits()
    if warmup:
        warm_up(colorizer)
    app = create_app(colorizer, limits)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"colorgan: serving {colorizer.info().get('model', '')} at http://{shown}:{port}/ "
        f"({limits.workers} worker(s), queue {limits.queue}); Ctrl-C stops",
        flush=True,
    )
    with suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it has already handled
        uvicorn.Server(uvicorn_config(app, host, port, log_level)).run()


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
    """Run a real uvicorn server on a background thread (tests, notebooks); yields its base URL."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn_config(app, host, port, log_level, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="colorgan-serve")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
