"""`colorgan serve`: its flags and wiring (the load benchmark is benchmarks/serve_load.py)."""

from __future__ import annotations

import argparse
import sys

from ..io.images import DEFAULT_MAX_PIXELS
from .flags import add_model_flags

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# ---------------------------------------------------------------------------------------------- serve
def add_serve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default loopback only; 0.0.0.0 makes it reachable from other machines)",
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument(
        "--chroma-gain",
        type=float,
        metavar="G",
        help="how vivid, for every request: the predicted chroma times G in place of the model's own gain",
    )
    add_model_flags(
        p, model_help="the model to serve: a run folder, checkpoint, weights or .onnx file (default: the shipped model)"
    )
    p.add_argument("--workers", type=int, default=1, help="inferences at once (default 1)")
    p.add_argument(
        "--queue",
        type=int,
        default=16,
        help="requests that may wait for a worker; past that the answer is 503 + Retry-After",
    )
    p.add_argument("--max-upload-mb", type=float, default=25.0, help="largest upload in MB (default 25) -> 413")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"largest width x height accepted (default {DEFAULT_MAX_PIXELS:,}) -> 413",
    )
    p.add_argument("--max-size", type=int, default=1024, help="largest working size a request may ask for")
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds a request may wait for a worker and run (default 120) -> 503",
    )
    p.add_argument(
        "--body-timeout", type=float, default=60.0, help="seconds to receive a whole upload (default 60) -> 408"
    )
    p.add_argument(
        "--min-upload-kbps",
        type=float,
        default=16.0,
        help="an upload slower than this on average after 5 s is cut off (default 16 KiB/s) -> 408",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default info)",
    )


def limits_from_args(args: argparse.Namespace):
    from ..serve.limits import MB, ServeLimits

    return ServeLimits(
        max_upload_bytes=int(args.max_upload_mb * MB),
        max_pixels=args.max_pixels,
        workers=args.workers,
        queue=args.queue,
        timeout=args.timeout,
        body_timeout=args.body_timeout,
        max_size=args.max_size,
        min_upload_rate=args.min_upload_kbps * 1024,
    )


def serve_command(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(f"error: `colorgan serve` needs the serve extra: pip install 'colorgan[serve]' ({exc})", file=sys.stderr)
        return 2
    from ..infer.colorize import Colorizer
    from ..io.checkpoint import CheckpointError
    from ..serve.server import run_server
    from .commands import set_chroma_gain

    try:
        limits = limits_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        colorizer = Colorizer.load(
            args.model, device=args.device, backend=args.backend, max_pixels=args.max_pixels, threads=args.threads
        )
        set_chroma_gain(colorizer, args.chroma_gain)
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.host not in LOOPBACK:
        print(
            f"warning: listening on {args.host}: anyone who can reach this machine can use the service "
            "(there is no authentication)",
            file=sys.stderr,
        )
    try:
        run_server(colorizer, limits, host=args.host, port=args.port, log_level=args.log_level)
    except OSError as exc:  # e.g. the port is taken
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc})", file=sys.stderr)
        return 2
    return 0


# ---------------------------------------------------------------------------------------------- wiring
def register(sub: argparse._SubParsersAction) -> None:
    """Add `serve` to the `colorgan` sub-commands."""
    p = sub.add_parser(
        "serve",
        help="a web page and HTTP API for colorizing (FastAPI + uvicorn)",
        description="Serve the page at / and the API at /api/colorize; docs at /docs.",
    )
    add_serve_flags(p)
    p.set_defaults(func=serve_command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="colorgan")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
