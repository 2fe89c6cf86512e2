"""Pictures of a run: loss graphs over iterations and sample grids (gray | ground truth | generated)."""

from __future__ import annotations

import base64
import csv
import io
import math
import os
from pathlib import Path

import matplotlib.style
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from ..io.atomic import atomic_write_bytes

# matplotlib's own copy of seaborn's white-grid look; a Figure made directly (not through pyplot) needs no
# backend and keeps no global state, so plotting from the trainer or a thread changes nothing else.
PLOT_STYLE = "seaborn-v0_8-whitegrid"


def read_log(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    return {key: np.array([_num(r.get(key)) for r in rows]) for key in rows[0]}


def _num(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window or window <= 1:
        return values
    kernel = np.ones(window) / window
    valid = np.convolve(np.nan_to_num(values), kernel, mode="same")
    counts = np.convolve(~np.isnan(values), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = valid / counts
    out[np.isnan(values)] = np.nan
    return out


def plot_losses(log_path: str | os.PathLike, out_path: str | os.PathLike, l1_weight: float = 100.0) -> None:
    """Two panels over iterations: G (adversarial, weighted L1, total) and D (real, fake)."""
    log = read_log(log_path)
    if not log or len(log["step"]) == 0:
        return
    with matplotlib.style.context(PLOT_STYLE):
        fig = Figure(figsize=(12, 4))
        ax_g, ax_d = fig.subplots(1, 2)
        _draw_losses(log, ax_g, ax_d, l1_weight)
        fig.tight_layout()
    save_figure(fig, out_path)


def _draw_losses(log: dict[str, np.ndarray], ax_g, ax_d, l1_weight: float) -> None:
    steps = log["step"]
    window = max(1, len(steps) // 100)
    g_l1 = log["G_l1"] * l1_weight
    g_bins = np.nan_to_num(log.get("G_bins", np.zeros_like(g_l1)))
    g_total = np.nan_to_num(log["G_gan"]) + g_l1 + g_bins
    curves = [(log["G_gan"], "adversarial (BCE)"), (g_l1, f"L1 x {l1_weight:g}")]
    if g_bins.any():  # the head's own loss: the bins' cross-entropy over ab classes
        curves.append((g_bins, "ab classes (CE)"))
    for values, label in (*curves, (g_total, "total")):
        ax_g.plot(steps, _smooth(values, window), label=label, lw=1.2)
    for values, label in ((log["D_real"], "real"), (log["D_fake"], "fake")):
        ax_d.plot(steps, _smooth(values, window), label=label, lw=1.2)
    if np.isnan(log["D_real"]).all():  # pixel losses only: say so rather than draw empty axes
        ax_d.text(0.5, 0.5, "no discriminator (--gan-weight 0)", ha="center", va="center", transform=ax_d.transAxes)
    ax_g.set(title="Generator loss", xlabel="iteration", ylabel="loss")
    ax_d.set(title="Discriminator loss (BCE)", xlabel="iteration", ylabel="loss")
    ax_g.legend()
    ax_d.legend()


def save_figure(fig: Figure, out_path: str | os.PathLike, dpi: int = 100) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    atomic_write_bytes(out_path, buffer.getvalue())


def sample_grid(gray: np.ndarray, truth: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Rows of gray | ground truth | generated, each (N, H, W, 3) uint8, with 2 px white gutters."""
    n, h, w, _ = truth.shape
    gap = 2
    grid = np.full((n * (h + gap) - gap, 3 * (w + gap) - gap, 3), 255, np.uint8)
    for i in range(n):
        for j, img in enumerate((gray[i], truth[i], generated[i])):
            grid[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = img
    return grid


def save_png(pixels: np.ndarray, out_path: str | os.PathLike) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    atomic_write_bytes(Path(out_path), buffer.getvalue())


def data_uri(data: bytes, mime: str) -> str:
    """Bytes as a `data:` URI, so an HTML page carries its pictures in one file."""
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def jpeg_data_uri(pixels: np.ndarray, max_side: int | None = None, quality: int = 88) -> str:
    """(H, W, 3) uint8 as an inline JPEG, shrunk to `max_side` first where given."""
    image = Image.fromarray(pixels)
    if max_side:
        image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return data_uri(buffer.getvalue(), "image/jpeg")
