"""Two models on the same held-out photos: the paired difference (B - A) per data folder, with 95 % intervals.

Reads the `per_image.csv` that `colorgan evaluate` writes for each model (same split, e.g. both with
`--run RUN`), pairs the rows by image name and bootstraps the mean of the per-photo differences.

    colorgan evaluate --run ~/runs/A_l1 --model A.safetensors --out ~/eval/A
    colorgan evaluate --run ~/runs/A_l1 --model B.safetensors --out ~/eval/B
    python benchmarks/paired_models.py ~/eval/A/per_image.csv ~/eval/B/per_image.csv --json out.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from colorgan.evaluation import metrics
from colorgan.evaluation.evaluate import verdict

METRICS = ("ciede2000", "psnr", "colorfulness")


def read(path: Path) -> dict[str, dict[str, float]]:
    with open(path, newline="") as handle:
        return {row["image"]: {k: float(row[k]) for k in METRICS} for row in csv.DictReader(handle)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="per_image.csv of model A")
    parser.add_argument("b", type=Path, help="per_image.csv of model B")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    a, b = read(args.a), read(args.b)
    names = sorted(set(a) & set(b))
    if len(names) < len(a) or len(names) < len(b):
        print(f"warning: {len(a)} and {len(b)} photos, {len(names)} in both: comparing those")
    folders = {"all": names}
    for name in names:  # photos at the top of a flat folder (realval) belong to "all" only
        if "/" in name:
            folders.setdefault(name.split("/")[0], []).append(name)
    result = {"a": str(args.a), "b": str(args.b), "folders": {}}
    for folder, members in folders.items():
        entry = {"images": len(members)}
        for metric in METRICS:
            diffs = np.array([b[n][metric] - a[n][metric] for n in members])
            mean, low, high = metrics.bootstrap_ci(diffs)
            stats = {"mean": mean, "ci_low": low, "ci_high": high}
            entry[metric] = {
                **stats,
                "a": float(np.mean([a[n][metric] for n in members])),
                "b": float(np.mean([b[n][metric] for n in members])),
            }
            if metric != "colorfulness":
                entry[metric]["verdict_for_b"] = verdict(stats, metric)
        result["folders"][folder] = entry
        print(
            f"{folder} ({len(members)} photos): "
            + "; ".join(
                f"{m} A {entry[m]['a']:.2f} B {entry[m]['b']:.2f} B-A {entry[m]['mean']:+.2f} "
                f"[{entry[m]['ci_low']:+.2f}, {entry[m]['ci_high']:+.2f}]"
                + (f" {entry[m]['verdict_for_b']}" if "verdict_for_b" in entry[m] else "")
                for m in METRICS
            )
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
