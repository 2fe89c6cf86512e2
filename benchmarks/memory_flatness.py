"""Does training memory stay flat as the dataset grows? Peak RSS with 1,000 vs 20,000 cached samples.

Writes synthetic pixel caches straight in the on-disk format of `colorgan.train.pixel_cache` (color.npy + gray.npy uint8
arrays and index.json; no JPEG is decoded), then, for each size, runs in a fresh subprocess either

- `train`: the real `Trainer.fit()` (tiny networks, fp32, one thread) for the same number of steps, or
- `epoch`: one full pass of `BatchStream` over every training sample (what the loader touches in an epoch),

and reports the child's peak resident set (VmHWM, which is `ru_maxrss`) and the peak of its anonymous and
file-backed parts (sampled from /proc/self/status every 10 ms). Linux only.

    .venv/bin/python benchmarks/memory_flatness.py                      # both modes, 1000 vs 20000 at 64 px
    .venv/bin/python benchmarks/memory_flatness.py --mode epoch --sizes 1000 20000 100000 --json out.json

Exit status 1 if the largest size's peak RSS is more than --tolerance (10 %) above the smallest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def write_cache(folder: Path, count: int, size: int, seed: int = 0) -> None:
    """A synthetic cache of `count` samples in colorgan's format, written in chunks (little RAM used here)."""
    from colorgan.train.pixel_cache import CACHE_VERSION

    folder.mkdir(parents=True, exist_ok=True)
    color = np.lib.format.open_memmap(folder / "color.npy", mode="w+", dtype=np.uint8, shape=(count, size, size, 3))
    gray = np.lib.format.open_memmap(folder / "gray.npy", mode="w+", dtype=np.uint8, shape=(count, size, size))
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    for start in range(0, count, 500):
        n = min(500, count - start)
        base = rng.uniform(0.1, 0.9, (n, 1, 1, 3)).astype(np.float32)  # smooth, colorful, different per sample
        img = base + 0.2 * ramp[None, :, None, None] - 0.2 * ramp[None, None, :, None]
        px = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        color[start : start + n] = px
        gray[start : start + n] = (px.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])).astype(np.uint8)
    color.flush()
    gray.flush()
    del color, gray
    index = {
        "version": CACHE_VERSION,
        "size": size,
        "count": count,
        "names": [f"synthetic/{i:07d}.png" for i in range(count)],
        "skipped": [],
    }
    (folder / "index.json").write_text(json.dumps(index))


def _status_kb() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(value.split()[0])
    return out


class PeakSampler(threading.Thread):
    """Peak RssAnon / RssFile, sampled (VmHWM is exact for the total; its parts need sampling)."""

    def __init__(self, interval: float = 0.01):
        super().__init__(daemon=True)
        self.interval, self.peak, self.stop = interval, {"RssAnon": 0, "RssFile": 0}, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            status = _status_kb()
            for key in self.peak:
                self.peak[key] = max(self.peak[key], status.get(key, 0))
            time.sleep(self.interval)


def child(args: argparse.Namespace) -> dict:
    import torch

    from colorgan.config import make_config
    from colorgan.train.batches import BatchStream, pixels_to_float
    from colorgan.train.data import make_split
    from colorgan.train.pixel_cache import _open_cache
    from colorgan.train.trainer import Trainer

    torch.set_num_threads(1)
    sampler = PeakSampler()
    sampler.start()
    cache = _open_cache(Path(args.cache))
    t0 = time.perf_counter()
    if args.mode == "train":
        cfg = make_config(
            "unet-lab",
            data="(synthetic cache)",
            size=cache.color.shape[1],
            ngf=8,
            ndf=8,
            batch_size=args.batch_size,
            epochs=1000,
            max_steps=args.steps,
            pretrain_steps=0,
            precision="fp32",
            threads=1,
            run_dir=str(Path(args.run_dir)),
            save_every=10**9,
            samples=2,
            channels_last=False,
        )
        trainer = Trainer(cfg, progress=False, cache=cache)
        try:
            trainer.fit()
        finally:
            trainer.close()
        steps = trainer.step
    else:
        train_idx, _ = make_split(len(cache), 0.1, 0)
        stream = BatchStream(cache, train_idx, args.batch_size, seed=0)
        checksum = 0.0
        for i in range(stream.steps_per_epoch):
            gray, color = pixels_to_float(*stream.batch(0, i), "cpu")
            checksum += float(color[:, :, 0, 0].sum())  # use the data, so nothing is optimized away
        steps = stream.steps_per_epoch
    seconds = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    final = _status_kb()
    return {
        "mode": args.mode,
        "samples": len(cache),
        "steps": steps,
        "batch_size": args.batch_size,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(final["VmHWM"] / 1024, 1),
        "peak_anon_mib": round(sampler.peak["RssAnon"] / 1024, 1),
        "peak_file_mib": round(sampler.peak["RssFile"] / 1024, 1),
        "cache_mib": round(sum(p.stat().st_size for p in Path(args.cache).glob("*.npy")) / 2**20, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--px", type=int, default=64, help="cached image side")
    parser.add_argument("--mode", choices=["train", "epoch", "both"], default="both")
    parser.add_argument("--steps", type=int, default=200, help="train: steps at every size")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--workdir", help="where to write the caches (default: a temporary folder)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0

    modes = ["train", "epoch"] if args.mode == "both" else [args.mode]
    results, ok = [], True
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for count in args.sizes:
            folder = Path(tmp) / f"cache_{count}"
            t0 = time.perf_counter()
            write_cache(folder, count, args.px)
            print(f"wrote {count} samples at {args.px} px in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for mode in modes:
            rows = []
            for count in args.sizes:
                cache = str(Path(tmp) / f"cache_{count}")
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    "--mode",
                    mode,
                    "--cache",
                    cache,
                    "--run-dir",
                    str(Path(tmp) / f"run_{mode}_{count}"),
                    "--steps",
                    str(args.steps),
                    "--batch-size",
                    str(args.batch_size),
                ]
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(
                    f"{mode:5} {row['samples']:>7} samples ({row['cache_mib']:7.1f} MiB on disk) "
                    f"{row['steps']:>5} steps {row['seconds']:6.1f} s | peak RSS {row['peak_rss_mib']:7.1f} MiB "
                    f"(anon {row['peak_anon_mib']:6.1f}, file {row['peak_file_mib']:6.1f})"
                )
            growth = rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"] - 1
            verdict = "flat" if growth <= args.tolerance else "NOT flat"
            print(f"{mode:5} peak RSS {rows[-1]['samples']} vs {rows[0]['samples']} samples: {growth:+.1%} ({verdict})")
            ok = ok and growth <= args.tolerance
            results.extend(rows)
    if args.json:
        Path(args.json).write_text(json.dumps({"px": args.px, "results": results}, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
