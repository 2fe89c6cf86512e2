"""Color math agrees with scikit-image and keeps lightness exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import lab2rgb, rgb2lab

from colorgan import colorspace


def test_rgb_to_lab_matches_skimage():
    rgb = torch.rand(3, 3, 17, 9, generator=torch.Generator().manual_seed(0))
    ours = colorspace.rgb_to_lab(rgb).numpy()
    ref = np.stack([rgb2lab(im.permute(1, 2, 0).numpy()) for im in rgb]).transpose(0, 3, 1, 2)
    assert np.abs(ours - ref).max() < 1e-3


def test_lab_to_rgb_matches_skimage_and_round_trips():
    rgb = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    lab = colorspace.rgb_to_lab(rgb)
    ref = np.stack([lab2rgb(im.permute(1, 2, 0).numpy()) for im in lab]).transpose(0, 3, 1, 2)
    assert np.abs(colorspace.lab_to_rgb(lab).numpy() - ref).max() < 1e-3
    assert (colorspace.lab_to_rgb(lab) - rgb).abs().max() < 1e-4


def test_gray_has_the_same_lightness_as_the_color_it_came_from():
    rgb = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    gray = colorspace.rgb_to_gray(rgb)
    assert (colorspace.gray_to_lightness(gray) - colorspace.rgb_to_lab(rgb)[:, :1]).abs().max() < 1e-3


def test_lab_decode_keeps_the_input_lightness_for_in_gamut_chroma():
    gray = torch.rand(1, 1, 8, 8) * 0.5 + 0.25
    ab = torch.rand(1, 2, 8, 8) * 0.1 - 0.05
    rgb = colorspace.decode_output(gray, ab, "lab")
    assert (colorspace.rgb_to_lab(rgb)[:, :1] - colorspace.gray_to_lightness(gray)).abs().max() < 0.05


def test_encode_decode_round_trip_in_both_spaces():
    rgb = torch.rand(1, 3, 8, 8)
    gray = colorspace.rgb_to_gray(rgb)
    for space in ("rgb", "lab"):
        target = colorspace.encode_target(rgb, space)
        assert target.abs().max() <= 1.0
        assert (colorspace.decode_output(gray, target, space) - rgb).abs().max() < 1e-3
    assert colorspace.encode_input(torch.zeros(1, 1, 2, 2), "lab").eq(-1).all()
    assert colorspace.encode_input(torch.ones(1, 1, 2, 2), "rgb").eq(1).all()


def test_mean_ab_of_a_gray_image_is_zero():
    assert np.allclose(colorspace.mean_ab([np.full((4, 4, 3), 77, np.uint8)]), 0, atol=3e-3)


@pytest.mark.parametrize("color_space", ["lab", "rgb"])
def test_encode_pixels_gives_what_encode_input_and_target_give_for_the_same_8_bit_pixels(color_space):
    levels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    every_color = torch.randint(0, 256, (4, 48, 40, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for gray, color in [
        (levels, levels.expand(1, 3, 16, 16).contiguous()),
        (every_color[..., :1].permute(0, 3, 1, 2).contiguous(), every_color.permute(0, 3, 1, 2)),  # channels-last
    ]:
        x, y = colorspace.encode_pixels(gray, color, color_space)
        expected_x = colorspace.encode_input(gray.float() / 255, color_space)
        expected_y = colorspace.encode_target(color.float() / 255, color_space)
        assert x.shape == expected_x.shape and y.shape == expected_y.shape
        assert torch.allclose(x, expected_x, rtol=0, atol=1e-6) and torch.allclose(y, expected_y, rtol=0, atol=1e-6)


def test_device_constants_made_under_inference_mode_still_serve_training():
    # the colorizer runs in inference mode; a constant first copied there must not become an inference tensor
    colorspace._on_device.cache_clear()
    with torch.inference_mode():
        colorspace.lab_to_linear_rgb(torch.zeros(2, 2, 3, dtype=torch.float64))  # float64: the constants are copied
    lab = torch.zeros(2, 2, 3, dtype=torch.float64, requires_grad=True)
    colorspace.lab_to_linear_rgb(lab).sum().backward()  # the product saves the matrix for backward
    assert lab.grad is not None and lab.grad.shape == lab.shape
