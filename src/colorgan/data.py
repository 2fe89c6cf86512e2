"""Training data: find photos, decode them (once, into the pixel cache: `pixel_cache.py`), split, and serve
batches.

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
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from .pixel_cache import PixelCache

from .images import (
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


class BatchStream:
    """Batches of uint8 pixels as a pure function of (epoch, index), sharded over `world` ranks.

    The global batch is cut into `world` equal parts, so a run's data does not depend on the rank count.
    """

    def __init__(
        self,
        cache: PixelCache,
        indices: np.ndarray,
        batch_size: int,
        seed: int,
        flip: bool = True,
        rank: int = 0,
        world: int = 1,
    ):
        if batch_size % world:
            raise ValueError(f"global batch {batch_size} must be divisible by the {world} processes")
        self.cache, self.indices, self.batch_size = cache, np.asarray(indices), batch_size
        self.seed, self.flip, self.rank, self.world = seed, flip, rank, world
        self.steps_per_epoch = max(1, len(self.indices) // batch_size)
        self._epoch, self._order, self._flips = -1, np.empty(0, np.int64), np.empty(0, bool)

    def _plan(self, epoch: int) -> None:
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._order = self.indices[rng.permutation(len(self.indices))]
            self._flips = rng.random(len(self.indices)) < 0.5
            self._epoch = epoch

    def plan(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """-> (cache rows, which of them to flip) of this rank's share of the batch."""
        self._plan(epoch)
        per_rank = min(self.batch_size, len(self.indices)) // self.world
        start = index * self.batch_size + self.rank * per_rank
        return self._order[start : start + per_rank], self._flips[start : start + per_rank] & self.flip

    def batch(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (gray (b, 1, S, S) uint8, color (b, 3, S, S) uint8) for this rank's share of the batch."""
        rows, flips = self.plan(epoch, index)
        ordered = np.argsort(rows, kind="stable")  # read in file order, then restore the plan's order
        inverse = np.argsort(ordered, kind="stable")
        color, gray = self.cache.read(rows[ordered])
        color, gray = color[inverse], gray[inverse]
        color[flips] = color[flips, :, ::-1]
        gray[flips] = gray[flips, :, ::-1]
        return (torch.from_numpy(gray).unsqueeze(1), torch.from_numpy(color).permute(0, 3, 1, 2))


class DevicePixels:
    """The whole pixel cache copied to a GPU once, so that a batch is gathered and flipped there and the host
    only picks its rows: the same batches as `BatchStream.batch`, bit for bit. (On a GPU the trainer was bound
    by the host's per-step work; a cache of 36,532 photos at 128 px is 1.8 GB.)"""

    def __init__(self, cache: PixelCache, device: torch.device | str, bytes_per_copy: int = 256 * 2**20):
        count, device = len(cache), torch.device(device)
        rows_per_copy = max(1, bytes_per_copy // (cache.color[0].nbytes + cache.gray[0].nbytes))
        self.color = torch.empty(cache.color.shape, dtype=torch.uint8, device=device)
        self.gray = torch.empty(cache.gray.shape, dtype=torch.uint8, device=device)
        for start in range(0, count, rows_per_copy):  # in slices: the host never holds a second copy
            color, gray = cache.read(np.arange(start, min(count, start + rows_per_copy)))
            self.color[start : start + len(color)] = torch.from_numpy(color)
            self.gray[start : start + len(gray)] = torch.from_numpy(gray)

    @staticmethod
    def fits(cache: PixelCache, device: torch.device, share: float = 0.4) -> bool:
        """Whether the cache takes at most `share` of the GPU's free memory (the rest is for training)."""
        if device.type != "cuda":
            return False
        free, _ = torch.cuda.mem_get_info(device)
        return cache.color.nbytes + cache.gray.nbytes <= share * free

    def batch(self, rows: np.ndarray, flips: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (gray (b, 1, S, S) uint8, color (b, 3, S, S) uint8) on the device, from `BatchStream.plan`."""
        device = self.color.device
        rows = torch.from_numpy(rows).to(device, non_blocking=True)
        flips = torch.from_numpy(flips).to(device, non_blocking=True)
        color, gray = self.color.index_select(0, rows), self.gray.index_select(0, rows)  # (b, S, S, 3), (b, S, S)
        color = torch.where(flips.view(-1, 1, 1, 1), color.flip(2), color)
        gray = torch.where(flips.view(-1, 1, 1), gray.flip(2), gray)
        return gray.unsqueeze(1), color.permute(0, 3, 1, 2)


def pixels_to_float(gray: torch.Tensor, color: torch.Tensor, device: torch.device | str) -> tuple:
    """uint8 batches -> float [0, 1] on `device`: the normalization boundary of the recipe."""
    gray = gray.to(device, non_blocking=True).float().div_(255.0)
    color = color.to(device, non_blocking=True).float().div_(255.0)
    return gray, color
