"""What the service accepts: its limits, formats and the error every refusal raises."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..io.images import DEFAULT_MAX_PIXELS

MB = 1024 * 1024
FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
FORMAT_ALIASES = {"jpg": "jpeg"}
MAX_SIDE = {"WEBP": 16383, "JPEG": 65500}  # what the encoders can store
MIN_SIZE = 16
MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the small fields, on top of the image bytes
MAX_PARTS = 8
MAX_FIELD_BYTES = 1024  # a non-file field (size, format)
MAX_HINTS_BYTES = 16 * 1024  # the hints field: 64 points of about 60 bytes each, with room to spare
KNOWN_FIELDS = ("size", "format", "hints", "x", "y", "count")
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
        return {
            **asdict(self),
            "max_uploads": self.upload_slots,
            "max_work_pixels": self.max_work_pixels,
            "formats": list(FORMATS),
            "min_size": MIN_SIZE,
        }


def field_limit(name: str) -> int:
    """The most bytes a non-file form field may hold."""
    return MAX_HINTS_BYTES if name == "hints" else MAX_FIELD_BYTES


class ApiError(Exception):
    """An error answer: status, readable message, optional headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers
