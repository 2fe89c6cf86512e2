"""Per-pixel reshapings of the predicted chroma, against the plain gain: do any buy colorfulness more cheaply?

Each transform maps the model's working-size ab (exported at gain 1) to a new ab, and every held-out photo is
composed and scored as users get it (full-resolution lightness, CIEDE2000, PSNR, colorfulness; paired intervals
against gray, as in `color_plane.py`):
  gain G            ab * G, the curve to beat
  knee C G          |ab| -> C * tanh(G * |ab| / C): faint colors lifted by G, vivid ones held near C
  table A K         ab * clip(K * t^A, 1, 2.5), t looked up by the predicted hue (16 sectors) and |ab| (8 bands):
                    the least-squares scale <pred, truth> / |pred|^2 of that cell, fitted on `--learn` photos
                    per folder of the split's training part (cells with few pixels shrink towards the global
                    scale)
  flip G            the mean of the prediction and of the mirrored photo's, mirrored back, then * G
                    (test-time augmentation: two network calls)

    python benchmarks/chroma_transforms.py --split ~/runs/A_l1 --model GQA_gain1.safetensors --per-folder 800 \\
        --learn 1500 --json benchmarks/results/chroma_transforms_GQA.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from color_plane import folders_line, held_out, score, summarize

from colorgan.evaluation.evaluate import gray_baseline
from colorgan.infer.colorize import Colorizer, compose
from colorgan.train.data import sample_folder

HUE_SECTORS = 16
CHROMA_BANDS = np.array([0, 3, 6, 10, 15, 22, 32, 50, np.inf])
CELL_PRIOR_PIXELS = 2000.0


def predictions(colorizer: Colorizer, images, mirrored: bool = False) -> list[np.ndarray]:
    """Each photo's working-size ab (h, w, 2); `mirrored`: of the left-right mirrored photo, mirrored back."""
    if not mirrored:
        return [colorizer.predict_chroma([im.gray])[1][0] for im in images]
    return [colorizer.predict_chroma([im.gray[:, ::-1].copy()])[1][0][:, ::-1] for im in images]


def true_ab(images, shapes) -> list[np.ndarray]:
    """Each photo's true Lab ab (h, w, 2) at its working size."""
    out = []
    for im, (h, w) in zip(images, shapes):
        small = cv2.resize(im.truth, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        out.append(cv2.cvtColor(small, cv2.COLOR_RGB2Lab)[..., 1:])
    return out


def chroma(ab: np.ndarray) -> np.ndarray:
    """(h, w, 2) ab -> (h, w, 1) |ab|."""
    return np.hypot(ab[..., 0], ab[..., 1])[..., None]


def cell_of(ab: np.ndarray) -> np.ndarray:
    """The (hue sector, chroma band) cell index of every ab pixel."""
    hue = (np.arctan2(ab[..., 1], ab[..., 0]) + np.pi) / (2 * np.pi) * HUE_SECTORS
    sector = np.clip(hue.astype(np.int64), 0, HUE_SECTORS - 1)
    band = np.clip(np.searchsorted(CHROMA_BANDS, np.hypot(ab[..., 0], ab[..., 1]), side="right") - 1, 0, 7)
    return sector * (len(CHROMA_BANDS) - 1) + band


def fit_scale_table(predicted: list[np.ndarray], truth: list[np.ndarray]) -> np.ndarray:
    """Per cell, the least-squares scale of the predicted ab towards the true ab, shrunk to the global scale."""
    p = np.concatenate([x.reshape(-1, 2) for x in predicted])
    t = np.concatenate([x.reshape(-1, 2) for x in truth])
    cells, n = cell_of(p), HUE_SECTORS * (len(CHROMA_BANDS) - 1)
    dot = np.bincount(cells, (p * t).sum(1), n)
    power = np.bincount(cells, (p * p).sum(1), n)
    count = np.maximum(np.bincount(cells, None, n), 1)
    prior = CELL_PRIOR_PIXELS * power / count  # CELL_PRIOR_PIXELS pixels' worth of the global scale
    return (dot + prior * dot.sum() / power.sum()) / (power + prior + 1e-9)


def knee(ab: np.ndarray, ceiling: float, gain: float) -> np.ndarray:
    c = chroma(ab) + 1e-6
    return ab * (ceiling * np.tanh(gain * c / ceiling) / c)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True, help="run folder whose split.json gives the held-out set")
    parser.add_argument("--model", required=True, help="weights exported at chroma gain 1")
    parser.add_argument("--per-folder", type=int, default=800)
    parser.add_argument("--learn", type=int, default=1500, help="training photos per folder for the table")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    colorizer = Colorizer.load(args.model)
    train_images, _ = held_out(args.split, args.learn, part="train")
    train_ab = predictions(colorizer, train_images)
    table = fit_scale_table(train_ab, true_ab(train_images, [ab.shape[:2] for ab in train_ab]))
    del train_images, train_ab

    images, roots = held_out(args.split, args.per_folder)
    folders = np.array([sample_folder(im.name, roots) for im in images])
    gray = np.array([score(gray_baseline(im.gray), im.truth) for im in images])
    plain = predictions(colorizer, images)
    flipped = [(a + b) / 2 for a, b in zip(plain, predictions(colorizer, images, mirrored=True))]

    transforms = [(("gain", g), lambda ab, g=g: ab * g, plain) for g in (1.0, 1.5, 1.7, 1.9)]
    transforms += [
        (("knee", c, g), lambda ab, c=c, g=g: knee(ab, c, g), plain) for c in (25, 40, 60) for g in (1.7, 2.0)
    ]
    transforms += [
        (("table", a, k), lambda ab, a=a, k=k: ab * np.clip(k * table[cell_of(ab)] ** a, 1, 2.5)[..., None], plain)
        for a in (0.5, 1.0)
        for k in (1.2, 1.4)
    ]
    transforms += [(("flip", g), lambda ab, g=g: ab * g, flipped) for g in (1.0, 1.5, 1.7, 1.9)]

    results = {"split": str(args.split), "model": args.model, "table": table.tolist(), "points": []}
    for label, transform, source in transforms:
        rows = np.array([score(compose(im.gray, transform(ab)), im.truth) for im, ab in zip(images, source)])
        per_folder = {f: summarize(rows[folders == f], gray[folders == f]) for f in sorted(set(folders))}
        results["points"].append({"transform": list(label), "folders": per_folder})
        print(f"{' '.join(map(str, label)):<14}" + folders_line(per_folder), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
