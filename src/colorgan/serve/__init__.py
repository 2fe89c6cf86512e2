"""The web service: a page at `/` and an HTTP API that colorizes uploads with a `Colorizer`.

    POST /api/colorize   multipart: image (file), size (int, optional), format (png|jpeg|webp, optional),
                         hints (JSON color hints, optional; every colorgan model takes them)
    POST /api/palette    multipart: image, x, y (the photo's pixels), count (optional): the likeliest colors there,
                         for a model with the bins head (409 for one that predicts one color)
    GET  /api/info       the model, its training size, the limits and whether it has a palette
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


Parts: `limits` (what is accepted), `upload` (reading the multipart body), `decoders` (decoding in killable child
processes), `gate` (workers and queue), `app` (the routes), `server` (uvicorn glue). The command's flags are in
`colorgan.cli.serve` and the load benchmark in benchmarks/serve_load.py: nothing here imports the command line or
training.
"""

from __future__ import annotations

from importlib import import_module

# Lazy, so `colorgan --help` works without the web extra installed (the serve command then says what to install).
_EXPORTS = {
    "create_app": "app",
    "InferenceGate": "gate",
    "ApiError": "limits",
    "ServeLimits": "limits",
    "run_server": "server",
    "serve_in_thread": "server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(name)
