"""Decode untrusted uploads in child processes that can be stopped.

A Python thread cannot be stopped, so a decode that outlives its request (a 49-megapixel progressive JPEG with
100 scans takes about 10 s) kept its server worker busy long after the client had its 503. Here each decode
runs in a long-lived child process; one that misses its deadline is killed and replaced, and the worker is
free at once. A decoder that crashes (a segfault in a codec) takes only its child with it.

The child sends back what colorizing needs, the gray channel and the alpha, not the full RGB: a third of
the bytes through the pipe.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection

import numpy as np

from ..io.images import ImageReadError, LoadedImage, animated_frames, gray_channel, load_image


class DecodeTimeout(Exception):
    """The decode did not finish by its deadline; its child process was killed."""


def _decode_loop(conn: Connection, max_pixels: int) -> None:
    """The child: decode each (label, bytes) it is sent, answer ("ok", gray, alpha) or ("error", reason)."""
    while True:
        try:
            label, raw = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        try:
            if frames := animated_frames(raw):  # one frame answered for many would change it without a word
                raise ImageReadError(
                    label,
                    f"an animation of {frames} frames; the API answers one still photo "
                    "(`colorgan colorize FILE` keeps every frame)",
                )
            loaded = load_image(raw, max_pixels, name=label)
            answer = ("ok", np.ascontiguousarray(gray_channel(loaded)), loaded.alpha)
        except ImageReadError as err:
            answer = ("error", err.reason)
        except MemoryError:
            answer = ("error", "cannot decode (out of memory)")
        del raw
        conn.send(answer)


class _Decoder:
    def __init__(self, context, max_pixels: int):
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_decode_loop, args=(child, max_pixels), daemon=True, name="colorgan-decode"
        )
        self.process.start()
        child.close()

    def decode(self, raw: bytes, label: str, timeout: float) -> LoadedImage:
        self.conn.send((label, raw))
        if not self.conn.poll(max(0.0, timeout)):
            raise DecodeTimeout(label)
        answer = self.conn.recv()
        if answer[0] == "error":
            raise ImageReadError(label, answer[1])
        _, gray, alpha = answer
        # A gray LoadedImage: colorizing reads only the gray channel, and the repeat is a view, not a copy.
        return LoadedImage(np.broadcast_to(gray[..., None], (*gray.shape, 3)), alpha, True)

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class DecoderPool:
    """Up to `size` idle decoder processes, started on demand (spawned: the server's threads are not forked).

    `decode` raises DecodeTimeout when `timeout` seconds pass first, ImageReadError for a file it cannot read
    (or a decoder that died on it)."""

    def __init__(self, size: int, max_pixels: int):
        self.size, self.max_pixels = size, max_pixels
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Decoder] = []
        self._lock = threading.Lock()
        self._closed = False

    def warm_up(self) -> None:
        """Start the processes now, so the first uploads do not wait for Python to start."""
        fresh = [_Decoder(self._context, self.max_pixels) for _ in range(self.size)]
        for decoder in fresh:
            self._put_back(decoder)

    def decode(self, raw: bytes, label: str, timeout: float) -> LoadedImage:
        decoder = self._take()
        try:
            loaded = decoder.decode(raw, label, timeout)
        except DecodeTimeout:
            decoder.kill()
            raise
        except (EOFError, OSError):  # the child died mid-decode (a crashing codec)
            decoder.kill()
            raise ImageReadError(label, "cannot decode (the decoder crashed on this file)") from None
        except ImageReadError:
            self._put_back(decoder)
            raise
        self._put_back(decoder)
        return loaded

    def _take(self) -> _Decoder:
        with self._lock:
            while self._idle:
                decoder = self._idle.pop()
                if decoder.process.is_alive():
                    return decoder
                decoder.kill()
        return _Decoder(self._context, self.max_pixels)

    def _put_back(self, decoder: _Decoder) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.size:
                self._idle.append(decoder)
                return
        decoder.kill()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for decoder in idle:
            decoder.kill()
