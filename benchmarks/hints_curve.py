"""How much a few color hints help (issues #15, #31), with points from the truth, on a folder of photos
(`--data`, e.g. ../shared/data/realval) or on a run's held-out split (`--split`).

For each photo and each number of points N (0, 1, 2, 5, 10, 20, 50), N places are drawn at random (the same
places for every model, nested: the 5 points include the 2). Each hint is a disk of the network's default
patch (2 working pixels, in photo pixels at the model's working size) colored with the truth's mean there,
as a user who knows the color would click it. Reported per N, with 95 % bootstrap intervals:
- PSNR and CIEDE2000 of the whole photo, and their paired difference to N = 0 (the same model, no hints);
- the worst photo's PSNR difference to N = 0, and the share of photos more than 0.3 dB worse;
- "followed": CIEDE2000 between each hint's color and the output within its disk, the output's own
  lightness kept on both sides (a hint sets chroma, not lightness), and the same for the automatic output
  (N = 0) at those points: #31 asks for at most 0.6 times it;
- how far one hint reaches: the share of each photo that its first hint alone changes by more than a just
  noticeable chroma difference.

    python benchmarks/hints_curve.py --data ../shared/data/realval \\
        --json benchmarks/results/hints_curve_realval.json --out docs/img/hints_curve_realval.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage.color import deltaE_ciede2000, rgb2lab  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from color_plane import held_out  # noqa: E402

from colorgan.evaluation import metrics  # noqa: E402
from colorgan.evaluation.evaluate import load_eval_images  # noqa: E402
from colorgan.infer.colorize import Colorizer  # noqa: E402
from colorgan.infer.hints import DEFAULT_RADIUS  # noqa: E402
from colorgan.train.data import find_samples  # noqa: E402

COUNTS = (0, 1, 2, 5, 10, 20, 50)
WORSE_DB = 0.3  # #31: no photo may lose more than this to its hints
JND = 2.3  # a just noticeable chroma difference (Lab ab), for how far one hint reaches
WORST, SHEET_POINTS = 8, 10  # --sheets: how many photos, at how many points
QUANTILES = {"median": 0.5, "90th percentile": 0.9, "most": 1.0}


def hint_radius(shape: tuple[int, int], working_size: int) -> float:
    """The network's default hint patch, in photo pixels, for a photo whose long side is worked at that size."""
    return max(1.0, DEFAULT_RADIUS * max(shape[:2]) / working_size)


def draw_points(truth: np.ndarray, rng: np.random.Generator, most: int, radius: float) -> list[dict]:
    """`most` hints from the truth, in drawing order (take the first N for N points)."""
    h, w = truth.shape[:2]
    ys, xs = rng.integers(0, h, most), rng.integers(0, w, most)
    yy, xx = np.mgrid[0:h, 0:w]
    points = []
    for y, x in zip(ys.tolist(), xs.tolist()):
        disk = (yy - y) ** 2 + (xx - x) ** 2 <= radius**2
        color = truth[disk].reshape(-1, 3).mean(axis=0).round().astype(int)
        points.append({"x": x, "y": y, "color": "#{:02x}{:02x}{:02x}".format(*color), "radius": radius})
    return points


def followed(output: np.ndarray, points: list[dict]) -> list[float]:
    """Per hint: mean CIEDE2000 between the hint's chroma and the output's, within the radius, at the output's
    own lightness."""
    lab = rgb2lab(output)
    yy, xx = np.mgrid[0 : output.shape[0], 0 : output.shape[1]]
    errors = []
    for p in points:
        disk = (yy - p["y"]) ** 2 + (xx - p["x"]) ** 2 <= p["radius"] ** 2
        rgb = np.array([int(p["color"][i : i + 2], 16) for i in (1, 3, 5)], np.uint8).reshape(1, 1, 3)
        hint_lab = np.repeat(rgb2lab(rgb).reshape(1, 3), disk.sum(), axis=0)
        hint_lab[:, 0] = lab[disk][:, 0]
        errors.append(float(deltaE_ciede2000(hint_lab, lab[disk]).mean()))
    return errors


def write_worst_sheets(folder: Path, colorizer, images, plans, gains: np.ndarray) -> None:
    """automatic | hinted (points ringed) | truth, for the photos whose PSNR the hints help least."""
    folder.mkdir(parents=True, exist_ok=True)
    for rank, i in enumerate(np.argsort(gains)[:WORST]):
        im, points = images[i], plans[i][:SHEET_POINTS]
        hinted = colorizer.colorize_array(im.gray, hints=points).copy()
        for p in points:
            cv2.circle(hinted, (int(p["x"]), int(p["y"])), int(p["radius"]) + 2, (255, 255, 255), 1)
        sheet = np.hstack([colorizer.colorize_array(im.gray), hinted, im.truth])
        name = f"{rank:02d}_{gains[i]:+.2f}dB_{Path(im.name).stem}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def changed_share(output: np.ndarray, automatic: np.ndarray) -> float:
    """The share of the photo whose chroma differs from the automatic result's by more than JND (Lab ab)."""
    moved = rgb2lab(output)[..., 1:] - rgb2lab(automatic)[..., 1:]
    return float((np.hypot(moved[..., 0], moved[..., 1]) > JND).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", type=Path, help="a folder of color photos (e.g. ../shared/data/realval)")
    where.add_argument("--split", type=Path, help="run folder whose split.json gives the held-out set")
    parser.add_argument("--model", help="run folder or weights (default: the shipped model)")
    parser.add_argument("--per-folder", type=int, default=300, help="with --split: photos per data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheets", type=Path, help=f"write the {WORST} photos that lose most at {SHEET_POINTS} points")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--out", type=Path, default=Path("hints_curve.png"))
    args = parser.parse_args()

    if args.data:
        samples, _ = find_samples(args.data)
        images = load_eval_images(samples, [])
    else:
        images, _ = held_out(args.split, args.per_folder)
    colorizer = Colorizer.load(args.model)
    working = colorizer.config.working_size or colorizer.config.size
    rng = np.random.default_rng(args.seed)
    plans = [draw_points(im.truth, rng, max(COUNTS), hint_radius(im.truth.shape, working)) for im in images]
    rows: dict[int, dict[str, list[float]]] = {
        n: {"psnr": [], "ciede2000": [], "followed": [], "automatic_at_points": []} for n in COUNTS
    }
    reach: list[float] = []  # per photo: the share of it that its first hint alone changes visibly
    t0 = time.perf_counter()
    for im, plan in zip(images, plans):
        automatic = None
        for n in COUNTS:
            out = colorizer.colorize_array(im.gray, hints=plan[:n])
            automatic = out if n == 0 else automatic
            if n == 1:
                reach.append(changed_share(out, automatic))
            rows[n]["psnr"].append(metrics.psnr(out, im.truth))
            rows[n]["ciede2000"].append(metrics.ciede2000(out, im.truth))
            rows[n]["followed"] += followed(out, plan[:n])
            rows[n]["automatic_at_points"] += followed(automatic, plan[:n])
    gains = {n: np.array(rows[n]["psnr"]) - np.array(rows[0]["psnr"]) for n in COUNTS}
    per_photo = {im.name: {str(n): round(float(gains[n][i]), 3) for n in COUNTS} for i, im in enumerate(images)}
    if args.sheets:
        write_worst_sheets(args.sheets, colorizer, images, plans, gains[SHEET_POINTS])
    result = {
        "model": str(args.model or "shipped"),
        "photos": str(args.data or args.split),
        "images": len(images),
        "working_size": working,
        "seconds": round(time.perf_counter() - t0, 1),
        "counts": {},
    }
    base = {k: np.array(rows[0][k]) for k in ("psnr", "ciede2000")}
    for n in COUNTS:
        entry = {}
        for key in ("psnr", "ciede2000"):
            values = np.array(rows[n][key])
            mean, low, high = metrics.bootstrap_ci(values)
            d_mean, d_low, d_high = metrics.bootstrap_ci(values - base[key])
            entry[key] = {
                "mean": mean,
                "ci": [low, high],
                "minus_no_hints": d_mean,
                "minus_no_hints_ci": [d_low, d_high],
            }
        gain = np.array(rows[n]["psnr"]) - base["psnr"]
        entry["worst_photo_psnr_minus_no_hints"] = float(gain.min())
        entry["share_worse_than_no_hints_by_0.3_db"] = float((gain < -WORSE_DB).mean())
        if rows[n]["followed"]:
            mean, low, high = metrics.bootstrap_ci(np.array(rows[n]["followed"]))
            entry["followed_ciede2000"] = {"mean": mean, "ci": [low, high]}
            mean, low, high = metrics.bootstrap_ci(np.array(rows[n]["automatic_at_points"]))
            entry["automatic_at_points_ciede2000"] = {"mean": mean, "ci": [low, high]}
        result["counts"][str(n)] = entry
        if n == 1:
            share = np.array(reach)
            entry["one_hint_changes_share"] = {q: float(np.quantile(share, v)) for q, v in QUANTILES.items()}
            print(
                "one hint changes "
                + ", ".join(f"{100 * v:.0f} % ({q})" for q, v in entry["one_hint_changes_share"].items())
                + f" of the photo by more than {JND} in ab"
            )
        follow = entry.get("followed_ciede2000", {}).get("mean", float("nan"))
        auto = entry.get("automatic_at_points_ciede2000", {}).get("mean", float("nan"))
        print(
            f"{n:>3} points: PSNR {entry['psnr']['mean']:.2f} ({entry['psnr']['minus_no_hints']:+.2f} "
            f"[{entry['psnr']['minus_no_hints_ci'][0]:+.2f}, {entry['psnr']['minus_no_hints_ci'][1]:+.2f}])  "
            f"worst photo {gain.min():+.2f} dB, {100 * (gain < -WORSE_DB).mean():.0f} % lose > {WORSE_DB} dB  "
            f"dE00 {entry['ciede2000']['mean']:.2f} ({entry['ciede2000']['minus_no_hints']:+.2f})  "
            f"at the points dE00 {follow:.2f} (automatic {auto:.2f})",
            flush=True,
        )
    result["per_photo_psnr_minus_no_hints"] = per_photo
    plot(result, args.out)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}" + (f" and {args.json}" if args.json else ""))


def plot(result: dict, out: Path) -> None:
    counts = [int(n) for n in result["counts"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, label in (
        (axes[0], "psnr", "PSNR (dB, higher is better)"),
        (axes[1], "ciede2000", "CIEDE2000 (lower is better)"),
    ):
        entries = [result["counts"][str(n)][key] for n in counts]
        means = [e["mean"] for e in entries]
        lows = [e["mean"] - e["ci"][0] for e in entries]
        highs = [e["ci"][1] - e["mean"] for e in entries]
        ax.errorbar(range(len(counts)), means, yerr=[lows, highs], fmt="o-", capsize=3)
        ax.set_xticks(range(len(counts)), [str(n) for n in counts])
        ax.set(xlabel="hint points from the truth", ylabel=label)
    fig.suptitle(f"{Path(result['photos']).name} ({result['images']} photos), {Path(result['model']).name}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
