"""Side by side on the package photos: the truth, then each model as users get it.

    python benchmarks/compare_sheet.py --out docs/img/compare.jpg \\
        --model "shipped" src/colorgan/weights/default.safetensors \\
        --model "W05 x1.25" W05.safetensors:1.25

MODEL is a weights file or run folder, optionally `:GAIN` (multiplies the predicted ab, replacing the stored
gain). The photos are the scikit-image samples the demo uses; each is colorized from its own gray (sRGB
luminance).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from colorgan.infer.colorize import Colorizer, compose

PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")
WIDTH = 300


def loader():
    """-> ab_of(model, gray): a model's predicted ab at gain 1, and stored_gain(model): the gain it ships with.
    Each model is loaded once."""
    cache: dict[str, tuple[Colorizer, float]] = {}

    def load(model: str) -> tuple[Colorizer, float]:
        if model not in cache:
            colorizer = Colorizer.load(model)
            stored = colorizer.config.chroma_gain
            colorizer.config = dataclasses.replace(colorizer.config, chroma_gain=1.0)
            cache[model] = colorizer, stored
        return cache[model]

    def ab_of(model: str, gray: np.ndarray) -> np.ndarray:
        return load(model)[0].predict_chroma([gray])[1][0]

    return ab_of, lambda model: load(model)[1]


def colorize(spec: str, gray: np.ndarray, ab_of, stored_gain) -> np.ndarray:
    model, _, gain = spec.rpartition(":") if ":" in spec else (spec, "", "")
    gain = float(gain) if gain else stored_gain(model)  # none given: the model's own stored gain
    return compose(gray, ab_of(model, gray) * gain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs=2, action="append", required=True, metavar=("LABEL", "MODEL"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    ab_of, stored_gain = loader()
    rows = []
    for name in PHOTOS:
        rgb = getattr(data, name)()
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        tiles = [rgb] + [colorize(spec, gray, ab_of, stored_gain) for _, spec in args.model]
        height = int(WIDTH * rgb.shape[0] / rgb.shape[1])
        rows.append(np.hstack([cv2.resize(t, (WIDTH, height), interpolation=cv2.INTER_AREA) for t in tiles]))
    sheet = np.vstack(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    print(f"wrote {args.out}: columns truth, " + ", ".join(label for label, _ in args.model))


if __name__ == "__main__":
    main()
