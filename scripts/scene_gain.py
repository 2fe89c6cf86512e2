"""Fit a model's scene head: a gain per kind of scene, mixed per photo by what kind of scene it is.

The default model colors the landscapes more vividly against their truth than everyday photos (colorfulness
0.61 against 0.41 of the truth's at gain 1), so one gain cannot suit both: the gain that brings everyday photos
to 70 % of their truth's colorfulness over-colors landscapes (114 %). The scene head is a ridge classifier on
the means of G's deepest encoder levels, fitted on the training photos of a run's split with their data
folder as the label (one kind of scene per folder); each kind gets its own gain multiplier.

    python scripts/scene_gain.py --model BTA.safetensors --split ~/runs/A_l1 --learn 1000 \\
        --gains broad=1 landscapes=0.87 --out default.safetensors

The multipliers act on top of the model's chroma gain (`colorgan export --chroma-gain`). docs/quality.md,
section 10, gives how they were chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from color_plane import held_out  # noqa: E402

from colorgan.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from colorgan.colorize import Colorizer, load_generator  # noqa: E402
from colorgan.config import TrainConfig  # noqa: E402
from colorgan.data import sample_folder  # noqa: E402
from colorgan.models import build_generator  # noqa: E402
from colorgan.scene import capture_scene_features, fit_scene_head  # noqa: E402


def scene_features(model: str, images) -> np.ndarray:
    """(N, D): what the scene head reads, from the colorizer's own inference of each photo."""
    colorizer = Colorizer.load(model)
    with capture_scene_features(colorizer.backend.generator) as found:
        for im in images:
            colorizer.predict_chroma([im.gray])
    return np.concatenate(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the exported model (weights file)")
    parser.add_argument("--split", type=Path, required=True, help="run folder whose split.json gives the photos")
    parser.add_argument("--learn", type=int, default=1000, help="training photos per data folder")
    parser.add_argument("--gains", nargs="+", required=True, help="FOLDER=MULTIPLIER for every data folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    gains = dict(item.split("=", 1) for item in args.gains)
    images, roots = held_out(args.split, args.learn, part="train")
    labels = np.array([sample_folder(im.name, roots) for im in images])
    kinds = sorted(set(labels))
    if sorted(gains) != kinds:
        raise SystemExit(f"--gains must name each data folder once: {kinds}")
    weight, bias = fit_scene_head(scene_features(args.model, images), labels, kinds)

    generator, cfg, _ = load_generator(args.model)
    config = cfg.to_dict() | {"scene_kinds": kinds, "scene_gains": [float(gains[kind]) for kind in kinds]}
    scened = build_generator(TrainConfig.from_dict(config).validate())
    state = generator.state_dict() | {
        "scene.weight": torch.tensor(weight, dtype=torch.float32),
        "scene.bias": torch.tensor(bias, dtype=torch.float32),
    }
    scened.load_state_dict(state)
    if any(t.dtype == torch.float16 for t in load_checkpoint(args.model).module_state("G").values()):
        scened = scened.half()  # as the model came (the head computes in fp32 whatever it is stored in)
    source = {"exported_from": f"{args.model} + scene head ({len(images)} training photos of {args.split})"}
    save_checkpoint(args.out, {"G": scened}, {}, config, source)
    print(json.dumps({"kinds": kinds, "gains": config["scene_gains"], "photos": len(images)}))


if __name__ == "__main__":
    main()
