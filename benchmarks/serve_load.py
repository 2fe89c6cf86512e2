"""Load benchmark of `colorgan serve` on loopback (needs httpx).

    python benchmarks/serve_load.py --model runs/default-v1/checkpoints/latest.safetensors --clients 16,64

Starts the server as a subprocess, measures the single-image latency, then sends real photos from N concurrent
clients (a fixed count per level, or --duration seconds); reports throughput, p50/p95/p99 latency, the count of
each status, and the server's RSS before, during and after, and writes them as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def add_bench_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, metavar="PATH", help="the model to serve (default: the shipped model)")
    p.add_argument("--workers", type=int, default=1, help="the server's --workers (default 1)")
    p.add_argument("--queue", type=int, default=16, help="the server's --queue (default 16)")
    p.add_argument("--threads", type=int, default=None, help="the server's inference threads")
    p.add_argument("--clients", default="16,64", help="concurrency levels, comma-separated (default 16,64)")
    p.add_argument("--requests", type=int, default=320, help="requests sent at each level (default 320)")
    p.add_argument("--duration", type=float, default=None, help="seconds per level instead of a fixed request count")
    p.add_argument(
        "--photo",
        default=None,
        metavar="FILE",
        help="the photo to send (default: scikit-image's astronaut, as a gray 512x512 JPEG)",
    )
    p.add_argument("--format", default="png", choices=["png", "jpeg", "webp"], help="answer format (default png)")
    p.add_argument(
        "--single",
        type=int,
        default=30,
        help="sequential requests timed for the single-image latency (default 30: long enough to see "
        "the machine's steady load, not a burst)",
    )
    p.add_argument(
        "--retry-cap",
        type=float,
        default=5.0,
        help="a client told 503 waits min(Retry-After, this) seconds before its next request",
    )
    p.add_argument("--out", default="benchmarks/serve_load.json", help="where to write the JSON figures")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def bench_photo(path: str | None) -> tuple[bytes, str, tuple[int, int]]:
    """The photo bytes, a file name and (width, height)."""
    import io

    from PIL import Image

    if path:
        raw = Path(path).read_bytes()
        with Image.open(io.BytesIO(raw)) as im:
            return raw, Path(path).name, im.size
    from skimage import data

    image = Image.fromarray(data.astronaut()).convert("L")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), "astronaut-gray.jpg", image.size


def start_server_process(
    model: str | None, port: int, workers: int, queue: int, threads: int | None = None, extra: list[str] | None = None
) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "colorgan",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--queue",
        str(queue),
        "--log-level",
        "warning",
        *(extra or []),
    ]
    if model:
        cmd += ["--model", str(model)]
    if threads:
        cmd += ["--threads", str(threads)]
    return subprocess.Popen(cmd)


def wait_healthy(base: str, proc: subprocess.Popen | None = None, timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server at {base} did not become healthy within {timeout:g} s")


def _percentiles(values: list[float]) -> dict:
    import numpy as np

    if not values:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    arr = np.asarray(values)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "p99": float(np.percentile(arr, 99)),
        "mean": float(arr.mean()),
        "max": float(arr.max()),
    }


def _server_work_s(response) -> float | None:
    """The server's own decode + colorize + encode time, from its Server-Timing header."""
    for item in response.headers.get("server-timing", "").split(","):
        name, _, params = item.strip().partition(";")
        if name == "work" and params.startswith("dur="):
            try:
                return float(params[4:]) / 1000
            except ValueError:
                return None
    return None


async def _load_level(
    base: str,
    pid: int,
    photo: bytes,
    name: str,
    fmt: str,
    clients: int,
    requests: int,
    duration: float | None,
    retry_cap: float,
) -> dict:
    import asyncio

    import httpx

    statuses: dict[str, int] = {}
    ok_latencies: list[float] = []
    work_times: list[float] = []
    all_latencies: list[float] = []
    rss_samples: list[int] = []
    sent = 0
    start = time.perf_counter()
    stop_at = start + duration if duration else None

    def more() -> bool:
        nonlocal sent
        if stop_at is not None:
            return time.perf_counter() < stop_at
        if sent >= requests:
            return False
        sent += 1
        return True

    async def client(http: httpx.AsyncClient) -> None:
        while more():
            t0 = time.perf_counter()
            try:
                response = await http.post(f"{base}/api/colorize", files={"image": (name, photo)}, data={"format": fmt})
                key = str(response.status_code)
                retry = response.headers.get("retry-after")
            except httpx.HTTPError as exc:
                key, retry = type(exc).__name__, None
            elapsed = time.perf_counter() - t0
            statuses[key] = statuses.get(key, 0) + 1
            all_latencies.append(elapsed)
            if key == "200":
                ok_latencies.append(elapsed)
                work = _server_work_s(response)
                if work is not None:
                    work_times.append(work)
            elif key == "503":
                await asyncio.sleep(min(float(retry or 1), retry_cap))

    async def sample_rss() -> None:
        while True:
            value = rss_bytes(pid)
            if value:
                rss_samples.append(value)
            await asyncio.sleep(0.1)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits) as http:
        sampler = asyncio.create_task(sample_rss())
        await asyncio.gather(*(client(http) for _ in range(clients)))
        sampler.cancel()
    wall = time.perf_counter() - start
    ok = statuses.get("200", 0)
    return {
        "clients": clients,
        "requests": sum(statuses.values()),
        "wall_s": wall,
        "ok": ok,
        "throughput_ok_per_s": ok / wall if wall > 0 else 0.0,
        "throughput_all_per_s": sum(statuses.values()) / wall if wall > 0 else 0.0,
        "status_counts": statuses,
        "errors_other_than_503": sum(n for k, n in statuses.items() if k not in ("200", "503")),
        "latency_ok_s": _percentiles(ok_latencies),
        "latency_all_s": _percentiles(all_latencies),
        "server_work_s": _percentiles(work_times),
        "rss_during_max_bytes": max(rss_samples) if rss_samples else None,
        "rss_during_mean_bytes": int(sum(rss_samples) / len(rss_samples)) if rss_samples else None,
    }


def bench_serve(args: argparse.Namespace) -> int:
    """Start a server on loopback, measure single-image latency, then load it with N concurrent clients."""
    import asyncio
    import platform

    try:
        import httpx
    except ImportError:
        print("error: benchmarks/serve_load.py needs httpx: pip install 'colorgan[serve]'", file=sys.stderr)
        return 2

    levels = [int(x) for x in str(args.clients).split(",") if x.strip()]
    photo, name, (width, height) = bench_photo(args.photo)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server_process(args.model, port, args.workers, args.queue, args.threads)
    report: dict = {
        "command": " ".join(sys.argv),
        "model": args.model or "(shipped default)",
        "workers": args.workers,
        "queue": args.queue,
        "photo": {"name": name, "width": width, "height": height, "bytes": len(photo)},
        "format": args.format,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        },
    }
    try:
        wait_healthy(base, proc)
        report["info"] = httpx.get(f"{base}/api/info", timeout=10).json()
        report["rss_before_bytes"] = rss_bytes(proc.pid)
        with httpx.Client(timeout=600) as http:

            def one() -> tuple[float, float | None]:
                t0 = time.perf_counter()
                r = http.post(f"{base}/api/colorize", files={"image": (name, photo)}, data={"format": args.format})
                if r.status_code != 200:
                    raise RuntimeError(f"single request failed: {r.status_code} {r.text[:200]}")
                return time.perf_counter() - t0, _server_work_s(r)

            for _ in range(3):
                one()
            single = [one() for _ in range(max(1, args.single))]
        report["single_latency_s"] = _percentiles([t for t, _ in single])
        report["single_server_work_s"] = _percentiles([w for _, w in single if w is not None])
        report["rss_after_warmup_bytes"] = rss_bytes(proc.pid)
        report["levels"] = []
        for clients in levels:
            print(f"serve_load: {clients} clients ...", flush=True)
            level = asyncio.run(
                _load_level(
                    base, proc.pid, photo, name, args.format, clients, args.requests, args.duration, args.retry_cap
                )
            )
            time.sleep(1.0)
            level["rss_after_bytes"] = rss_bytes(proc.pid)
            report["levels"].append(level)
        report["rss_after_bytes"] = rss_bytes(proc.pid)
        report["server_alive_after"] = httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    report["targets"] = _targets(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(format_bench(report))
    print(f"serve_load: figures written to {out}")
    return 0 if all(t["met"] for t in report["targets"].values()) else 1


def _targets(report: dict) -> dict:
    single = report["single_latency_s"]["p50"]
    workers = report["workers"]
    targets = {
        "no_errors_other_than_503": {
            "met": all(level["errors_other_than_503"] == 0 for level in report["levels"]),
            "value": sum(level["errors_other_than_503"] for level in report["levels"]),
        }
    }
    for level in report["levels"]:
        if level["clients"] == 16:
            bound = 2 * (16 / workers) * single
            p95 = level["latency_ok_s"]["p95"]
            targets["p95_at_16_clients"] = {"met": p95 is not None and p95 <= bound, "value": p95, "bound": bound}
    warm, after = report.get("rss_after_warmup_bytes"), report.get("rss_after_bytes")
    if warm and after:
        targets["rss_after_within_10pct_of_warm"] = {"met": after <= 1.10 * warm, "value": after / warm}
    return targets


def format_bench(report: dict) -> str:
    mib = 1024 * 1024

    def m(v):
        return f"{v / mib:.0f} MiB" if v else "?"

    work = report["single_server_work_s"]["p50"]
    lines = [
        f"single image: p50 {report['single_latency_s']['p50'] * 1000:.0f} ms "
        f"(server work {'-' if work is None else f'{work * 1000:.0f}'} ms) "
        f"({report['photo']['width']}x{report['photo']['height']}, {report['format']})",
        f"server RSS: before {m(report.get('rss_before_bytes'))}, after warm-up "
        f"{m(report.get('rss_after_warmup_bytes'))}, after {m(report.get('rss_after_bytes'))}",
    ]
    for level in report["levels"]:
        lat = level["latency_ok_s"]
        p = " / ".join("-" if lat[k] is None else f"{lat[k] * 1000:.0f}" for k in ("p50", "p95", "p99"))
        work = level["server_work_s"]["p50"]
        lines.append(
            f"{level['clients']:>3} clients: {level['throughput_ok_per_s']:.2f} img/s, p50/p95/p99 {p} ms, "
            f"server work p50 {'-' if work is None else f'{work * 1000:.0f}'} ms, "
            f"statuses {level['status_counts']}, RSS during max {m(level['rss_during_max_bytes'])}"
        )
    for name, t in report["targets"].items():
        lines.append(f"target {name}: {'met' if t['met'] else 'MISSED'} ({t})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="serve_load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_bench_flags(parser)
    return bench_serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
