"""The photos a model spoils most, side by side (gray | model | truth), from an evaluation's per_image.csv.

    python benchmarks/worst_sheet.py --eval ~/eval/realval_X --data ../shared/data/realval \\
        --model runs/X --out ~/eval/realval_X/worst.jpg --count 10

Photos are ranked by the model's CIEDE2000 minus gray's (how much worse than leaving it gray). The sheet is
of the evaluation photos themselves: write it outside the project (they are never committed).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

from colorgan.infer.colorize import Colorizer
from colorgan.io.images import gray_channel, load_image

ROW_HEIGHT = 220


def worst(per_image: Path, count: int) -> list[tuple[str, float]]:
    rows = list(csv.DictReader(per_image.read_text().splitlines()))
    scored = [(r["image"], float(r["ciede2000"]) - float(r["gray_ciede2000"])) for r in rows]
    return sorted(scored, key=lambda item: -item[1])[:count]


def row_of(colorizer: Colorizer, path: Path, label: str, size: int | None) -> np.ndarray:
    truth = load_image(path).rgb
    gray = gray_channel(load_image(path))
    model = colorizer.colorize_array(gray, size)
    tiles = [np.repeat(gray[..., None], 3, axis=2), model, truth]
    scale = ROW_HEIGHT / truth.shape[0]
    tiles = [cv2.resize(t, (round(t.shape[1] * scale), ROW_HEIGHT), interpolation=cv2.INTER_AREA) for t in tiles]
    row = np.concatenate(tiles, axis=1)
    cv2.putText(row, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 0), 1, cv2.LINE_AA)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, required=True, help="an evaluation's output folder (per_image.csv)")
    parser.add_argument("--data", type=Path, required=True, help="the folder it evaluated")
    parser.add_argument("--model", default=None, help="the model it evaluated (default: the shipped one)")
    parser.add_argument("--size", type=int, default=None, help="the working size it used")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    colorizer = Colorizer.load(args.model)
    rows = [
        row_of(colorizer, args.data / name, f"{name}  dE00 - gray {delta:+.1f}", args.size)
        for name, delta in worst(args.eval / "per_image.csv", args.count)
    ]
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
