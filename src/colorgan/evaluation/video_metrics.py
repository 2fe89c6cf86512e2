"""Temporal consistency of a colorized clip, measured without any motion: color distribution consistency (CDC).

CDC is the score of the NTIRE 2023 video colorization challenge: the Jensen-Shannon divergence between the
per-channel (R, G, B) 256-bin histograms of frame t and frame t + d, averaged over channels, over t and over the
gaps d = 1, 2, 4. 0 means every frame has the same color distribution as its neighbours; flicker raises it.
Unlike a warping error it needs no flow, so it scores real film too; unlike a warping error it cannot see colors
that swap places, so the two are reported side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GAPS = (1, 2, 4)


def channel_histograms(frame: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 -> (3, 256) float64: each channel's share of pixels at each level."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"a frame must be (h, w, 3) uint8, got {frame.shape} {frame.dtype}")
    flat = frame.reshape(-1, 3)
    return np.stack([np.bincount(flat[:, c], minlength=256) for c in range(3)]) / len(flat)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log, so in [0, ln 2]) of distributions along the last axis."""
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(-1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(-1)
    return (kl_p + kl_q) / 2


def color_distribution_consistency(frames: Sequence[np.ndarray], shot_starts: Sequence[bool] | None = None) -> float:
    """CDC of RGB uint8 frames. `shot_starts[t]` marks a cut before frame t: pairs across a cut are left out (a
    new shot may change colors). A gap with no pair left (a clip shorter than 5 frames) is left out."""
    histograms = [channel_histograms(f) for f in frames]
    shot = np.cumsum(shot_starts if shot_starts is not None else np.zeros(len(frames), bool))
    per_gap = []
    for gap in GAPS:
        pairs = [
            float(js_divergence(histograms[t], histograms[t + gap]).mean())
            for t in range(len(frames) - gap)
            if shot[t] == shot[t + gap]
        ]
        if pairs:
            per_gap.append(np.mean(pairs))
    if not per_gap:
        raise ValueError("CDC needs at least two frames in one shot")
    return float(np.mean(per_gap))
