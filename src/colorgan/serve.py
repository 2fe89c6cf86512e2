"""The web service: a page at `/` and an HTTP API that colorizes uploads with a `Colorizer`.

    POST /api/colorize   multipart: image (file), size (int, optional), format (png|jpeg|webp, optional)
    GET  /api/info       the model, its training size and the limits
    GET  /healthz        liveness, with the queue's state
    GET  /docs           OpenAPI docs (FastAPI's Swagger UI)

Safety under load and bad input:
- The body is read by hand from the ASGI stream: Content-Length is checked before reading, the bytes are counted
  while reading (413 past the limit) and the whole read has a deadline (408). The multipart parts are kept in
  memory, so nothing is ever written to disk, and no field is ever taken as a path.
- Uploads are judged by their content (415 for non-images), and the pixel count is checked from the header
  before any pixel is decoded (413).
- At most `workers` inferences run at once, on a dedicated thread pool off the event loop; at most `queue` more
  wait for a worker. Past that, and for requests that wait longer than `timeout`, the answer is 503 with
  Retry-After. The number of bodies being received at once is bounded too, so memory stays bounded.
- Every error is JSON: {"detail": "a readable message"}.
"""

from __future__ import annotations

import asyncio
import io
import math
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .decoder_pool import DecoderPool, DecodeTimeout
from .images import DEFAULT_MAX_PIXELS, ImageReadError

MB = 1024 * 1024
FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
FORMAT_ALIASES = {"jpg": "jpeg"}
MAX_SIDE = {"WEBP": 16383, "JPEG": 65500}  # what the encoders can store
MIN_SIZE = 16
MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the small fields, on top of the image bytes
MAX_PARTS = 8
MAX_FIELD_BYTES = 1024  # a non-file field (size, format)
KNOWN_FIELDS = ("size", "format")
CLOSE = {"Connection": "close"}  # for answers sent before the whole body was read
DRAIN_BYTES = 32 * MB  # an over-limit upload is read (and dropped) up to this much more, so the client sees the 413
DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class ServeLimits:
    """Everything the service refuses past; all of it is shown in /api/info."""

    max_upload_bytes: int = 25 * MB  # the image file; the whole body may be MULTIPART_SLACK more
    max_pixels: int = DEFAULT_MAX_PIXELS  # width x height of an upload (decompression bombs)
    workers: int = 1  # inferences at once
    queue: int = 16  # requests waiting for a worker beyond those; more get 503
    timeout: float = 120.0  # seconds a request may wait for a worker and run; then 503
    body_timeout: float = 60.0  # seconds to receive a whole upload; then 408
    min_upload_rate: float = 16 * 1024  # bytes/s an upload must average once `upload_grace` has passed; then 408
    upload_grace: float = 5.0  # seconds before the rate counts, and the longest silence allowed mid-upload
    head_timeout: float = 10.0  # seconds to receive a request's line and headers; then the connection is closed
    max_size: int = 1024  # the largest working size (`size`) a request may ask for
    max_uploads: int | None = None  # bodies received at once; None = 2 * (workers + queue) + 4

    def __post_init__(self):
        problems = []
        if self.max_upload_bytes < 1:
            problems.append("max_upload_bytes must be >= 1")
        if self.max_pixels < 1:
            problems.append("max_pixels must be >= 1")
        if self.workers < 1:
            problems.append("workers must be >= 1")
        if self.queue < 0:
            problems.append("queue must be >= 0")
        if not self.min_upload_rate >= 0 or not self.upload_grace > 0:
            problems.append("min_upload_rate must be >= 0 and upload_grace > 0")
        if not self.timeout > 0 or not self.body_timeout > 0 or not self.head_timeout > 0:
            problems.append("timeouts must be > 0 seconds")
        if self.max_size < MIN_SIZE:
            problems.append(f"max_size must be >= {MIN_SIZE}")
        if self.max_uploads is not None and self.max_uploads < 1:
            problems.append("max_uploads must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def upload_slots(self) -> int:
        return self.max_uploads or 2 * (self.workers + self.queue) + 4

    @property
    def max_work_pixels(self) -> int:
        """The most pixels the network may see for one photo (an elongated photo's short side gets `size`)."""
        return 4 * self.max_size * self.max_size

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_bytes + MULTIPART_SLACK

    def as_dict(self) -> dict:
        return {**asdict(self), "max_uploads": self.upload_slots, "max_work_pixels": self.max_work_pixels,
                "formats": list(FORMATS), "min_size": MIN_SIZE}


class ApiError(Exception):
    """An error answer: status, readable message, optional headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


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
        return {"running": self.running, "waiting": self.admitted - self.running, "served": self.served,
                "refused": self.refused}

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------------------------- the body
@dataclass
class FormPart:
    name: str
    filename: str | None
    content_type: str
    data: bytearray


class _FormCollector:
    """Callbacks for python-multipart's streaming parser that keep every part in memory, within limits."""

    def __init__(self, limits: ServeLimits):
        self.limits = limits
        self.parts: list[FormPart] = []
        self.finished = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = b""
        self._value = b""
        self._current: FormPart | None = None

    def callbacks(self) -> dict:
        return {"on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end, "on_end": self.on_end}

    def on_part_begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise ApiError(422, f"too many form fields (at most {MAX_PARTS})")
        self._headers = []

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers.append((self._field.strip().lower(), self._value.strip()))
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        headers = dict(self._headers)
        disposition, options = parse_options_header(headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise ApiError(400, "malformed multipart body: a part has no Content-Disposition: form-data; name=...")
        filename = options.get(b"filename")
        self._current = FormPart(
            name=options[b"name"].decode("utf-8", "replace"),
            filename=None if filename is None else filename.decode("utf-8", "replace"),
            content_type=headers.get(b"content-type", b"").decode("latin-1"),
            data=bytearray(),
        )
        self.parts.append(self._current)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current
        if part is None:
            raise ApiError(400, "malformed multipart body")
        if part.name == "image":
            part.data += data[start:end]
            if len(part.data) > self.limits.max_upload_bytes:
                raise ApiError(413, f"file too large: the limit is {_megabytes(self.limits.max_upload_bytes)}")
        elif part.name in KNOWN_FIELDS and part.filename is None:
            part.data += data[start:end]
            if len(part.data) > MAX_FIELD_BYTES:
                raise ApiError(422, f"form field {part.name!r} is too long (at most {MAX_FIELD_BYTES} bytes)")
        # Other parts are not kept (the body's byte limit still counts them).

    def on_part_end(self) -> None:
        self._current = None

    def on_end(self) -> None:
        self.finished = True


async def read_form(request: Request, limits: ServeLimits) -> list[FormPart]:
    """Receive and parse a multipart body in memory, with a byte limit and a deadline."""
    mime, options = parse_options_header(request.headers.get("content-type", ""))
    if mime != b"multipart/form-data":
        raise ApiError(415, "send the photo as multipart/form-data with a file field named 'image'")
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise ApiError(400, "malformed multipart body: missing or invalid boundary")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.body_timeout
    too_large = ApiError(413, f"file too large: the limit is {_megabytes(limits.max_upload_bytes)}")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid Content-Length")
        if int(declared) > limits.max_body_bytes:
            if int(declared) <= limits.max_body_bytes + DRAIN_BYTES:
                await _drain(request, deadline)
            raise too_large
    collector = _FormCollector(limits)
    try:
        parser = MultipartParser(boundary, collector.callbacks(), max_header_count=8, max_header_size=1024)
    except (FormParserError, ValueError):
        raise ApiError(400, "malformed multipart body: invalid boundary") from None
    received = 0
    more = True
    started = loop.time()
    try:
        while more:
            message = await _receive(request, deadline, limits)
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            received += len(chunk)
            if received > limits.max_body_bytes:
                raise too_large
            elapsed = loop.time() - started
            # A trickle (a byte a second) would hold an upload slot for the whole body timeout: past the grace
            # period an upload must keep up a minimum average rate.
            if more and elapsed > limits.upload_grace and received < limits.min_upload_rate * elapsed:
                raise ApiError(408, f"the upload is too slow ({received / elapsed:,.0f} bytes/s; at least "
                                    f"{limits.min_upload_rate:,.0f} are needed)")
            if chunk:
                try:
                    parser.write(chunk)
                except FormParserError as exc:
                    raise ApiError(400, f"malformed multipart body ({_first_line(exc)})") from None
    except ApiError as err:
        if err.status == 413 and more:
            await _drain(request, deadline)
        raise
    try:
        parser.finalize()
    except FormParserError as exc:
        raise ApiError(400, f"malformed multipart body ({_first_line(exc)})") from None
    if not collector.finished:
        raise ApiError(400, "malformed multipart body: it ends before the closing boundary")
    return collector.parts


async def _receive(request: Request, deadline: float, limits: ServeLimits) -> dict:
    loop = asyncio.get_running_loop()
    wait = min(deadline - loop.time(), limits.upload_grace)  # silence longer than the grace also ends it
    try:
        message = await asyncio.wait_for(request.receive(), max(0.001, wait))
    except asyncio.TimeoutError:
        raise ApiError(408, f"the upload did not arrive within {limits.body_timeout:g} s (or stalled for "
                            f"{limits.upload_grace:g} s)") from None
    if message["type"] == "http.disconnect":
        raise ApiError(400, "the client disconnected during the upload")
    return message


async def _drain(request: Request, deadline: float) -> None:
    """Read and drop the rest of an over-limit upload (within bounds), so the client gets to read the 413:
    a server that closes a socket with unread data resets the connection, and the answer can be lost."""
    loop = asyncio.get_running_loop()
    end = min(deadline, loop.time() + DRAIN_SECONDS)
    drained = 0
    while drained <= DRAIN_BYTES:
        try:
            message = await asyncio.wait_for(request.receive(), max(0.001, end - loop.time()))
        except asyncio.TimeoutError:
            return
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return
        drained += len(message.get("body", b""))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def _megabytes(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB else f"{n:,} bytes"


def _safe_label(filename: str | None) -> str:
    """A display name for messages: the base name only, printable characters, bounded length."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:80]
    return base or "upload"


def _parse_options(parts: list[FormPart], limits: ServeLimits) -> tuple[FormPart, int | None, str]:
    images = [p for p in parts if p.name == "image"]
    if not images:
        others = [p.name for p in parts if p.filename is not None]
        hint = f" (a file came in the field {others[0][:40]!r})" if others else ""
        raise ApiError(422, f"no photo: send the file in a multipart field named 'image'{hint}")
    if len(images) > 1:
        raise ApiError(422, "send one photo per request (several 'image' fields)")
    fields = {p.name: bytes(p.data).decode("utf-8", "replace").strip() for p in parts
              if p.name in KNOWN_FIELDS and p.filename is None}
    size = None
    if fields.get("size"):
        text = fields["size"]
        if not (text.isascii() and text.isdigit()) or not MIN_SIZE <= int(text) <= limits.max_size:
            raise ApiError(422, f"size must be a whole number from {MIN_SIZE} to {limits.max_size}")
        size = int(text)
    fmt = (fields.get("format") or "png").lower()
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in FORMATS:
        raise ApiError(422, f"format must be one of {', '.join(FORMATS)}")
    return images[0], size, fmt


def _status_for(err: ImageReadError) -> int:
    reason = err.reason
    if reason.startswith("not an image"):
        return 415
    if reason.startswith("refused"):
        return 413
    return 422


# ---------------------------------------------------------------------------------------------- the app
class Health(BaseModel):
    status: str
    running: int
    waiting: int
    served: int
    refused: int


class Limits(BaseModel):
    max_upload_bytes: int
    max_pixels: int
    workers: int
    queue: int
    timeout: float
    body_timeout: float
    head_timeout: float
    max_size: int
    max_uploads: int
    max_work_pixels: int
    min_size: int
    formats: list[str]


class Info(BaseModel):
    service: str
    version: str
    model: str
    backend: str
    train_size: int
    color_space: str
    limits: Limits


class ErrorBody(BaseModel):
    detail: str


ERROR_RESPONSES = {
    400: {"model": ErrorBody, "description": "Malformed multipart body"},
    408: {"model": ErrorBody, "description": "The upload did not arrive in time"},
    413: {"model": ErrorBody, "description": "File too large, or too many pixels"},
    415: {"model": ErrorBody, "description": "Not an image (judged by its content), or not multipart"},
    422: {"model": ErrorBody, "description": "Missing or invalid field, or an image that cannot be decoded"},
    503: {"model": ErrorBody, "description": "Busy: retry after the Retry-After header's seconds"},
}

SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY")]
PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob: data:; "
            "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


class _SecurityHeaders:
    """A pure ASGI middleware (streaming-safe) adding a few headers to every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _page_html() -> str:
    return (resources.files("colorgan") / "static" / "index.html").read_text(encoding="utf-8")


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(colorizer, limits: ServeLimits | None = None) -> FastAPI:
    """The FastAPI app serving `colorizer` (a `Colorizer`, or anything with its `colorize` and `info`)."""
    limits = limits or ServeLimits()
    gate = InferenceGate(limits.workers, limits.queue, limits.timeout)
    # Uploads are decoded in child processes, so a decode that outlives its request can be stopped.
    decoders = DecoderPool(limits.workers, limits.max_pixels)
    uploads = {"active": 0}
    page = _page_html()
    model_info = colorizer.info()
    train_size = int(model_info.get("train_size") or 256)

    @asynccontextmanager
    async def lifespan(_app):
        threading.Thread(target=decoders.warm_up, daemon=True, name="colorgan-decode-start").start()
        yield
        gate.close()
        decoders.close()

    app = FastAPI(title="colorgan", version=__version__, lifespan=lifespan,
                  description="Colorize black-and-white photos. POST a photo to /api/colorize; the page is at /.")
    app.state.gate = gate
    app.state.limits = limits
    app.add_middleware(_SecurityHeaders)

    # ------------------------------------------------------------------ every error is JSON with a message
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return _error(exc.status, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return _error(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError):
        messages = []
        for err in exc.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
            messages.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
        return _error(422, "; ".join(messages) or "invalid request")

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception):
        return _error(500, "internal server error")

    # ------------------------------------------------------------------ routes
    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})

    @app.get("/healthz", response_model=Health, summary="Liveness, and the queue's state")
    async def healthz():
        return {"status": "ok", **gate.state()}

    # HEAD as well as GET: load balancers and uptime checkers probe with HEAD (kept out of the OpenAPI schema,
    # where a second operation on the same function would duplicate its id).
    app.add_api_route("/", index, methods=["HEAD"], include_in_schema=False)
    app.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

    @app.get("/api/info", response_model=Info, summary="The model, its training size and the limits")
    async def info():
        return {
            "service": "colorgan", "version": __version__,
            "model": _model_name(model_info.get("model", "")), "backend": str(model_info.get("backend", "")),
            "train_size": int(model_info.get("train_size", 0)), "color_space": str(model_info.get("color_space", "")),
            "limits": limits.as_dict(),
        }

    def work(raw: bytes, label: str, size: int | None, fmt: str, deadline: float) -> tuple[bytes, float]:
        started = time.perf_counter()
        loaded = decoders.decode(raw, label, deadline - time.monotonic())
        del raw
        pil_format, _ = FORMATS[fmt]
        height, width = loaded.rgb.shape[:2]
        side = MAX_SIDE.get(pil_format)
        if side and max(height, width) > side:
            raise ApiError(422, f"{label}: {fmt} cannot store {width}x{height}; ask for format=png")
        working = size or train_size
        if working * working * max(height, width) / max(1, min(height, width)) > limits.max_work_pixels:
            raise ApiError(422, f"{label}: {width}x{height} is too elongated to colorize at size {working}; "
                                "ask for a smaller size or crop it")
        result = colorizer.colorize(loaded, size)
        del loaded
        if pil_format == "JPEG" and result.mode != "RGB":
            result = result.convert("RGB")
        buffer = io.BytesIO()
        # PNG at zlib level 1: at 512 px, 28 ms instead of 44 (level 3) or 100 (default 6), for 2-10 % more bytes.
        options = {"quality": 92} if pil_format in ("JPEG", "WEBP") else {"compress_level": 1}
        result.save(buffer, format=pil_format, **options)
        return buffer.getvalue(), time.perf_counter() - started

    @app.post(
        "/api/colorize",
        summary="Colorize one photo; the answer is the photo at its own resolution",
        response_class=Response,
        responses={
            200: {"description": "The colorized photo", "content": {
                mime: {"schema": {"type": "string", "format": "binary"}} for _, mime in FORMATS.values()}},
            **ERROR_RESPONSES,
        },
        openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["image"],
            "properties": {
                "image": {"type": "string", "format": "binary",
                          "description": f"the photo (at most {_megabytes(limits.max_upload_bytes)}, "
                                         f"{limits.max_pixels:,} pixels)"},
                "size": {"type": "integer", "minimum": MIN_SIZE, "maximum": limits.max_size,
                         "description": "the network's working size; default: the model's training size"},
                "format": {"type": "string", "enum": list(FORMATS), "default": "png"},
            }}}}}},
    )
    async def colorize(request: Request):
        if uploads["active"] >= limits.upload_slots:
            raise gate.busy("too many uploads in progress; try again shortly")
        uploads["active"] += 1
        try:
            parts = await read_form(request, limits)
        except ApiError as err:  # the body may be partly unread: close the connection after the answer
            err.headers = {**(err.headers or {}), **CLOSE}
            raise
        finally:
            uploads["active"] -= 1
        image, size, fmt = _parse_options(parts, limits)
        label = _safe_label(image.filename)
        raw = bytes(image.data)
        del parts, image
        queued = time.perf_counter()
        try:
            data, work_s = await gate.run(work, raw, label, size, fmt, time.monotonic() + limits.timeout)
        except DecodeTimeout:
            raise gate.busy(f"{label}: decoding took longer than {limits.timeout:g} s; try a smaller "
                            "or simpler file") from None
        except ImageReadError as err:
            reason = err.reason
            if reason.startswith("not an image"):
                reason = "not an image (the file's content is not a format we can read)"
            raise ApiError(_status_for(err), f"{label}: {reason}") from None
        _, mime = FORMATS[fmt]
        wait_s = max(0.0, time.perf_counter() - queued - work_s)
        return Response(data, media_type=mime, headers={
            "Content-Disposition": f'inline; filename="colorized.{"jpg" if fmt == "jpeg" else fmt}"',
            "Cache-Control": "no-store",
            # decode + colorize + encode, and the time spent waiting for a worker (queue), in milliseconds
            "Server-Timing": f"work;dur={work_s * 1000:.1f}, queue;dur={wait_s * 1000:.1f}"})

    return app


def _model_name(path: str) -> str:
    """The model file's name without the server's folders."""
    return re.split(r"[\\/]", str(path))[-1] if path else ""


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
    if not all(hasattr(H11Protocol, name) for name in ("connection_made", "handle_events", "on_response_complete",
                                                         "connection_lost")):
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


def uvicorn_config(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
                   access_log: bool = True):
    import uvicorn

    _quiet_multipart_logs()
    limits = getattr(app.state, "limits", None) or ServeLimits()
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=access_log, lifespan="on",
        http=_http_protocol(limits.head_timeout),
        timeout_keep_alive=5,  # idle keep-alive connections are closed after 5 s
        timeout_graceful_shutdown=10, server_header=False, proxy_headers=False, workers=None,
        h11_max_incomplete_event_size=16 * 1024,  # request line + headers
    )


def warm_up(colorizer) -> None:
    """One small inference, so the first user does not pay for lazy initialisation."""
    import numpy as np

    colorizer.colorize(np.full((64, 64), 128, np.uint8))


def run_server(colorizer, limits: ServeLimits | None = None, host: str = "127.0.0.1", port: int = 8000,
               log_level: str = "info", warmup: bool = True) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    limits = limits or ServeLimits()
    if warmup:
        warm_up(colorizer)
    app = create_app(colorizer, limits)
    shown = f"[{host}]" if ":" in host else host
    print(f"colorgan: serving {colorizer.info().get('model', '')} at http://{shown}:{port}/ "
          f"({limits.workers} worker(s), queue {limits.queue}); Ctrl-C stops", flush=True)
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
