"""Color hints: "this spot is this color", the format and the planes `hint_spread` reads.

The hint format is the same in the CLI, the Python API and HTTP: a JSON list of points in the photo's own
pixel coordinates, `[{"x": 120, "y": 340, "color": "#b03020", "radius": 6}, ...]` (radius optional). Only a
color's chroma is used; the photo keeps its lightness. Any model follows hints: `hint_spread.apply_hints` sets
each hint's color at its point and spreads the model's error there over the point's region.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from ..colorspace import AB_SCALE, rgb_to_lab
from ..io.user_json import load_json

HINT_PLANES = 3  # hinted a, hinted b, mask
MAX_HINTS = 64
DEFAULT_RADIUS = 2.0  # in the planes' pixels (hint_spread's guide size): a 5x5 patch
MAX_RADIUS = 8.0  # in the planes' pixels: a hint is a point; hint_spread carries it over its region
_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


class HintError(ValueError):
    """A hint that cannot be used; the message names the entry and the reason."""


@dataclass(frozen=True)
class Hint:
    x: float  # photo pixels, from the left
    y: float  # photo pixels, from the top
    rgb: tuple[int, int, int]
    radius: float | None = None  # photo pixels; None: a small default patch


# ------------------------------------------------------------------------------------------------ parsing
def parse_color(text: object) -> tuple[int, int, int]:
    """'#b03020', 'b03020' or '#b32' -> (176, 48, 32)."""
    match = _HEX.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f'color {text!r} is not a hex color like "#b03020"')
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))


def parse_hints(source: str | bytes | list, width: int, height: int, max_hints: int = MAX_HINTS) -> list[Hint]:
    """Validate hints (a JSON text, or a list of parsed JSON objects or of `Hint`) against a width x height photo."""
    if isinstance(source, (str, bytes)):
        try:
            source = load_json(source)
        except ValueError as exc:
            raise HintError(f"hints are not valid JSON ({exc})") from None
    if not isinstance(source, list):
        raise HintError('hints must be a JSON list of points like [{"x": 10, "y": 20, "color": "#b03020"}]')
    if len(source) > max_hints:
        raise HintError(f"too many hints: {len(source)} (at most {max_hints})")
    return [_parse_point(i, entry, width, height) for i, entry in enumerate(source)]


def _parse_point(index: int, entry: object, width: int, height: int) -> Hint:
    where = f"hint {index}"
    if isinstance(entry, Hint):  # already parsed (the Python API, or the server): only its place is checked
        return _placed(where, entry, width, height)
    if not isinstance(entry, dict):
        raise HintError(f"{where}: must be an object with x, y and color")
    missing = [key for key in ("x", "y", "color") if key not in entry]
    if missing:
        raise HintError(f"{where}: missing {', '.join(missing)}")
    unknown = set(entry) - {"x", "y", "color", "radius"}
    if unknown:
        raise HintError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    numbers = {}
    for key in ("x", "y", "radius"):
        value = entry.get(key)
        if key == "radius" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise HintError(f"{where}: {key} must be a number, got {value!r}")
        numbers[key] = float(value)
    try:
        rgb = parse_color(entry["color"])
    except ValueError as exc:
        raise HintError(f"{where}: {exc}") from None
    return _placed(where, Hint(numbers["x"], numbers["y"], rgb, numbers.get("radius")), width, height)


def _placed(where: str, hint: Hint, width: int, height: int) -> Hint:
    """`hint` if it lies inside a width x height photo with a radius no larger than the photo."""
    if not (0 <= hint.x < width and 0 <= hint.y < height):
        raise HintError(f"{where}: ({hint.x:g}, {hint.y:g}) is outside the {width}x{height} photo")
    if hint.radius is not None and not 0 <= hint.radius <= max(width, height):
        raise HintError(f"{where}: radius {hint.radius:g} must be from 0 to the photo's size")
    return hint


# ------------------------------------------------------------------------------------------------ planes
def hint_ab(rgb: tuple[int, int, int]) -> tuple[float, float]:
    """The chroma of an sRGB color, scaled like the network's target ([-1, 1])."""
    pixel = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) / 255.0
    lab = rgb_to_lab(pixel)[0, :, 0, 0]
    return float(lab[1]) / AB_SCALE, float(lab[2]) / AB_SCALE


def hint_planes(hints: list[Hint], photo_shape: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """(3, h, w) float32 planes at `shape` (hint_spread's guide size): hinted a, hinted b (scaled like the
    network's target), mask."""
    (height, width), (h, w) = photo_shape, shape
    planes = np.zeros((HINT_PLANES, h, w), np.float32)
    sy, sx = h / height, w / width
    yy, xx = np.mgrid[0:h, 0:w]
    for hint in hints:
        cy, cx = (hint.y + 0.5) * sy - 0.5, (hint.x + 0.5) * sx - 0.5
        radius = DEFAULT_RADIUS if hint.radius is None else hint.radius * min(sx, sy)
        radius = min(MAX_RADIUS, max(0.5, radius))
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        if not disk.any():  # a tiny radius between pixel centres: the nearest pixel
            disk[min(h - 1, max(0, round(cy))), min(w - 1, max(0, round(cx)))] = True
        a, b = hint_ab(hint.rgb)
        planes[0][disk], planes[1][disk], planes[2][disk] = a, b, 1.0
    return planes
