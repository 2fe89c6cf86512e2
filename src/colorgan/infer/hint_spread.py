"""Color hints spread over the region they belong to (Levin, Lischinski & Weiss 2004, "Colorization using
optimization"), applied to what the model got wrong rather than to the colors themselves.

At a hinted pixel the correction is the user's chroma minus the model's. Elsewhere the correction r minimizes

    sum over neighbouring pixels p, q of  w_pq (r_p - r_q)^2   +   fade * sum over pixels of  r_p^2,

with w_pq = exp(-(L_p - L_q)^2 / (2 EDGE_SIGMA^2)): a correction flows freely between pixels of like lightness,
hardly across an edge, and fades with distance, so regions that no hint belongs to keep the model's colors.
Where it has flowed down a gentle slope into darker pixels than the hints it came from, it is dimmed by
sqrt(L_p / L_source) (L_source: the hints' lightness, spread the same way): lightness alone does not tell a dark
suit from dark hair and a shadowed background, and a chroma carried undimmed from a lighter spot paints them all.
The hinted pixels are fixed, so a hinted color is the user's exactly. One sparse factorization per photo, at a
guide size that does not grow with the photo (its full-size lightness is composed afterwards, as always).
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sparse
from scipy.sparse.linalg import splu

from ..colorspace import AB_SCALE
from ..io.images import resize_to
from .compose import L_OF_GRAY
from .hints import Hint, hint_planes

GUIDE_SIDE = 192  # the short side hints are spread at (docs/hints.md: 256 spread no better, at twice the cost)
EDGE_SIGMA = 2.0  # the Lab lightness step (of 100) at which two neighbours' link falls to exp(-1/2)
REACH = 0.4  # how far a correction carries through an even region, as a share of the short side
DARK_FLOOR = 5.0  # Lab L below which lightness ratios are not trusted (noise, black clipping)


def guide_shape(photo_shape: tuple[int, int], working_shape: tuple[int, int]) -> tuple[int, int]:
    """(h, w) to spread at: a short side of GUIDE_SIDE, or the working size if larger, never above the photo's."""
    height, width = photo_shape
    side = min(min(height, width), max(GUIDE_SIDE, min(working_shape)))
    scale = side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def apply_hints(
    gray: np.ndarray, ab_small: np.ndarray, hints: list[Hint], working_shape: tuple[int, int]
) -> np.ndarray:
    """The model's chroma `ab_small` (h, w, 2) of the photo `gray` (H, W) uint8, with `hints` (photo pixels)
    spread over their regions: (gh, gw, 2) Lab ab at the guide size, for `compose`."""
    if not hints:
        return ab_small
    shape = guide_shape(gray.shape[:2], working_shape)
    ab = cv2.resize(ab_small.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    planes = hint_planes(hints, gray.shape[:2], shape)
    lightness = np.take(L_OF_GRAY, resize_to(gray, shape))
    return spread_hints(lightness, ab, planes[2] > 0, planes[:2].transpose(1, 2, 0) * AB_SCALE)


def spread_hints(lightness: np.ndarray, ab: np.ndarray, hinted: np.ndarray, hint_ab: np.ndarray) -> np.ndarray:
    """(h, w, 2) float32: the chroma `ab` corrected by hints; `lightness` (h, w) is Lab L at this size, `hinted`
    (h, w) bool the pixels the user colored and `hint_ab` (h, w, 2) their Lab ab (read where `hinted`)."""
    if not hinted.any():
        return ab
    h, w = lightness.shape
    index = np.arange(h * w).reshape(h, w)
    light = lightness.astype(np.float64)
    pairs = [
        (index[:, :-1], index[:, 1:], light[:, :-1] - light[:, 1:]),  # each pixel and its right neighbour
        (index[:-1], index[1:], light[:-1] - light[1:]),  # and the one below
    ]
    first = np.concatenate([p[0].ravel() for p in pairs])
    second = np.concatenate([p[1].ravel() for p in pairs])
    link = np.exp(-(np.concatenate([p[2].ravel() for p in pairs]) ** 2) / (2 * EDGE_SIGMA**2))
    links = sparse.coo_matrix((link, (first, second)), shape=(h * w, h * w)).tocsr()
    links = links + links.T
    fade = 1.0 / (REACH * min(h, w)) ** 2
    system = (sparse.diags(np.asarray(links.sum(axis=1)).ravel() + fade) - links).tocsr()
    fixed = hinted.ravel()
    free = ~fixed
    # Columns: the correction's a and b, then the hints' lightness and a plain 1, spread alike: their ratio is
    # the lightness the correction at each pixel came from.
    known = np.column_stack([(hint_ab - ab).reshape(-1, 2)[fixed], light.ravel()[fixed], np.ones(fixed.sum())])
    spread = np.zeros((h * w, 4))
    spread[fixed] = known
    if free.any():
        rhs = -(system[free][:, fixed] @ known)
        spread[free] = splu(system[free][:, free].tocsc()).solve(rhs)
    source = spread[:, 2] / np.maximum(spread[:, 3], 1e-12)
    dim = np.sqrt(np.minimum(1.0, np.maximum(light.ravel(), DARK_FLOOR) / np.maximum(source, DARK_FLOOR)))
    correction = spread[:, :2] * dim[:, None]
    out = ab + correction.reshape(h, w, 2).astype(np.float32)
    out[hinted] = hint_ab[hinted]  # the user's color exactly, whatever the rounding
    return out
