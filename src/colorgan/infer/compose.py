"""The full-resolution photo from its own gray and the network's small chroma: the last step of colorizing.

The photo keeps its lightness exactly as it came (each pixel's L from its gray level); only the chroma (Lab ab)
is the network's, upsampled bilinearly. This is the costly part of a large photo (12 megapixels: ~90 ms on two
cores, the network ~25 ms), so it runs in bands small enough to stay in the CPU's cache, on a few threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch

from ..colorspace import gray_to_lightness

BAND_ROWS = 32  # rows composed at a time: a band's float buffers stay in cache (512 rows ran 1.8x slower)
PARALLEL_PIXELS = 2**18  # smaller photos are composed on one thread: a second gains little there (docs/benchmarks.md)
L_OF_GRAY = gray_to_lightness(torch.arange(256, dtype=torch.float32) / 255.0).numpy()  # Lab L of each gray level


def compose(gray: np.ndarray, ab_small: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Full-res gray (H, W) uint8 + small (h, w, 2) Lab ab -> (H, W, 3) uint8 RGB.

    OpenCV's float Lab->sRGB (D65) agrees with colorgan.colorspace.lab_to_rgb to 4e-4 and is ~10x faster.
    No full-size float plane is ever held (one was 8 bytes a pixel: 400 MB for a 50-megapixel photo).
    `threads`: bands composed at once (default: torch's thread count); the result is the same for any.
    """
    height, width = gray.shape
    ab_small = ab_small.astype(np.float32)
    # Bilinear upsampling in two passes: across (small: h rows at full width), then down, band by band.
    across = cv2.resize(ab_small, (width, ab_small.shape[0]), interpolation=cv2.INTER_LINEAR)
    src_y = np.clip((np.arange(height) + 0.5) * (ab_small.shape[0] / height) - 0.5, 0, ab_small.shape[0] - 1)
    low = np.floor(src_y).astype(np.int64)
    high = np.minimum(low + 1, ab_small.shape[0] - 1)
    frac = (src_y - low).astype(np.float32)[:, None, None]
    out = np.empty((height, width, 3), np.uint8)
    workers = max(1, min(threads or torch.get_num_threads(), -(-height // BAND_ROWS)))
    if threads is None and height * width < PARALLEL_PIXELS:
        workers = 1  # starting threads costs more than it saves

    def bands(first: int) -> None:  # every `workers`-th band from `first`, in buffers of its own
        lab = np.empty((BAND_ROWS, width, 3), np.float32)
        rgb = np.empty((BAND_ROWS, width, 3), np.float32)
        for top in range(first * BAND_ROWS, height, workers * BAND_ROWS):
            n = min(BAND_ROWS, height - top)
            rows = slice(top, top + n)
            below, above = across[low[rows]], across[high[rows]]
            np.multiply(below, 1 - frac[rows], out=below)
            np.multiply(above, frac[rows], out=above)
            np.add(below, above, out=lab[:n, :, 1:])
            np.take(L_OF_GRAY, gray[rows], out=lab[:n, :, 0])
            band = cv2.cvtColor(lab[:n], cv2.COLOR_Lab2RGB, dst=rgb[:n])
            np.multiply(band, 255.0, out=band)
            np.add(band, 0.5, out=band)
            np.clip(band, 0, 255, out=band)
            out[rows] = band  # truncates to uint8: rounding, with the 0.5 added

    if workers == 1:
        bands(0)
    else:  # numpy and OpenCV release the GIL for whole bands
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(bands, range(workers)))
    return out
