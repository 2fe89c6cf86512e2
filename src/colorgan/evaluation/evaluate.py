"""Evaluation: colorize held-out photos the way users get them, score them, compare with baselines.

Every photo is colorized through `Colorizer` at its own resolution (full-res lightness, predicted chroma)
and scored against its true colors. Two baselines get the same treatment on the same photos:
  gray         - no color at all (the input's lightness only);
  mean chroma  - every pixel gets the training set's mean ab.
A model is only good if it beats both.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..colorspace import mean_ab
from ..config import TrainConfig
from ..infer.colorize import Colorizer, compose
from ..io.atomic import atomic_write_bytes, atomic_write_text
from ..io.images import ImageReadError, gray_channel, load_image
from ..train.data import DataError, Sample, data_roots, find_samples, sample_folder
from . import metrics

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
    return list(iter_eval_images(samples, skipped))


def iter_eval_images(samples: list[Sample], skipped: list[tuple[str, str]]) -> Iterator[EvalImage]:
    """Decode one photo at a time (unreadable ones are appended to `skipped`), so memory stays flat."""
    for sample in samples:
        try:
            color = load_image(sample.color)
            gray = gray_channel(load_image(sample.gray)) if sample.gray else gray_channel(color)
            if gray.shape != color.rgb.shape[:2]:
                raise ImageReadError(str(sample.gray), "size does not match its color photo")
        except ImageReadError as err:
            skipped.append((sample.name, err.reason))
            continue
        yield EvalImage(sample.name, gray, color.rgb)


def run_samples(run_dir: Path, data: str | list[str] | None) -> tuple[list[Sample], list[str]]:
    """The validation split of a run, as saved in split.json, and the run's data folders."""
    split = json.loads((run_dir / "split.json").read_text())
    roots = data_roots(data or TrainConfig.from_yaml(run_dir / "config.yaml").data)
    by_name = {s.name: s for s in find_samples(roots)[0]}
    names = split["val"] or split["train"][:64]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise DataError(
            f"{', '.join(roots)}: {len(missing)} validation files of the run are missing (e.g. {missing[0]})"
        )
    return [by_name[n] for n in names], roots


def evaluate(
    colorizer: Colorizer,
    images: Iterable[EvalImage],
    out_dir: Path,
    train_mean_ab: list[float] | None,
    size: int | None = None,
    progress: bool = True,
    loss_png: Path | None = None,
    skipped: list[tuple[str, str]] | None = None,
    title: str = "",
    lpips=None,
    folder_of: Callable[[str], str] | None = None,
    count: int | None = None,
) -> dict:
    """Score the model and both baselines on `images`; write metrics.json, per_image.csv and report.html.

    Photos are streamed: each is colorized, scored and dropped, and the report keeps only small tiles of
    the first, best and worst eight, so memory does not grow with the number or size of the photos.
    `folder_of` (a photo's name -> its data folder) adds the same figures per data folder, so that a gain
    on one folder cannot hide a loss on another.
    """
    from .html_report import triple_tiles, write_report

    out_dir.mkdir(parents=True, exist_ok=True)
    oracle = train_mean_ab is None
    if oracle:  # no training mean stored: the evaluation set's own (needs one pass over it first)
        images = list(images)
        train_mean_ab = mean_ab([im.truth for im in images]) if images else [0.0, 0.0]
    ab = train_mean_ab
    rows: dict[str, list[dict]] = {"model": [], "gray": [], "mean_chroma": []}
    names: list[str] = []
    hists = {k: np.zeros((32, 32)) for k in ("truth", "model", "gray", "mean_chroma")}
    gallery = _Gallery()
    # The metrics are pure NumPy/scikit-image code that releases the GIL: two threads score twice as fast.
    pool = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)))
    for im in tqdm(images, desc="evaluating", unit="img", total=count, disable=not progress):
        outputs = {
            "model": colorizer.colorize_array(im.gray, size),
            "gray": gray_baseline(im.gray),
            "mean_chroma": mean_chroma_baseline(im.gray, ab),
            "truth": im.truth,
        }
        scored = pool.map(
            lambda key, pred, truth=im.truth: (
                None if key == "truth" else _score(pred, truth, lpips),
                metrics.ab_histogram([pred]),
            ),
            outputs.keys(),
            outputs.values(),
        )
        for key, (row, hist) in zip(outputs, scored):
            if row is not None:
                rows[key].append(row)
            hists[key] += hist * im.truth.shape[0] * im.truth.shape[1]
        names.append(im.name)
        gallery.offer(
            im.name,
            rows["model"][-1]["ciede2000"],
            lambda im=im, pred=outputs["model"]: triple_tiles(im.gray, im.truth, pred),
        )
    pool.shutdown()
    if not names:
        raise DataError("nothing to evaluate: no readable images")
    hists = {k: v / v.sum() for k, v in hists.items()}
    summary = {
        "images": len(names),
        "skipped": len(skipped or []),
        "size": size or colorizer.size,
        "model_info": colorizer.info(),
        "mean_ab_baseline": {
            "ab": ab,
            "source": "evaluation set (no training mean stored)" if oracle else "training split",
        },
        "network_metrics": (
            "LPIPS (AlexNet, v0.1) from user-supplied weights; FID skipped"
            if lpips
            else "skipped: FID and LPIPS need pretrained networks, which colorgan never downloads "
            "(pass --lpips-weights for LPIPS)"
        ),
        "metrics_variants": {
            "colorfulness": "Hasler & Susstrunk 2003, signed means, 0-255 scale",
            "chroma_hist_distance": "Jensen-Shannon distance of 32x32 Lab ab histograms (range 0..1, lower is better)",
        },
    }
    for key in rows:
        summary[key] = _summarize(rows[key])
        summary[key]["chroma_hist_distance"] = metrics.chroma_histogram_distance(hists[key], hists["truth"])
    summary["model_minus"] = paired_differences(rows)
    summary["beats_baselines"] = beats_baselines(summary["model_minus"])
    summary["against_gray"] = metrics.shares_against_gray(rows)
    folders = [folder_of(n) for n in names] if folder_of else None
    if folders is not None and len(set(folders)) > 1:
        summary["per_folder"] = {}
        for folder in sorted(set(folders)):
            subset = {k: [r for r, f in zip(v, folders) if f == folder] for k, v in rows.items()}
            part = {k: _summarize(v) for k, v in subset.items()}
            part["model_minus"] = paired_differences(subset)
            part["beats_baselines"] = beats_baselines(part["model_minus"])
            part["against_gray"] = metrics.shares_against_gray(subset)
            summary["per_folder"][folder] = part | {"images": len(subset["model"])}
    atomic_write_text(out_dir / "metrics.json", json.dumps(summary, indent=2))
    _write_per_image(out_dir / "per_image.csv", names, rows)
    write_report(out_dir / "report.html", summary, gallery.as_dict(), hists, loss_png, skipped or [], title)
    return summary


class _Gallery:
    """Report tiles of the first, the best and the worst `keep` photos by CIEDE2000, kept as they stream by."""

    def __init__(self, keep: int = 10):
        self.keep, self.seen = keep, 0
        self.first: list = []
        self.best: list = []  # max-heap by CIEDE2000 (negated): the worst of the best is popped first
        self.worst: list = []  # min-heap by CIEDE2000

    def offer(self, name: str, ciede: float, make_tiles: Callable[[], list]) -> None:
        self.seen += 1
        tiles = None
        if len(self.first) < self.keep:
            tiles = make_tiles()
            self.first.append((name, tiles))
        for heap, key in ((self.best, -ciede), (self.worst, ciede)):
            if len(heap) < self.keep or key > heap[0][0]:
                tiles = tiles if tiles is not None else make_tiles()
                entry = (key, self.seen, name, tiles)
                heapq.heappush(heap, entry) if len(heap) < self.keep else heapq.heapreplace(heap, entry)

    def as_dict(self) -> dict[str, list]:
        return {
            "first": self.first,
            "best": [(n, t) for _, _, n, t in sorted(self.best, key=lambda e: -e[0])],
            "worst": [(n, t) for _, _, n, t in sorted(self.worst, key=lambda e: -e[0])],
        }


def _score(pred: np.ndarray, truth: np.ndarray, lpips) -> dict[str, float]:
    row = metrics.image_metrics(pred, truth)
    if lpips is not None:
        row["lpips"] = lpips.distance(pred, truth)
    return row


def _summarize(rows: list[dict]) -> dict:
    summary = metrics.aggregate(rows)
    truth_cf = summary["colorfulness_truth"]["mean"]
    summary["colorfulness_ratio"] = summary["colorfulness"]["mean"] / truth_cf if truth_cf else 0.0
    return summary


PAIRED_METRICS = ("ciede2000", "psnr", "ssim")


def paired_differences(rows: dict[str, list[dict]]) -> dict:
    """Model minus each baseline, per photo, with a 95 % bootstrap interval of the mean difference.

    The model and the baselines are scored on the same photos, so their difference is what decides: two
    overlapping intervals of the means can still hide a difference that is clearly not zero, and the
    other way round.
    """
    out = {}
    for baseline in BASELINES:
        out[baseline] = {}
        for metric in PAIRED_METRICS:
            diffs = [m[metric] - b[metric] for m, b in zip(rows["model"], rows[baseline])]
            mean, low, high = metrics.bootstrap_ci(diffs)
            stats = {"mean": mean, "ci_low": low, "ci_high": high}
            out[baseline][metric] = {**stats, "verdict": verdict(stats, metric)}
    return out


def verdict(difference: dict, metric: str) -> str:
    """What a paired interval of model - baseline says: "better", "worse" or "no clear difference"."""
    lower_is_better = metric == "ciede2000"
    if difference["ci_high"] < 0:
        return "better" if lower_is_better else "worse"
    if difference["ci_low"] > 0:
        return "worse" if lower_is_better else "better"
    return "no clear difference"


def beats_baselines(model_minus: dict) -> dict[str, bool]:
    """Per metric: the model is better than every baseline, the paired interval excluding zero."""

    def better(stats: dict, metric: str) -> bool:
        return stats["ci_high"] < 0 if metric == "ciede2000" else stats["ci_low"] > 0

    return {metric: all(better(model_minus[b][metric], metric) for b in BASELINES) for metric in PAIRED_METRICS}


def _write_per_image(path: Path, names: list[str], rows: dict[str, list[dict]]) -> None:
    keys = list(rows["model"][0])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["image"] + keys + [f"{b}_{k}" for b in BASELINES for k in ("psnr", "ssim", "ciede2000")])
    for i, name in enumerate(names):
        writer.writerow(
            [name]
            + [f"{rows['model'][i][k]:.5g}" for k in keys]
            + [f"{rows[b][i][k]:.5g}" for b in BASELINES for k in ("psnr", "ssim", "ciede2000")]
        )
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8", "surrogateescape"))


def evaluate_run(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    data: str | None = None,
    limit: int | None = None,
    size: int | None = None,
    progress: bool = True,
    lpips_weights: str | None = None,
    model: str | os.PathLike | None = None,
) -> dict:
    """Evaluate a run folder's latest checkpoint on its saved validation split, or `model` (another weights
    file, e.g. an export with its chosen settings, or a model to compare) on that same split."""
    run_dir = Path(run_dir)
    colorizer = Colorizer.load(model or run_dir)
    samples, roots = run_samples(run_dir, data)
    samples = spread(samples, limit, roots) if limit else samples
    skipped: list[tuple[str, str]] = []
    train_ab = (
        TrainConfig.from_yaml(run_dir / "config.yaml").extra.get("mean_ab")
        or colorizer.config.extra.get("mean_ab")
        or train_split_mean_ab(run_dir, data)
    )
    loss_png = run_dir / "loss.png"
    return evaluate(
        colorizer,
        iter_eval_images(samples, skipped),
        Path(out_dir or run_dir),
        train_ab,
        size,
        progress,
        loss_png if loss_png.exists() else None,
        skipped,
        title=str(run_dir),
        lpips=_load_lpips(lpips_weights),
        folder_of=lambda name: sample_folder(name, roots),
        count=len(samples),
    )


def spread(samples: list[Sample], limit: int, roots: list[str]) -> list[Sample]:
    """At most `limit` samples, taken evenly from each data folder in proportion to its share."""
    if len(samples) <= limit:
        return samples
    step = len(samples) / limit
    by_folder: dict[str, list[Sample]] = {}
    for s in samples:
        by_folder.setdefault(sample_folder(s.name, roots), []).append(s)
    chosen = []
    for members in by_folder.values():
        count = max(1, round(len(members) / step))
        chosen += [members[int(i * len(members) / count)] for i in range(count)]
    return chosen


def train_split_mean_ab(run_dir: Path, data: str | None, most: int = 500) -> list[float] | None:
    """Mean ab of (up to `most` of) a run's training photos, for runs whose config predates storing it."""
    split = json.loads((run_dir / "split.json").read_text())
    roots = data_roots(data or TrainConfig.from_yaml(run_dir / "config.yaml").data)
    if len(roots) > 1:  # such runs are new enough to store their mean in the checkpoint
        return None
    root = Path(roots[0])
    names = split["train"][:: max(1, len(split["train"]) // most)]
    rgbs = []
    for name in names:
        try:
            rgbs.append(load_image(root / name).rgb)
        except ImageReadError:
            continue
    return mean_ab(rgbs) if rgbs else None


def evaluate_model(
    model: str | os.PathLike | None,
    data: str | os.PathLike,
    out_dir: str | os.PathLike,
    limit: int | None = None,
    size: int | None = None,
    progress: bool = True,
    backend: str = "torch",
    lpips_weights: str | None = None,
) -> dict:
    """Evaluate any model on any folder (color photos, grays derived; or color/ + gray/ pairs)."""
    colorizer = Colorizer.load(model, backend=backend)
    samples, found_skips = find_samples(data)
    samples = samples[:limit] if limit else samples
    skipped = [(s.path, s.reason) for s in found_skips]
    return evaluate(
        colorizer,
        iter_eval_images(samples, skipped),
        Path(out_dir),
        colorizer.config.extra.get("mean_ab"),
        size,
        progress,
        None,
        skipped,
        title=f"{model or 'default model'} on {data}",
        lpips=_load_lpips(lpips_weights),
        count=len(samples),
    )


def _load_lpips(spec: str | None):
    if spec is None:
        return None
    from .lpips import LPIPS

    return LPIPS.from_files(spec)
