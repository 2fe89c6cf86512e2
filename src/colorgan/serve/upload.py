"""Reading an upload: the multipart body by hand from the ASGI stream, with size, time and rate limits."""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..io.images import ImageReadError
from .limits import (
    DRAIN_BYTES,
    DRAIN_SECONDS,
    FORMAT_ALIASES,
    FORMATS,
    KNOWN_FIELDS,
    MAX_PARTS,
    MB,
    MIN_SIZE,
    ApiError,
    ServeLimits,
    field_limit,
)


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
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

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
                raise ApiError(413, f"file too large: the limit is {megabytes(self.limits.max_upload_bytes)}")
        elif part.name in KNOWN_FIELDS and part.filename is None:
            part.data += data[start:end]
            if len(part.data) > field_limit(part.name):
                raise ApiError(422, f"form field {part.name!r} is too long (at most {field_limit(part.name)} bytes)")
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
    too_large = ApiError(413, f"file too large: the limit is {megabytes(limits.max_upload_bytes)}")
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
                raise ApiError(
                    408,
                    f"the upload is too slow ({received / elapsed:,.0f} bytes/s; at least "
                    f"{limits.min_upload_rate:,.0f} are needed)",
                )
            if chunk:
                try:
                    parser.write(chunk)
                except FormParserError as exc:
                    raise ApiError(400, f"malformed multipart body ({_first_line(exc)})") from None
    except ApiError as err:
        # Refused while the body is still coming (too large, a field too long, malformed): read a bounded rest,
        # else the close can reset the connection before the client reads the answer. A too-slow upload is not
        # waited for.
        if err.status != 408 and more:
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
        raise ApiError(
            408,
            f"the upload did not arrive within {limits.body_timeout:g} s (or stalled for {limits.upload_grace:g} s)",
        ) from None
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


def megabytes(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB else f"{n:,} bytes"


def safe_label(filename: str | None) -> str:
    """A display name for messages: the base name only, printable characters, bounded length."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:80]
    return base or "upload"


def parse_options(parts: list[FormPart], limits: ServeLimits) -> tuple[FormPart, int | None, str, str]:
    """The image part, the working size (None: the model's), the output format and the hints' JSON text
    ("" for none; it is validated later, against the decoded photo's size)."""
    images = [p for p in parts if p.name == "image"]
    if not images:
        others = [p.name for p in parts if p.filename is not None]
        hint = f" (a file came in the field {others[0][:40]!r})" if others else ""
        raise ApiError(422, f"no photo: send the file in a multipart field named 'image'{hint}")
    if len(images) > 1:
        raise ApiError(422, "send one photo per request (several 'image' fields)")
    fields = {
        p.name: bytes(p.data).decode("utf-8", "replace").strip()
        for p in parts
        if p.name in KNOWN_FIELDS and p.filename is None
    }
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
    return images[0], size, fmt, fields.get("hints", "")


def status_for(err: ImageReadError) -> int:
    reason = err.reason
    if reason.startswith("not an image"):
        return 415
    if reason.startswith("refused"):
        return 413
    return 422


def parse_point(parts: list[FormPart]) -> tuple[float, float, int]:
    """The palette's point (x, y in the photo's pixels) and how many colors to give (default 5)."""
    fields = {p.name: bytes(p.data).decode("utf-8", "replace").strip() for p in parts if p.filename is None}
    point = []
    for name in ("x", "y"):
        try:
            point.append(float(fields[name]))
        except KeyError:
            raise ApiError(
                422, f"the palette needs the point: send the fields 'x' and 'y' (missing {name!r})"
            ) from None
        except ValueError:
            raise ApiError(422, f"{name} must be a number of pixels, got {fields[name][:40]!r}") from None
        if not (math.isfinite(point[-1]) and point[-1] >= 0):  # refused here, before the photo is decoded
            raise ApiError(422, f"{name} must be a finite number of pixels, 0 or more, got {fields[name][:40]!r}")
    text = fields.get("count") or "5"
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 16:
        raise ApiError(422, "count must be a whole number from 1 to 16")
    return point[0], point[1], int(text)
