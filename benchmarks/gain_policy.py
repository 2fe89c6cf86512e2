"""A chroma gain chosen per photo, against one gain for all: simulated on a run's held-out split.

Every held-out photo is colorized at a grid of gains (CIEDE2000, PSNR and colorfulness, summarized with paired
intervals against gray, as in `color_plane.py`); a policy then picks each photo's gain from what the model
predicted at gain 1, and the photo's figures at that gain are interpolated linearly between the grid's. Two
policies, beside the uniform gain:
  lift    g = clip(T / cf, 1, gmax): raise each photo's predicted colorfulness cf towards T
  boost   g = clip(cf / T, 1, gmax): the opposite, more gain for the photos predicted vivid

    python benchmarks/gain_policy.py --split ~/runs/A_l1 --model GQA_gain1.safetensors --per-folder 800 \
        --json benchmarks/results/gain_policy_GQA.json

The model should be exported at gain 1 (`colorgan export --chroma-gain 1`): the grid multiplies what it returns.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from color_plane import folders_line, held_out, score, set_knob, summarize

from colorgan.colorize import Colorizer
from colorgan.data import sample_folder
from colorgan.evaluation.evaluate import gray_baseline

GAINS = (1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2)


def at_gains(rows: np.ndarray, gains: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """rows: (G, N, 4) per-photo figures at each grid gain -> (N, 4) at each photo's chosen gain (linear)."""
    chosen = np.clip(chosen, gains[0], gains[-1])
    k = np.clip(np.searchsorted(gains, chosen) - 1, 0, len(gains) - 2)
    w = ((chosen - gains[k]) / (gains[k + 1] - gains[k]))[:, None]
    n = np.arange(rows.shape[1])
    return rows[k, n] * (1 - w) + rows[k + 1, n] * w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True, help="run folder whose split.json gives the held-out set")
    parser.add_argument("--model", required=True, help="weights exported at chroma gain 1")
    parser.add_argument("--per-folder", type=int, default=800)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    images, roots = held_out(args.split, args.per_folder)
    folders = np.array([sample_folder(im.name, roots) for im in images])
    gray = np.array([score(gray_baseline(im.gray), im.truth) for im in images])
    colorizer = Colorizer.load(args.model)
    base = colorizer.backend
    gains = np.array(GAINS)
    grid = []
    for gain in gains:
        set_knob(colorizer, "gain", gain, base)
        grid.append([score(colorizer.colorize_array(im.gray), im.truth) for im in images])
    rows = np.array(grid)
    predicted = rows[0, :, 2]  # each photo's colorfulness as predicted at gain 1
    policies = [("uniform", {"gain": float(g)}, np.full(len(images), g)) for g in gains]
    for gmax in (1.6, 2.0, 2.2):
        for target in (20, 25, 30, 35, 40):
            lift = np.clip(target / np.maximum(predicted, 1e-3), 1, gmax)
            policies.append(("lift", {"target": target, "gmax": gmax}, lift))
    for gmax in (1.8, 2.2):
        for target in (5, 10, 15):
            policies.append(("boost", {"target": target, "gmax": gmax}, np.clip(predicted / target, 1, gmax)))

    results = {"split": str(args.split), "model": args.model, "images": len(images), "policies": []}
    for name, params, chosen in policies:
        at = at_gains(rows, gains, chosen)
        per_folder = {f: summarize(at[folders == f], gray[folders == f]) for f in sorted(set(folders))}
        results["policies"].append({"policy": name, **params, "folders": per_folder})
        print(f"{name:>7} {json.dumps(params):<32}" + folders_line(per_folder), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
