"""Evaluation: colorize held-out photos the way users get them, score them, compare with baselines.

Every photo is colorized through `Colorizer` at its own resolution (full-res lightness, predicted chroma)
and scored against its true colors. Two baselines get the same treatment on the same photos:
  gray         - no color at all (the input's lightness only);
  mean chroma  - every pixel gets the training set's mean ab.
A model is only good if it beats both.
"""

from __future__ import annotations

import csv
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import metrics
from .color import mean_ab
from .colorize import Colorizer, compose
from .config import TrainConfig
from .data import DataError, Sample, find_samples
from .fsutil import atomic_write_bytes, atomic_write_text
from .images import ImageReadError, gray_channel, load_image

BASELINES = ("gray", "mean_chroma")


@dataclass
class EvalImage:
    name: str
    gray: np.ndarray  # (H, W) uint8 input
    truth: np.ndarray  # (H, W, 3) uint8


def gray_baseline(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def mean_chroma_baseline(gray: np.ndarray, ab: list[float]) -> np.ndarray:
    return compose(gray, np.broadcast_to(np.asarray(ab, np.float32), (1, 1, 2)).copy())


def load_eval_images(samples: list[Sample], skipped: list[tuple[str, str]]) -> list[EvalImage]:
    images = []
    for sample in samples:
        try:
            color = load_image(sample.color)
            gray = gray_channel(load_image(sample.gray)) if sample.gray else gray_channel(color)
            if gray.shape != color.rgb.shape[:2]:
                raise ImageReadError(str(sample.gray), "size does not match its color photo")
        except ImageReadError as err:
            skipped.append((sample.name, err.reason))
            continue
        images.append(EvalImage(sample.name, gray, color.rgb))
    return images


def run_samples(run_dir: Path, data: str | None) -> tuple[list[Sample], str]:
    """The validation split of a run, as saved in split.json."""
    split = json.loads((run_dir / "split.json").read_text())
    config = (run_dir / "config.yaml").read_text()
    import yaml

    root = data or yaml.safe_load(config)["data"]
    by_name = {s.name: s for s in find_samples(root)[0]}
    names = split["val"] or split["train"][:64]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise DataError(f"{root}: {len(missing)} validation files of the run are missing (e.g. {missing[0]})")
    return [by_name[n] for n in names], root


def evaluate(colorizer: Colorizer, images: list[EvalImage], out_dir: Path, train_mean_ab: list[float] | None,
             size: int | None = None, progress: bool = True, loss_png: Path | None = None,
             skipped: list[tuple[str, str]] | None = None, title: str = "", lpips=None) -> dict:
    """Score the model and both baselines on `images`; write metrics.json, per_image.csv and report.html."""
    from .htmlreport import write_report

    if not images:
        raise DataError("nothing to evaluate: no readable images")
    out_dir.mkdir(parents=True, exist_ok=True)
    oracle = train_mean_ab is None
    ab = train_mean_ab if train_mean_ab is not None else mean_ab([im.truth for im in images])
    rows: dict[str, list[dict]] = {"model": [], "gray": [], "mean_chroma": []}
    hists = {k: np.zeros((32, 32)) for k in ("truth", "model", "gray", "mean_chroma")}
    predictions = []
    # The metrics are pure NumPy/scikit-image code that releases the GIL: two threads score twice as fast.
    pool = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)))
    for im in tqdm(images, desc="evaluating", unit="img", disable=not progress):
        outputs = {"model": colorizer.colorize_array(im.gray, size), "gray": gray_baseline(im.gray),
                   "mean_chroma": mean_chroma_baseline(im.gray, ab), "truth": im.truth}
        scored = pool.map(lambda key, pred, truth=im.truth: (
            None if key == "truth" else _score(pred, truth, lpips), metrics.ab_histogram([pred])),
            outputs.keys(), outputs.values())
        for key, (row, hist) in zip(outputs, scored):
            if row is not None:
                rows[key].append(row)
            hists[key] += hist * im.truth.shape[0] * im.truth.shape[1]
        predictions.append(outputs["model"])
    pool.shutdown()
    hists = {k: v / v.sum() for k, v in hists.items()}
    summary = {
        "images": len(images),
        "skipped": len(skipped or []),
        "size": size or colorizer.size,
        "model_info": colorizer.info(),
        "mean_ab_baseline": {"ab": ab, "source": "evaluation set (no training mean stored)" if oracle
                             else "training split"},
        "network_metrics": ("LPIPS (AlexNet, v0.1) from user-supplied weights; FID skipped" if lpips else
                            "skipped: FID and LPIPS need pretrained networks, which colorgan never downloads "
                            "(pass --lpips-weights for LPIPS)"),
        "metrics_variants": {"colorfulness": "Hasler & Susstrunk 2003, signed means, 0-255 scale",
                             "chroma_hist_distance": "Jensen-Shannon distance of 32x32 Lab ab histograms "
                                                     "(range 0..1, lower is better)"},
    }
    for key in rows:
        summary[key] = metrics.aggregate(rows[key])
        summary[key]["chroma_hist_distance"] = metrics.chroma_histogram_distance(hists[key], hists["truth"])
        truth_cf = summary[key]["colorfulness_truth"]["mean"]
        summary[key]["colorfulness_ratio"] = summary[key]["colorfulness"]["mean"] / truth_cf if truth_cf else 0.0
    summary["beats_baselines"] = {
        metric: all(_better(summary["model"], summary[b], metric) for b in BASELINES)
        for metric in ("ciede2000", "psnr", "ssim")
    }
    atomic_write_text(out_dir / "metrics.json", json.dumps(summary, indent=2))
    _write_per_image(out_dir / "per_image.csv", images, rows)
    write_report(out_dir / "report.html", summary, images, predictions, rows["model"], hists, loss_png,
                 skipped or [], title)
    return summary


def _score(pred: np.ndarray, truth: np.ndarray, lpips) -> dict[str, float]:
    row = metrics.image_metrics(pred, truth)
    if lpips is not None:
        row["lpips"] = lpips.distance(pred, truth)
    return row


def _better(model: dict, baseline: dict, metric: str) -> bool:
    if metric == "ciede2000":
        return model[metric]["mean"] < baseline[metric]["mean"]
    return model[metric]["mean"] > baseline[metric]["mean"]


def _write_per_image(path: Path, images: list[EvalImage], rows: dict[str, list[dict]]) -> None:
    keys = list(rows["model"][0])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["image"] + keys + [f"{b}_{k}" for b in BASELINES for k in ("psnr", "ssim", "ciede2000")])
    for i, im in enumerate(images):
        writer.writerow([im.name] + [f"{rows['model'][i][k]:.5g}" for k in keys]
                        + [f"{rows[b][i][k]:.5g}" for b in BASELINES for k in ("psnr", "ssim", "ciede2000")])
    atomic_write_bytes(path, buffer.getvalue().encode())


def evaluate_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, data: str | None = None,
                 limit: int | None = None, size: int | None = None, progress: bool = True,
                 lpips_weights: str | None = None) -> dict:
    """Evaluate a run folder's latest checkpoint on its saved validation split."""
    run_dir = Path(run_dir)
    colorizer = Colorizer.load(run_dir)
    samples, _ = run_samples(run_dir, data)
    samples = samples[:limit] if limit else samples
    skipped: list[tuple[str, str]] = []
    images = load_eval_images(samples, skipped)
    train_ab = colorizer.config.extra.get("mean_ab") or train_split_mean_ab(run_dir, data)
    loss_png = run_dir / "loss.png"
    return evaluate(colorizer, images, Path(out_dir or run_dir), train_ab, size, progress,
                    loss_png if loss_png.exists() else None, skipped, title=str(run_dir),
                    lpips=_load_lpips(lpips_weights))


def train_split_mean_ab(run_dir: Path, data: str | None, most: int = 500) -> list[float] | None:
    """Mean ab of (up to `most` of) a run's training photos, for runs whose config predates storing it."""
    split = json.loads((run_dir / "split.json").read_text())
    root = Path(data or TrainConfig.from_yaml(run_dir / "config.yaml").data)
    names = split["train"][:: max(1, len(split["train"]) // most)]
    rgbs = []
    for name in names:
        try:
            rgbs.append(load_image(root / name).rgb)
        except ImageReadError:
            continue
    return mean_ab(rgbs) if rgbs else None


def evaluate_model(model: str | os.PathLike | None, data: str | os.PathLike, out_dir: str | os.PathLike,
                   limit: int | None = None, size: int | None = None, progress: bool = True,
                   backend: str = "torch", lpips_weights: str | None = None) -> dict:
    """Evaluate any model on any folder (color photos, grays derived; or color/ + gray/ pairs)."""
    colorizer = Colorizer.load(model, backend=backend)
    samples, found_skips = find_samples(data)
    samples = samples[:limit] if limit else samples
    skipped = [(s.path, s.reason) for s in found_skips]
    images = load_eval_images(samples, skipped)
    return evaluate(colorizer, images, Path(out_dir), colorizer.config.extra.get("mean_ab"), size, progress,
                    None, skipped, title=f"{model or 'default model'} on {data}", lpips=_load_lpips(lpips_weights))


def _load_lpips(spec: str | None):
    if spec is None:
        return None
    from .lpips import LPIPS

    return LPIPS.from_files(spec)
