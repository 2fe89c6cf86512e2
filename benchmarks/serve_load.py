"""Load benchmark of `colorgan serve` on loopback; the same as `colorgan serve-bench`.

    python benchmarks/serve_load.py --model runs/default-v1/checkpoints/latest.safetensors --clients 16,64

Starts the server as a subprocess, measures the single-image latency, then sends real photos from N concurrent
clients (a fixed count per level, or --duration seconds); reports throughput, p50/p95/p99 latency, the count of
each status, and the server's RSS before, during and after, and writes them as JSON (--out).
"""

from __future__ import annotations

import argparse
import sys

from colorgan.serve.load import add_bench_flags, bench_serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="serve_load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_bench_flags(parser)
    return bench_serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
