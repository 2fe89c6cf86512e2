"""At most `workers` colorizings at once, a bounded queue, 503 with Retry-After past it."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

from .limits import ApiError


# ---------------------------------------------------------------------------------------------- concurrency
class InferenceGate:
    """At most `workers` jobs at once on a dedicated thread pool, at most `queue` waiting; the rest get 503.

    A worker's permit is given back when its thread finishes, not when the request stops waiting, so a
    client that disconnects or times out can never let more than `workers` inferences run at once.
    """

    def __init__(self, workers: int, queue: int, timeout: float):
        self.workers, self.queue, self.timeout = workers, queue, timeout
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="colorgan-infer")
        self.admitted = 0  # waiting + running; touched only on the event loop
        self.running = 0
        self.served = 0
        self.refused = 0
        self.seconds_per_job = 1.0  # moving average, for Retry-After
        self._semaphore: asyncio.Semaphore | None = None

    def retry_after(self) -> int:
        backlog = (self.admitted + 1) / self.workers
        return int(min(60, max(1, math.ceil(self.seconds_per_job * backlog))))

    def busy(self, message: str) -> ApiError:
        self.refused += 1
        return ApiError(503, message, {"Retry-After": str(self.retry_after())})

    async def run(self, fn: Callable, *args) -> Any:
        if self.admitted >= self.workers + self.queue:
            raise self.busy(f"the server is busy ({self.workers} running, {self.queue} waiting); try again shortly")
        loop = asyncio.get_running_loop()
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.workers)
        semaphore = self._semaphore
        deadline = loop.time() + self.timeout
        self.admitted += 1
        try:
            await asyncio.wait_for(semaphore.acquire(), self.timeout)
        except asyncio.TimeoutError:
            self.admitted -= 1
            raise self.busy(f"no worker became free within {self.timeout:g} s; try again shortly") from None
        except BaseException:
            self.admitted -= 1
            raise
        self.running += 1
        started = time.perf_counter()

        def finished(_future) -> None:
            elapsed = time.perf_counter() - started
            with suppress(RuntimeError):  # the loop is closed: the server is shutting down
                loop.call_soon_threadsafe(self._release, semaphore, elapsed)

        try:
            future = self.executor.submit(fn, *args)
        except BaseException:
            self._release(semaphore, 0.0)
            raise
        future.add_done_callback(finished)
        try:
            remaining = max(0.001, deadline - loop.time())
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), remaining)
        except asyncio.TimeoutError:
            raise self.busy(f"the image took longer than {self.timeout:g} s; try a smaller one or later") from None

    def _release(self, semaphore: asyncio.Semaphore, elapsed: float) -> None:
        self.running -= 1
        self.admitted -= 1
        self.served += 1
        if elapsed > 0:
            self.seconds_per_job = 0.8 * self.seconds_per_job + 0.2 * elapsed
        semaphore.release()

    def state(self) -> dict:
        return {
            "running": self.running,
            "waiting": self.admitted - self.running,
            "served": self.served,
            "refused": self.refused,
        }

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
