"""Photos per second of `colorgan colorize --cluster` on a local Ray cluster, against one process (#34).

Writes N synthetic JPEG photos of the given size, colorizes them once in one process (`colorize_folder`, all
cores) and then on a fresh local cluster with 1 and 2 actors (1 thread each), and reports photos/s for each,
with the time split into decode, network and encode as one process measures it.

    python benchmarks/cluster_throughput.py --photos 48 --width 4000 --height 3000 --json results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorgan import Colorizer
from colorgan.infer.cluster import ClusterSettings, colorize_on_cluster
from colorgan.io.images import gray_channel, load_image


def make_photos(folder: Path, count: int, width: int, height: int) -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    for i in range(count):
        image = Image.fromarray(np.roll(base, i, axis=1)).resize((width, height), Image.BILINEAR)
        image.save(folder / f"photo{i:04d}.jpg", quality=90)


def stages(colorizer: Colorizer, photo: Path, out: Path) -> dict:
    """Seconds of one photo's decode, network + compose, and encode + write, in this process."""
    t0 = time.perf_counter()
    loaded = load_image(photo, colorizer.max_pixels)
    t1 = time.perf_counter()
    rgb = colorizer._colorize_gray([gray_channel(loaded)], None)[0]
    t2 = time.perf_counter()
    Image.fromarray(rgb).save(out, quality=95)
    t3 = time.perf_counter()
    return {"decode_s": t1 - t0, "colorize_s": t2 - t1, "encode_s": t3 - t2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    import ray

    result = {
        "photos": args.photos,
        "size": [args.width, args.height],
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": torch.get_num_threads()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        make_photos(src, args.photos, args.width, args.height)
        colorizer = Colorizer.load()
        result["one_photo_in_one_process"] = stages(colorizer, src / "photo0000.jpg", Path(tmp) / "x.jpg")
        t0 = time.perf_counter()
        colorizer.colorize_folder(src, Path(tmp) / "alone", progress=False)
        result["one_process_photos_s"] = args.photos / (time.perf_counter() - t0)
        for workers in (1, 2):
            settings = ClusterSettings(address="local", workers=workers)
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)  # not timed: the cluster is up
            t0 = time.perf_counter()
            report = colorize_on_cluster(src, Path(tmp) / f"cluster{workers}", settings, progress=False)
            seconds = time.perf_counter() - t0
            assert len(report.done) == args.photos, report.summary()
            result[f"cluster_{workers}_workers_photos_s"] = args.photos / seconds
            result[f"cluster_{workers}_workers_seconds"] = seconds  # actors start and load the model in it
            ray.shutdown()
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
