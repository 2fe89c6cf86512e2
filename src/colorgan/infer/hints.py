"""Color hints: "this spot is this color", as the network's extra input (Zhang et al. 2017).

A hint-taking generator sees three planes beside the lightness: the hinted chroma (Lab ab, scaled like the
target) and a mask that is 1 where a hint lies. All three are zero without hints, so the same weights colorize
automatically too.

The hint format is the same in the CLI, the Python API and HTTP: a JSON list of points in the photo's own
pixel coordinates, `[{"x": 120, "y": 340, "color": "#b03020", "radius": 6}, ...]` (radius optional). Only a
color's chroma is used; the photo keeps its lightness.

Training simulates users the way Zhang et al. do: many samples get no hints; the rest get a few points, each a
small patch of the true mean chroma at a random place.
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
DEFAULT_RADIUS = 2.0  # in the planes' pixels (working or guide size): a 5x5 patch, as in training
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


def hint_planes(hints: list[Hint], photo_shape: tuple[int, int], working_shape: tuple[int, int]) -> np.ndarray:
    """(3, h, w) float32 planes at the network's working size: hinted a, hinted b, mask."""
    (height, width), (h, w) = photo_shape, working_shape
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


def hint_reach(size: int) -> int:
    """How far (in working pixels) the gains spare a hint, for a model trained at `size`: fixed for a model, like
    a hint's own radius, so the network (ONNX included, where pooling sizes are constants) and the colorizer
    agree at any working size."""
    return max(2, size // 32)


def gain_near_hints(mask: torch.Tensor, gain: float | torch.Tensor, reach: int) -> torch.Tensor:
    """(N, 1, h, w) per-pixel chroma gain: 1 on a hint and within `reach` pixels of it (Chebyshev distance),
    rising to `gain` just past 3·reach.

    The gain lifts the colors that L1 leaves muted where the model can only guess. A hinted color is the
    user's own: given back as the network follows it, not made more vivid (docs/quality.md, section 8)."""
    near = _separable(torch.nn.functional.max_pool2d, mask, 2 * reach)
    near = _separable(torch.nn.functional.avg_pool2d, near, reach, count_include_pad=False)
    return 1.0 + (gain - 1.0) * (1.0 - near)


def _separable(pool, x: torch.Tensor, radius: int, **kwargs) -> torch.Tensor:
    """A square (2·radius + 1)² max or mean pooling as a column pass then a row pass: the same result, at a
    cost that grows with the window's side rather than its area."""
    size = 2 * radius + 1
    x = pool(x, (size, 1), stride=1, padding=(radius, 0), **kwargs)
    return pool(x, (1, size), stride=1, padding=(0, radius), **kwargs)


# ------------------------------------------------------------------------------------------------ training
def simulate_hints(
    target_ab: torch.Tensor,
    generator: torch.Generator,
    no_hint_share: float = 0.5,
    mean_points: float = 8.0,
    max_points: int = 50,
    max_half_size: int = 4,
) -> torch.Tensor:
    """(N, 3, H, W) hint planes drawn from the true chroma `target_ab` (N, 2, H, W), as simulated users.

    A share of the samples get none (the model must stay an automatic colorizer); the others get a geometric
    number of points (mean `mean_points`), each a square patch of half-size 0..`max_half_size` filled with the
    patch's true mean chroma, at a uniform random place; where patches overlap, the later point's wins.
    Deterministic for a given `generator` state (a CPU generator: the same hints on every device).

    The points are drawn on the CPU; the patches are painted on `target_ab`'s device in a few vectorized
    operations (a loop over points launched ~1,500 small GPU kernels a step, which bound GPU training).
    """
    n, _, h, w = target_ab.shape
    points = _draw_points(n, h, w, generator, no_hint_share, mean_points, max_points, max_half_size)
    if points.shape[1] == 0:
        return torch.zeros(n, HINT_PLANES, h, w, dtype=target_ab.dtype, device=target_ab.device)
    image, ys, xs, halves = points.to(target_ab.device, non_blocking=True)
    # every pixel of a (2·max_half_size + 1)² window around each point, and whether it is in the point's patch
    offsets = torch.arange(-max_half_size, max_half_size + 1, device=target_ab.device)
    rows, cols = ys[:, None] + offsets, xs[:, None] + offsets  # (P, window side)
    row_in = (offsets.abs() <= halves[:, None]) & (rows >= 0) & (rows < h)
    col_in = (offsets.abs() <= halves[:, None]) & (cols >= 0) & (cols < w)
    inside = (row_in[:, :, None] & col_in[:, None, :]).flatten(1)  # (P, side²)
    pixel = (rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]).flatten(1)
    # each patch's mean true chroma
    values = target_ab.flatten(2)[image[:, None], :, pixel]  # (P, side², 2)
    weights = inside.to(values.dtype)[..., None]
    means = (values * weights).sum(1) / weights.sum(1)  # (P, 2)
    # paint in order: each pixel takes the last point whose patch covers it (its number, 1-based; 0: none)
    number = torch.arange(1, len(image) + 1, device=target_ab.device)[:, None] * inside
    owner = torch.zeros(n * h * w, dtype=number.dtype, device=target_ab.device)
    owner.scatter_reduce_(0, (image[:, None] * (h * w) + pixel).flatten(), number.flatten(), "amax")
    # a row per point (hinted a, hinted b, mask 1) under a row of zeros for "no hint"
    table = torch.cat([means, torch.ones_like(means[:, :1])], dim=1)
    table = torch.cat([table.new_zeros(1, HINT_PLANES), table])
    # (N, H, W, 3) seen as (N, 3, H, W): the channels_last layout the network takes
    return table.index_select(0, owner).view(n, h, w, HINT_PLANES).permute(0, 3, 1, 2)


def _draw_points(
    n: int,
    h: int,
    w: int,
    generator: torch.Generator,
    no_hint_share: float,
    mean_points: float,
    max_points: int,
    max_half_size: int,
) -> torch.Tensor:
    """(4, P) int64 on the CPU: image, row, column and half-size of every simulated point, in painting order."""
    draws = torch.rand(n, generator=generator)
    # geometric number of points >= 1 with the given mean
    counts = torch.floor(torch.log(1 - torch.rand(n, generator=generator)) / math.log(1 - 1 / mean_points)) + 1
    chosen = []
    for i in range(n):
        if draws[i] < no_hint_share:
            continue
        points = int(min(max_points, counts[i]))
        ys = torch.randint(0, h, (points,), generator=generator)
        xs = torch.randint(0, w, (points,), generator=generator)
        halves = torch.randint(0, max_half_size + 1, (points,), generator=generator)
        chosen.append(torch.stack([torch.full((points,), i), ys, xs, halves]))
    return torch.cat(chosen, dim=1) if chosen else torch.zeros(4, 0, dtype=torch.int64)
