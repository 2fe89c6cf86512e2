"""Training batches: uint8 pixels of the pixel cache as a pure function of (seed, epoch, index), sharded over
the ranks; on a GPU with room, the whole cache copied there once and batches gathered there."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from .pixel_cache import PixelCache


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
