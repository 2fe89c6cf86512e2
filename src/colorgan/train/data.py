"""Training data: find photos, decode them (once, into the pixel cache: `pixel_cache.py`) and split them; the
batches are served by `batches.py`.

Layouts: `color/` + `gray/` paired by relative file stem (the "landscape Images" layout), or any folder of
color photos, searched recursively, whose gray input is derived. Decoded, resized pixels are cached as
memory-mapped uint8 arrays, so an epoch decodes no JPEG and RAM never holds the dataset as floats.
Batches are a pure function of (seed, epoch, index): resuming at any step replays the same data exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.images import (
    IMAGE_SUFFIXES,
    ImageReadError,
    Skipped,
    find_image_files,
    gray_channel,
    load_image,
    resize_to,
    rgb_to_gray_u8,
)

MIN_PAIR_CORRELATION = 0.8  # a gray file this unlike its color photo's luminance is a mismatched pair


class DataError(ValueError):
    """The data folder cannot be used at all (missing, empty, nothing readable)."""


@dataclass(frozen=True)
class Sample:
    name: str  # path relative to the data root, used in split.json and skip reports
    color: Path
    gray: Path | None  # None: derive the gray input from the color photo
    gray_name: str | None = None  # the gray file's name relative to the data root, for skip reports


def find_samples(roots: str | os.PathLike | Sequence[str | os.PathLike]) -> tuple[list[Sample], list[Skipped]]:
    """List usable samples under one data folder or several, in a fixed order.

    With several folders each sample's name starts with its folder's label (the folder's own name, made
    unique), so one split covers them all and results can be reported per folder.
    """
    roots = data_roots(roots)
    if len(roots) == 1:
        return _folder_samples(Path(roots[0]))
    samples, skipped = [], []
    for label, root in zip(folder_labels(roots), roots):
        found, skips = _folder_samples(Path(root))
        samples += [
            Sample(f"{label}/{s.name}", s.color, s.gray, s.gray_name and f"{label}/{s.gray_name}") for s in found
        ]
        skipped += [Skipped(f"{label}/{s.path}", s.reason) for s in skips]
    return samples, skipped


def data_roots(roots: str | os.PathLike | Sequence[str | os.PathLike] | None) -> list[str]:
    """`--data` as a list of folders (one path or several)."""
    if roots is None:
        raise DataError("no training data: pass --data DIR [DIR ...]")
    listed = [str(roots)] if isinstance(roots, (str, os.PathLike)) else [str(r) for r in roots]
    if not listed:
        raise DataError("no training data: pass --data DIR [DIR ...]")
    if len({os.path.realpath(r) for r in listed}) != len(listed):
        raise DataError(f"the same data folder is given twice in {listed}")
    return listed


def folder_labels(roots: Sequence[str]) -> list[str]:
    """A short unique label per data folder: its name, with a suffix when two folders share one."""
    labels: list[str] = []
    for root in roots:
        base = Path(os.path.realpath(root)).name or "data"
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base}~{n}"
        labels.append(label)
    return labels


def sample_folder(name: str, roots: Sequence[str]) -> str:
    """The label of the data folder a sample name belongs to ('' for a single-folder run)."""
    return name.split("/", 1)[0] if len(roots) > 1 else ""


def _folder_samples(root: Path) -> tuple[list[Sample], list[Skipped]]:
    """Samples of one folder, paired by relative stem when `color/` and `gray/` both exist."""
    if not root.exists():
        raise DataError(f"{root}: data folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    color_dir, gray_dir = root / "color", root / "gray"
    if color_dir.is_dir() and gray_dir.is_dir():
        samples, skipped = _paired_samples(root, color_dir, gray_dir)
    else:
        samples = [Sample(str(p.relative_to(root)), p, None) for p in find_image_files(root)]
        skipped = []
    if not samples:
        raise DataError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, recursively)")
    return samples, skipped


def _paired_samples(root: Path, color_dir: Path, gray_dir: Path) -> tuple[list[Sample], list[Skipped]]:
    grays = {p.relative_to(gray_dir).with_suffix(""): p for p in find_image_files(gray_dir)}
    samples, skipped = [], []
    for color in find_image_files(color_dir):
        stem = color.relative_to(color_dir).with_suffix("")
        gray = grays.pop(stem, None)
        name = str(color.relative_to(root))
        if gray is None:
            skipped.append(Skipped(name, f"no gray counterpart gray/{stem}.*"))
        else:
            samples.append(Sample(name, color, gray, str(gray.relative_to(root))))
    skipped += [Skipped(str(g.relative_to(root)), "no color counterpart") for g in grays.values()]
    return samples, skipped


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize to size x size: the recipe squashes, it does not crop."""
    return resize_to(pixels, (size, size))


def decode_sample(sample: Sample, size: int) -> tuple[np.ndarray, np.ndarray]:
    """-> (color (S, S, 3) uint8, gray (S, S) uint8). Raises ImageReadError naming the file and reason."""
    color_image = load_image(sample.color)
    if color_image.is_gray and sample.gray is None:
        raise ImageReadError(str(sample.color), "grayscale photo, nothing to learn color from")
    color = resize_square(color_image.rgb, size)
    if sample.gray is None:
        return color, rgb_to_gray_u8(color)
    gray_image = load_image(sample.gray)
    if gray_image.rgb.shape[:2] != color_image.rgb.shape[:2]:
        (h1, w1), (h2, w2) = color_image.rgb.shape[:2], gray_image.rgb.shape[:2]
        raise ImageReadError(str(sample.gray), f"size {w2}x{h2} does not match its color photo's {w1}x{h1}")
    gray = resize_square(gray_channel(gray_image), size)
    corr = _correlation(gray, rgb_to_gray_u8(color))
    if corr < MIN_PAIR_CORRELATION:
        raise ImageReadError(str(sample.gray), f"does not match its color photo (correlation {corr:.2f})")
    return color, gray


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    if a.std() < 1e-6 or b.std() < 1e-6:
        return 1.0 if np.abs(a - b).mean() < 8 else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def make_split(count: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, val) index arrays; at least one training sample, val may be empty."""
    order = np.random.default_rng(seed).permutation(count)
    n_val = min(int(round(count * val_fraction)), count - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def split_by_folder(
    names: Sequence[str], roots: Sequence[str], val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`make_split` within each data folder on its own, so a folder's held-out photos stay the same whatever
    other folders join it (and a one-folder run splits exactly as before)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(sample_folder(name, roots), []).append(i)
    train, val = [], []
    for members in groups.values():
        members_arr = np.asarray(members)
        t, v = make_split(len(members_arr), val_fraction, seed)
        train.append(members_arr[t])
        val.append(members_arr[v])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
