"""Colorfulness against CIEDE2000 on a run's held-out split: where each model and each knob setting lies.

Issue #12's test for any color-adding method: it must lie beyond the "gain curve" of the best L1 model (its
predicted ab multiplied by a gain). Each curve is one model with one knob swept:
  gain         ab multiplied by g (any model);
  temperature  the bins head's annealed-mean temperature (1 = mean, lower = nearer the mode).

    python benchmarks/color_plane.py --split ~/runs/A_l1 --per-folder 600 \\
        --curve "L1" ~/runs/A_l1 gain 1,1.5,2,2.5 --curve "bins" ~/runs/B_bins temperature 1,0.6,0.45,0.38,0.3 \\
        --out docs/img/color_plane.png --json benchmarks/results/color_plane.json

Every photo is colorized as users get it (`Colorizer.colorize_array`: working size, ab upsampled, full-res L).
Figures per data folder, with 95 % bootstrap intervals; the gray baseline is scored on the same photos, and
its difference to each point is paired (the interval of the per-photo differences).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from colorgan.config import TrainConfig  # noqa: E402
from colorgan.evaluation import metrics  # noqa: E402
from colorgan.evaluation.evaluate import gray_baseline, load_eval_images  # noqa: E402
from colorgan.infer.colorize import Colorizer  # noqa: E402
from colorgan.train.data import data_roots, find_samples, sample_folder  # noqa: E402


def held_out(split_run: Path, per_folder: int, part: str = "val"):
    """Up to `per_folder` photos of each data folder from the split's `part` ("val": the held-out photos),
    spread evenly over it."""
    split = json.loads((split_run / "split.json").read_text())
    roots = data_roots(TrainConfig.from_yaml(split_run / "config.yaml").data)
    by_folder: dict[str, list[str]] = defaultdict(list)
    for name in split[part]:
        by_folder[sample_folder(name, roots)].append(name)
    chosen = {n for names in by_folder.values() for n in names[:: max(1, len(names) // per_folder)][:per_folder]}
    samples = [s for s in find_samples(roots)[0] if s.name in chosen]
    return load_eval_images(samples, []), roots


def set_knob(colorizer: Colorizer, knob: str, value: float, base_backend):
    if knob == "temperature":
        colorizer.backend.generator.temperature = value
    elif knob == "gain":
        colorizer.backend = lambda x, g=value: base_backend(x) * g
    else:
        raise SystemExit(f"unknown knob {knob!r}: gain or temperature")


def score(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, float]:
    return (
        metrics.ciede2000(pred, truth),
        metrics.psnr(pred, truth),
        metrics.colorfulness(pred),
        metrics.colorfulness(truth),
    )


def summarize(rows: np.ndarray, gray_rows: np.ndarray) -> dict:
    """rows: (n, 4) ciede, psnr, colorfulness, truth colorfulness."""
    out = {"images": len(rows)}
    for i, key in enumerate(("ciede2000", "psnr")):
        mean, low, high = metrics.bootstrap_ci(rows[:, i])
        d_mean, d_low, d_high = metrics.bootstrap_ci(rows[:, i] - gray_rows[:, i])
        out[key] = {"mean": mean, "ci": [low, high], "minus_gray": d_mean, "minus_gray_ci": [d_low, d_high]}
    out["colorfulness_ratio"] = float(rows[:, 2].mean() / rows[:, 3].mean())
    return out


def folders_line(folders: dict) -> str:
    """`summarize`'s figures per folder on one line: CIEDE2000 (and its difference to gray), PSNR, colorfulness."""
    return "".join(
        f"  {f}: dE {s['ciede2000']['mean']:.2f} (vs gray {s['ciede2000']['minus_gray']:+.2f})"
        f" PSNR {s['psnr']['mean']:.2f} CF {s['colorfulness_ratio']:.2f}"
        for f, s in folders.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, help="run folder whose split.json gives the held-out set")
    parser.add_argument("--merge", nargs="+", type=Path, help="only plot: the curves of these JSON results together")
    parser.add_argument("--per-folder", type=int, default=600, help="held-out photos per data folder")
    parser.add_argument(
        "--curve",
        nargs=4,
        action="append",
        default=[],
        metavar=("LABEL", "MODEL", "KNOB", "VALUES"),
        help="VALUES: comma-separated",
    )
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("color_plane.png"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        merged = parts[0] | {"curves": [c for part in parts for c in part["curves"]]}
        plot(merged, args.out)
        if args.json:
            args.json.write_text(json.dumps(merged, indent=1))
        return
    if not args.split or not args.curve:
        parser.error("--split and at least one --curve are needed (or --merge)")

    images, roots = held_out(args.split, args.per_folder)
    folders = sorted({sample_folder(im.name, roots) for im in images})
    gray = np.array([score(gray_baseline(im.gray), im.truth) for im in images])
    results: dict = {"split": str(args.split), "folders": {}, "curves": []}
    for folder in folders:
        mask = np.array([sample_folder(im.name, roots) == folder for im in images])
        results["folders"][folder or "all"] = {"gray": summarize(gray[mask], gray[mask])}
    for label, model, knob, values in args.curve:
        colorizer = Colorizer.load(model, backend="onnx" if str(model).endswith(".onnx") else "torch")
        base = colorizer.backend
        curve = {"label": label, "model": model, "knob": knob, "points": []}
        for value in map(float, values.split(",")):
            set_knob(colorizer, knob, value, base)
            t0 = time.perf_counter()
            rows = np.array([score(colorizer.colorize_array(im.gray, args.size), im.truth) for im in images])
            point = {"value": value, "seconds": round(time.perf_counter() - t0, 1), "folders": {}}
            for folder in folders:
                mask = np.array([sample_folder(im.name, roots) == folder for im in images])
                point["folders"][folder or "all"] = summarize(rows[mask], gray[mask])
            curve["points"].append(point)
            print(f"{label:>12} {knob}={value:<5g}" + folders_line(point["folders"]), flush=True)
        results["curves"].append(curve)
    plot(results, args.out)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}" + (f" and {args.json}" if args.json else ""))


def plot(results: dict, out: Path) -> None:
    folders = list(results["folders"])
    fig, axes = plt.subplots(1, len(folders), figsize=(6 * len(folders), 4.5), squeeze=False)
    for ax, folder in zip(axes[0], folders):
        gray = results["folders"][folder]["gray"]["ciede2000"]["mean"]
        ax.axvline(gray, color="gray", ls="--", lw=1, label="leave it gray")
        ax.axhline(0.7, color="gray", ls=":", lw=1)
        for curve in results["curves"]:
            pts = [p["folders"][folder] for p in curve["points"]]
            xs = [p["ciede2000"]["mean"] for p in pts]
            ys = [p["colorfulness_ratio"] for p in pts]
            (line,) = ax.plot(xs, ys, "o-", label=f"{curve['label']} ({curve['knob']})")
            for x, y, p in zip(xs, ys, curve["points"]):
                ax.annotate(
                    f"{p['value']:g}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                    color=line.get_color(),
                )
        ax.set(title=f"held-out: {folder}", xlabel="CIEDE2000 (lower is better)", ylabel="colorfulness / truth's")
        ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
