"""Pack a run's training photos (never its held-out ones) small enough to travel to a lent GPU machine.

Each photo is squashed to 128 px (what the default recipe trains on) and stored as WebP q80, in two gzipped
tars that take turns photo by photo, so each half holds every folder. 36,532 photos make 2 × 55 MiB at q80
and 2 × 35 MiB at q50 (what fits one device call beside the 28 MiB repo).

    python scripts/gpu/pack_split.py ~/runs/A_l1 ../shared/data/broad ../shared/data/landscapes \
        --out gpupack --quality 50
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import cv2

from colorgan.train.data import find_samples


def encode(path: str, size: int = 128, quality: int = 80) -> bytes | None:
    image = cv2.imread(path)
    if image is None:
        return None
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, quality])
    return data.tobytes() if ok else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="run folder whose split.json names the training photos")
    parser.add_argument("roots", nargs="+", type=Path, help="the run's data folders, in its order")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quality", type=int, default=80, help="WebP quality, 1-100")
    args = parser.parse_args()
    names = json.loads((args.run / "split.json").read_text())["train"]
    # the trainer's own names (folder prefixes, duplicates), so the packed set is exactly the split's
    color_of = {sample.name: sample.color for sample in find_samples(args.roots)[0]}
    missing = [name for name in names if name not in color_of]
    if missing:
        raise SystemExit(f"{len(missing)} training photos of {args.run} are not in these folders, e.g. {missing[0]}")
    paths = [str(color_of[name]) for name in names]
    with ProcessPoolExecutor() as pool:
        encoded = list(pool.map(partial(encode, quality=args.quality), paths, chunksize=256))
    args.out.mkdir(parents=True, exist_ok=True)
    packed = 0
    with (
        tarfile.open(args.out / "p1.tar.gz", "w:gz", compresslevel=1) as first,
        tarfile.open(args.out / "p2.tar.gz", "w:gz", compresslevel=1) as second,
    ):
        for name, data in zip(names, encoded):
            if data is None:
                print(f"skipped {name}: unreadable")
                continue
            # a folder of color/ and gray/ pairs travels as its color photos (the gray is derived again);
            # the old suffix stays in the name, so a.jpg and a.png remain two photos
            member = name.replace("/color/", "/", 1)
            info = tarfile.TarInfo(member if member.endswith(".webp") else member + ".webp")
            info.size = len(data)
            (first, second)[packed % 2].addfile(info, io.BytesIO(data))
            packed += 1
    print(f"packed {packed} of {len(names)} photos into {args.out}")


if __name__ == "__main__":
    main()
