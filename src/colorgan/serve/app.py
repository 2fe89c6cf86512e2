"""The FastAPI app: the page, /api/colorize, /api/info and /healthz; every error as JSON."""

from __future__ import annotations

import io
import re
import threading
import time
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..infer.hints import MAX_HINTS, HintError, parse_hints
from ..io.images import ImageReadError
from .decoders import DecoderPool, DecodeTimeout
from .gate import InferenceGate
from .limits import CLOSE, FORMATS, MAX_HINTS_BYTES, MAX_SIDE, ApiError, ServeLimits
from .palette_api import add_palette_route
from .responses import ERROR_RESPONSES, upload_body
from .upload import parse_options, read_form, safe_label, status_for


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
    hints: bool = False  # whether the colorizer takes color hints (every colorgan model does; a stand-in may not)
    palette: bool = False  # whether /api/palette answers: the model predicts a distribution of colors (bins head)
    limits: Limits


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
PAGE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)


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


HINTS_FIELD_HELP = (
    "color hints, a JSON list of points in the photo's own pixels: x from the left, y from the top, an sRGB color "
    "(only its chroma is used; the photo keeps its lightness) and an optional radius in photo pixels; at most "
    f"{MAX_HINTS} points. Every colorgan model takes them (/api/info says `hints: true`); a bad point is a 422 "
    "naming it"
)


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
    train_size = int(model_info.get("working_size") or model_info.get("train_size") or 256)
    takes_hints = model_info.get("hints")  # None: a stand-in that does not say; its colorize() decides
    has_palette = bool(getattr(colorizer, "has_palette", False))

    @asynccontextmanager
    async def lifespan(_app):
        threading.Thread(target=decoders.warm_up, daemon=True, name="colorgan-decode-start").start()
        yield
        gate.close()
        decoders.close()

    app = _app_class()(
        title="colorgan",
        version=__version__,
        lifespan=lifespan,
        description="Colorize black-and-white photos. POST a photo to /api/colorize; the page is at /.",
    )
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
            "service": "colorgan",
            "version": __version__,
            "model": _model_name(model_info.get("model", "")),
            "backend": str(model_info.get("backend", "")),
            "train_size": int(model_info.get("train_size", 0)),
            "color_space": str(model_info.get("color_space", "")),
            "hints": bool(takes_hints),
            "palette": has_palette,
            "limits": limits.as_dict(),
        }

    app.add_api_route("/api/info", info, methods=["HEAD"], include_in_schema=False)

    async def receive_form(request: Request):
        """The multipart parts of an upload, at most `upload_slots` read at once."""
        if uploads["active"] >= limits.upload_slots:
            raise gate.busy("too many uploads in progress; try again shortly")
        uploads["active"] += 1
        try:
            return await read_form(request, limits)
        except ApiError as err:  # the body may be partly unread: close the connection after the answer
            err.headers = {**(err.headers or {}), **CLOSE}
            raise
        finally:
            uploads["active"] -= 1

    def work(
        raw: bytes, label: str, size: int | None, fmt: str, hints_text: str, deadline: float
    ) -> tuple[bytes, float]:
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
            raise ApiError(
                422,
                f"{label}: {width}x{height} is too elongated to colorize at size {working}; "
                "ask for a smaller size or crop it",
            )
        # Hints are checked against the decoded photo, so their coordinates are the photo's real pixels.
        hints = parse_hints(hints_text, width, height) if hints_text else []
        if hints and takes_hints is False:
            raise HintError("this server's model takes no color hints; send the photo without hints")
        # Without hints the call stays colorize(image, size), which every colorizer (and stand-in) takes.
        result = colorizer.colorize(loaded, size, hints=hints) if hints else colorizer.colorize(loaded, size)
        del loaded
        if pil_format == "JPEG" and result.mode != "RGB":
            result = result.convert("RGB")
        buffer = io.BytesIO()
        # PNG at zlib level 1: a few times faster to write than the default, for a few percent more bytes
        # (docs/benchmarks.md, "Writing the answer").
        options = {"quality": 92} if pil_format in ("JPEG", "WEBP") else {"compress_level": 1}
        result.save(buffer, format=pil_format, **options)
        return buffer.getvalue(), time.perf_counter() - started

    @app.post(
        "/api/colorize",
        summary="Colorize one photo; the answer is the photo at its own resolution",
        response_class=Response,
        responses={
            200: {
                "description": "The colorized photo",
                "content": {mime: {"schema": {"type": "string", "format": "binary"}} for _, mime in FORMATS.values()},
            },
            **ERROR_RESPONSES,
        },
        openapi_extra=upload_body(
            limits,
            [],
            format={"type": "string", "enum": list(FORMATS), "default": "png"},
            hints={
                "type": "string",
                "maxLength": MAX_HINTS_BYTES,
                "description": HINTS_FIELD_HELP,
                "example": '[{"x": 120, "y": 340, "color": "#b03020", "radius": 6}]',
            },
        ),
    )
    async def colorize(request: Request):
        parts = await receive_form(request)
        image, size, fmt, hints_text = parse_options(parts, limits)
        label = safe_label(image.filename)
        raw = bytes(image.data)
        del parts, image
        queued = time.perf_counter()
        try:
            data, work_s = await gate.run(work, raw, label, size, fmt, hints_text, time.monotonic() + limits.timeout)
        except DecodeTimeout:
            raise gate.busy(
                f"{label}: decoding took longer than {limits.timeout:g} s; try a smaller or simpler file"
            ) from None
        except ImageReadError as err:
            reason = err.reason
            if reason.startswith("not an image"):
                reason = "not an image (the file's content is not a format we can read)"
            raise ApiError(status_for(err), f"{label}: {reason}") from None
        except HintError as err:
            raise ApiError(422, f"{label}: {err}") from None
        _, mime = FORMATS[fmt]
        wait_s = max(0.0, time.perf_counter() - queued - work_s)
        return Response(
            data,
            media_type=mime,
            headers={
                "Content-Disposition": f'inline; filename="colorized.{"jpg" if fmt == "jpeg" else fmt}"',
                "Cache-Control": "no-store",
                # decode + colorize + encode, and the time spent waiting for a worker (queue), in milliseconds
                "Server-Timing": f"work;dur={work_s * 1000:.1f}, queue;dur={wait_s * 1000:.1f}",
            },
        )

    add_palette_route(app, colorizer, has_palette, gate, decoders, limits, receive_form)
    return app


def _app_class():
    """FastAPI, with /docs and /redoc served from the fastapi-offline package's copies of Swagger UI and ReDoc
    where it is installed (the serve extra): FastAPI's own pages load them from a CDN, blank offline."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:
        return FastAPI
    return FastAPIOffline


def _model_name(path: str) -> str:
    """The model file's name without the server's folders."""
    return re.split(r"[\\/]", str(path))[-1] if path else ""
