"""Hints spread over their region: the user's color at the point, fading with distance, stopped by edges."""

from __future__ import annotations

import numpy as np
import pytest

from colorgan import Colorizer
from colorgan.colorspace import AB_SCALE
from colorgan.infer.hint_spread import apply_hints, guide_shape, spread_hints
from colorgan.infer.hints import hint_ab, parse_hints


def two_halves(h: int = 40, w: int = 60, step: float = 50.0) -> np.ndarray:
    """Lab lightness: an even left half at 30 and an even right half `step` brighter."""
    lightness = np.full((h, w), 30.0, np.float32)
    lightness[:, w // 2 :] += step
    return lightness


def one_hint(h: int, w: int, y: int, x: int, a: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    hinted = np.zeros((h, w), bool)
    hinted[y - 1 : y + 2, x - 1 : x + 2] = True
    color = np.zeros((h, w, 2), np.float32)
    color[..., 0], color[..., 1] = a, -a / 2
    return hinted, color


def test_a_hint_is_the_users_color_at_its_pixels_and_fades_through_its_region():
    lightness, ab = two_halves(), np.zeros((40, 60, 2), np.float32)
    hinted, color = one_hint(40, 60, 20, 5)
    out = spread_hints(lightness, ab, hinted, color)
    assert np.array_equal(out[hinted], color[hinted])
    row = out[20, 7:30, 0]  # from the hinted pixels to the region's edge
    assert np.all(np.diff(row) < 0) and 0 < row[-1] < row[0] < 40  # fades, but still colors its region
    assert out[0, 5, 0] > 10  # the whole even region follows, not only the row


def test_an_edge_in_the_lightness_stops_a_hint_and_the_other_region_keeps_the_models_colors():
    rng = np.random.default_rng(0)
    ab = rng.uniform(-20, 20, (40, 60, 2)).astype(np.float32)
    hinted, color = one_hint(40, 60, 20, 25)
    out = spread_hints(two_halves(), ab, hinted, color)
    assert np.abs(out[:, 30:] - ab[:, 30:]).max() < 0.01  # across a 50-level lightness step: untouched
    assert np.abs(out[:, 20:29] - ab[:, 20:29]).mean() > 5  # this side: corrected
    flat = spread_hints(two_halves(step=0.0), ab, hinted, color)
    assert np.abs(flat[:, 31:36] - ab[:, 31:36]).mean() > 5  # without the edge it would have gone on


def test_a_hint_carried_down_a_gentle_slope_into_the_dark_is_dimmed_with_the_lightness():
    """A brown point on a lit face must not paint the dark suit below it, joined by a soft shadow, brown."""
    h, w = 20, 80
    slope = np.tile(np.linspace(40.0, 10.0, w, dtype=np.float32), (h, 1))  # 0.38 L per pixel: no edge
    ab = np.zeros((h, w, 2), np.float32)
    hinted, color = one_hint(h, w, 10, 2)
    out = spread_hints(slope, ab, hinted, color)
    flat = np.full((h, w), 40.0, np.float32)
    even = spread_hints(flat, ab, hinted, color)
    assert np.array_equal(out[hinted], color[hinted])  # the user's color at the point, exactly
    dark = slice(w - 10, w)  # L 10-14, a quarter to a third of the hint's 40
    ratio = out[10, dark, 0] / even[10, dark, 0]
    assert np.all(ratio < np.sqrt(np.maximum(slope[10, dark], 5.0) / 39.0) + 0.02) and np.all(ratio > 0.3)
    up = one_hint(h, w, 10, w - 3)  # from the dark end towards the light: not dimmed
    assert spread_hints(slope, ab, *up)[10, 40, 0] == pytest.approx(spread_hints(flat, ab, *up)[10, 40, 0], rel=0.1)


def test_no_hints_change_nothing_and_a_photo_of_hints_only_is_the_hints():
    lightness, ab = two_halves(), np.ones((40, 60, 2), np.float32)
    assert spread_hints(lightness, ab, np.zeros((40, 60), bool), ab * 0) is ab
    everywhere = np.ones((40, 60), bool)
    color = np.full((40, 60, 2), 7.0, np.float32)
    assert np.array_equal(spread_hints(lightness, ab, everywhere, color), color)


def test_the_guide_is_a_fixed_size_for_large_photos_and_never_above_the_photos():
    assert guide_shape((3000, 4000), (128, 160)) == (192, 256)
    assert guide_shape((1000, 2000), (384, 768)) == (384, 768)  # the working size, where it is larger
    assert guide_shape((100, 80), (128, 96)) == (100, 80)  # never above the photo's own size


def shipped_colorizer() -> Colorizer:
    return Colorizer.load(None)  # the model in the package: it takes no hint input, hints are spread


def test_the_shipped_model_takes_hints_and_gives_the_users_color_at_the_point():
    gray = np.full((96, 128), 90, np.uint8)
    gray[:, 64:] = 200  # two even regions
    colorizer = shipped_colorizer()
    automatic = colorizer.colorize_array(gray)
    hinted = colorizer.colorize_array(gray, hints=[{"x": 20, "y": 40, "color": "#2050c0"}])
    from skimage.color import rgb2lab

    lab_auto, lab = rgb2lab(automatic), rgb2lab(hinted)
    want_a, want_b = (v * AB_SCALE for v in hint_ab((0x20, 0x50, 0xC0)))
    assert abs(lab[40, 20, 1] - want_a) < 1.5 and abs(lab[40, 20, 2] - want_b) < 1.5  # the user's chroma
    assert np.abs(lab[..., 0] - lab_auto[..., 0]).max() < 1.0  # the photo keeps its lightness
    assert np.abs(lab[:, 72:, 1:] - lab_auto[:, 72:, 1:]).max() < 1.0  # the other region keeps its colors
    assert np.abs(lab[:, :56, 1:] - lab_auto[:, :56, 1:]).mean() > 5  # the hint's region follows it
    assert colorizer.info()["hints"] is True


def test_apply_hints_returns_the_models_chroma_unchanged_without_hints():
    ab = np.zeros((8, 8, 2), np.float32)
    assert apply_hints(np.zeros((32, 32), np.uint8), ab, [], (8, 8)) is ab
    hints = parse_hints([{"x": 3, "y": 3, "color": "#ff0000"}], 32, 32)
    assert apply_hints(np.zeros((32, 32), np.uint8), ab, hints, (8, 8)).shape == (32, 32, 2)


@pytest.mark.parametrize("shape", [(1, 1), (1, 50), (50, 1)])
def test_hints_on_a_photo_of_one_pixel_row_or_column(shape):
    gray = np.full(shape, 128, np.uint8)
    out = shipped_colorizer().colorize_array(gray, hints=[{"x": 0, "y": 0, "color": "#ff0000"}])
    assert out.shape == (*shape, 3)
