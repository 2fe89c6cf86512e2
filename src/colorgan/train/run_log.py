"""A run's log.csv: one row per training step, appended as training goes; a resumed run first drops what the
killed one logged past its checkpoint, so the file always describes one unbroken run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TextIO

from ..io.atomic import atomic_write_text

LOG_FIELDS = ["step", "epoch", "G_gan", "G_l1", "D_real", "D_fake", "lr", "img_s", "nonfinite", "G_bins"]


def open_log(path: Path, step: int) -> TextIO:
    """Open log.csv for appending, first dropping rows past `step` (the resumed one) and any torn last line."""
    kept = [",".join(LOG_FIELDS)]
    if path.exists() and step > 0:
        for line in path.read_text().splitlines()[1:]:
            cells = line.split(",")
            if len(LOG_FIELDS) - 1 <= len(cells) <= len(LOG_FIELDS) and cells[0].isdigit() and int(cells[0]) <= step:
                kept.append(",".join(cells + ["0"] * (len(LOG_FIELDS) - len(cells))))  # older runs: no G_bins
    atomic_write_text(path, "\n".join(kept) + "\n")
    return open(path, "a")  # noqa: SIM115 - the trainer closes it


def format_row(values: list[float | int]) -> str:
    """One line of log.csv: integers as they are, floats to 6 significant digits, nan as "nan"."""
    return ",".join(_fmt(v) for v in values) + "\n"


def _fmt(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "nan" if math.isnan(value) else f"{value:.6g}"
