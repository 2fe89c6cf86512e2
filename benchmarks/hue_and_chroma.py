"""Where the color error lives: hue from one model, chroma magnitude |ab| from another (or from the truth).

Issue #12's question was how to buy colorfulness without errors. This splits a prediction into its hue (the
direction of ab) and its chroma (|ab|) and scores, on the held-out split, the hue of `--hue` rescaled per pixel
to the chroma of `--chroma` (capped at `--max-gain` times, then times `--gain`):

    python benchmarks/hue_and_chroma.py --split ~/runs/A_l1 --per-folder 400 \\
        --hue src/colorgan/weights/default.safetensors --chroma truth --max-gain 1.5,2,3,5
    python benchmarks/hue_and_chroma.py --split ~/runs/A_l1 --per-folder 400 \\
        --hue src/colorgan/weights/default.safetensors --chroma ~/eval/W/W05.safetensors \\
        --max-gain 2,3 --gain 1,1.25,1.5

`--chroma truth` is an oracle (the true |ab|, blurred with sigma 2 px at the working size): an upper bound on
what a model that only knew "how vivid" could gain with the hue it already has. Each model's stored chroma
gain is ignored (1), so the knobs here are the only ones. Figures per folder as in color_plane.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from color_plane import held_out, score, summarize

from colorgan import colorspace
from colorgan.colorize import Colorizer, compose
from colorgan.data import sample_folder
from colorgan.evaluation.evaluate import gray_baseline


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def chroma(ab: np.ndarray) -> np.ndarray:
    """(h, w, 2) ab -> (h, w, 1) |ab|: `colorspace.chroma_of`, the chroma head's target, on a photo's array."""
    return _hwc(colorspace.chroma_of(_nchw(ab)))


def with_chroma(hue_ab: np.ndarray, target: np.ndarray, max_gain: float) -> np.ndarray:
    """hue_ab (h, w, 2) rescaled per pixel to the magnitude target (h, w, 1): the chroma head's own rescaling
    (`colorspace.rescale_to_chroma`), on a photo's arrays."""
    return _hwc(colorspace.rescale_to_chroma(_nchw(hue_ab), _nchw(target), max_gain))


def predictions(model: str, images) -> list[np.ndarray]:
    colorizer = Colorizer.load(model)
    colorizer.config = dataclasses.replace(colorizer.config, chroma_gain=1.0)
    return [colorizer.predict_chroma([im.gray])[1][0] for im in images]


def true_ab(images, shapes) -> list[np.ndarray]:
    """Each photo's true Lab ab (h, w, 2) at its working size."""
    out = []
    for im, (h, w) in zip(images, shapes):
        small = cv2.resize(im.truth, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        out.append(cv2.cvtColor(small, cv2.COLOR_RGB2Lab)[..., 1:])
    return out


def true_chroma(images, shapes) -> list[np.ndarray]:
    return [cv2.GaussianBlur(chroma(ab)[..., 0], (0, 0), 2)[..., None] for ab in true_ab(images, shapes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True, help="run folder whose split.json gives the held-out set")
    parser.add_argument("--per-folder", type=int, default=400)
    parser.add_argument("--hue", required=True, help="model whose ab direction is kept")
    parser.add_argument("--chroma", required=True, help="model whose |ab| is used, or 'truth' (an oracle)")
    parser.add_argument("--max-gain", default="2,3,5", help="comma-separated caps on the per-pixel rescaling")
    parser.add_argument("--gain", default="1", help="comma-separated global gains applied after")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    images, roots = held_out(args.split, args.per_folder)
    folders = sorted({sample_folder(im.name, roots) for im in images})
    masks = {f: np.array([sample_folder(im.name, roots) == f for im in images]) for f in folders}
    gray = np.array([score(gray_baseline(im.gray), im.truth) for im in images])
    hue = predictions(args.hue, images)
    if args.chroma == "truth":
        target = true_chroma(images, [h.shape[:2] for h in hue])
    else:
        target = [chroma(ab) for ab in predictions(args.chroma, images)]

    results = {"split": str(args.split), "hue": args.hue, "chroma": args.chroma, "points": []}
    for max_gain in map(float, args.max_gain.split(",")):
        for gain in map(float, args.gain.split(",")):
            rows = np.array(
                [
                    score(compose(im.gray, gain * with_chroma(h, t, max_gain)), im.truth)
                    for im, h, t in zip(images, hue, target)
                ]
            )
            point = {"max_gain": max_gain, "gain": gain, "folders": {}}
            line = f"max_gain {max_gain:<4g} gain {gain:<5g}"
            for folder in folders:
                s = summarize(rows[masks[folder]], gray[masks[folder]])
                point["folders"][folder] = s
                low, high = s["ciede2000"]["minus_gray_ci"]
                line += (
                    f"  {Path(folder).name}: dE {s['ciede2000']['mean']:.2f} [{low:+.2f}, {high:+.2f}]"
                    f" PSNR-gray {s['psnr']['minus_gray']:+.2f} CF {s['colorfulness_ratio']:.2f}"
                )
            print(line, flush=True)
            results["points"].append(point)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
