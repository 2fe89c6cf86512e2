"""Video pixels as the colorizer sees them: Y'CbCr planes -> the gray it reads, and Lab chroma -> CbCr planes.

A video keeps its lightness exactly by keeping its Y' plane: only the Cb and Cr planes are computed, at their
own (usually half) resolution, which is also 4x fewer Lab -> RGB conversions than composing full-size RGB.
Pure functions of numpy arrays.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .compose import L_OF_GRAY

# (Kr, Kb) of the two luma matrices that matter: BT.709 for HD, BT.601 for everything else.
LUMA_WEIGHTS = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}


def gray_from_luma(y: np.ndarray, full_range: bool, bits: int = 8) -> np.ndarray:
    """(H, W) Y' plane of `bits` (8: uint8, 10: uint16) -> (H, W) uint8 full-range gray, what the network reads;
    a studio-range plane is stretched from 16..235 (64..940 at 10 bits)."""
    if bits == 8 and full_range:
        return y
    return _gray_table(bits, full_range)[y]


@functools.cache
def _gray_table(bits: int, full_range: bool) -> np.ndarray:
    step = 2 ** (bits - 8)
    codes = np.arange(2**bits) / step  # on the 8-bit scale
    gray = codes * (255 / (2**bits - 1) * step) if full_range else (codes - 16) * (255 / 219)
    return np.clip(gray + 0.5, 0, 255).astype(np.uint8)


def chroma_planes(
    gray: np.ndarray,
    ab_small: np.ndarray,
    shape: tuple[int, int],
    matrix: str = "bt601",
    full_range: bool = False,
    bits: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Full-size gray (H, W) uint8 + working-size (h, w, 2) Lab ab -> the (Cb, Cr) uint8 planes of `shape`.

    The color of each chroma sample is composed from the lightness averaged over the pixels it covers and the
    chroma upsampled bilinearly, as `compose.compose` does for photos, then converted to Cb and Cr.
    """
    ch, cw = shape
    gray_c = gray if gray.shape == shape else cv2.resize(gray, (cw, ch), interpolation=cv2.INTER_AREA)
    ab = cv2.resize(ab_small.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR)
    lab = np.concatenate([L_OF_GRAY[gray_c][..., None], ab], axis=2)
    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    kr, kb = LUMA_WEIGHTS[matrix]
    luma = rgb @ np.array([kr, 1.0 - kr - kb, kb], np.float32)
    step = 2 ** (bits - 8)
    top = 2**bits - 1
    scale = top if full_range else 224.0 * step
    cb = (rgb[..., 2] - luma) * (scale / (2 * (1 - kb))) + 128 * step + 0.5
    cr = (rgb[..., 0] - luma) * (scale / (2 * (1 - kr))) + 128 * step + 0.5
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.clip(cb, 0, top).astype(dtype), np.clip(cr, 0, top).astype(dtype)
