"""Interlaced video, field by field.

An interlaced frame holds two fields, its even rows and its odd rows, shot a field's time apart. Where anything
moves they disagree, so a frame colorized whole would take the blend of both: a moving edge gets a fringe of the
other field's color. Each field is colorized on its own instead (stretched back to the frame's shape, the shape the
network knows), in the order they were shot, and its chroma goes to its own rows. In 4:2:0 an interlaced frame's
chroma rows alternate between the fields too, so each field is composed as a picture of its own and the rows are
woven back. The output is coded interlaced, in the same field order, so a player deinterlaces it as it did the
input. The lightness (Y') stays the input's, byte for byte, as for any video.

Telecined film (3:2 pulldown coded as interlaced frames) is handled the same way: each field is one film frame's.
"""

from __future__ import annotations

import cv2
import numpy as np

from .ycbcr import chroma_planes

BOTTOM_FIRST = {3, 5, "bb", "bt"}  # FFmpeg's AVFieldOrder: BB, BT; TT, TB and unknown are top first


def top_field_first(codec_context) -> bool:
    order = getattr(codec_context, "field_order", None)
    return (order.lower() if isinstance(order, str) else order) not in BOTTOM_FIRST


def parities(top_first: bool) -> tuple[int, int]:
    """The fields' first rows (0: the top field's even rows, 1: the bottom field's odd rows), in shooting order."""
    return (0, 1) if top_first else (1, 0)


def field_gray(gray: np.ndarray, parity: int) -> np.ndarray:
    """One field of an (H, W) frame, stretched back to (H, W) for the network."""
    rows = gray[parity::2]
    return cv2.resize(rows, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)


def woven_chroma_planes(
    gray: np.ndarray,
    ab_by_parity: dict[int, np.ndarray],
    shape: tuple[int, int],
    matrix: str,
    full_range: bool,
    bits: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The (Cb, Cr) planes of `shape` for the frame `gray` (H, W), each field composed from its own rows and
    chroma: chroma row r belongs to field r % 2, as in interlaced 4:2:0 (and 4:4:4, where the rows are the
    frame's)."""
    cb = cr = None
    for parity, ab in ab_by_parity.items():
        rows = len(range(parity, shape[0], 2))
        if rows == 0 or parity >= gray.shape[0]:
            continue
        field_cb, field_cr = chroma_planes(gray[parity::2], ab, (rows, shape[1]), matrix, full_range, bits)
        if cb is None:
            cb, cr = np.empty(shape, field_cb.dtype), np.empty(shape, field_cr.dtype)
        cb[parity::2], cr[parity::2] = field_cb, field_cr
    return cb, cr
