"""Color hints: the format, the planes hint_spread reads, and hints through the CLI and the Python API."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan import Colorizer
from colorgan.cli.main import main
from colorgan.colorspace import AB_SCALE, rgb_to_lab
from colorgan.infer.hints import Hint, HintError, hint_ab, hint_planes, parse_color, parse_hints

from .helpers import synthetic_photo


# ---------------------------------------------------------------------------------------------- the format
def test_hints_parse_from_json_in_photo_pixels():
    hints = parse_hints(
        '[{"x": 3, "y": 4.5, "color": "#b03020"}, {"x": 0, "y": 0, "color": "0f0", "radius": 7}]', 10, 8
    )
    assert hints == [Hint(3.0, 4.5, (176, 48, 32), None), Hint(0.0, 0.0, (0, 255, 0), 7.0)]
    assert parse_hints([], 10, 8) == [] and parse_color(" #FFF ") == (255, 255, 255)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("not json", "not valid JSON"),
        ('{"x": 1}', "must be a JSON list"),
        ('[{"x": 1, "y": 2}]', "hint 0: missing color"),
        ('[{"x": 1, "y": 2, "color": "#123456"}, {"x": 10, "y": 2, "color": "#123456"}]', "hint 1: (10, 2) is outside"),
        ('[{"x": 1, "y": 2, "color": "red"}]', "hint 0: color 'red' is not a hex color"),
        ('[{"x": "1", "y": 2, "color": "#123456"}]', "hint 0: x must be a number"),
        ('[{"x": 1, "y": 2, "color": "#123456", "size": 3}]', "hint 0: unknown field(s) size"),
        ('[{"x": 1, "y": 2, "color": "#123456", "radius": -1}]', "hint 0: radius -1"),
        (json.dumps([{"x": 1, "y": 1, "color": "#000"}] * 65), "too many hints: 65"),
        # numbers and nesting that the decoder itself chokes on: one line each, no traceback
        ('[{"x": 1' + "0" * 400 + ', "y": 2, "color": "#123456"}]', "a number of 401 digits"),
        ('[{"x": 1' + "0" * 5000 + ', "y": 2, "color": "#123456"}]', "a number of 5,001 digits"),
        ('[{"x": 1e400, "y": 2, "color": "#123456"}]', "hint 0: x must be a number"),
        ("[" * 100000, "nested too deeply"),
        (b"[\xc3\x28]", "not UTF-8 text"),
    ],
)
def test_bad_hints_name_the_entry_and_the_reason(text, reason):
    with pytest.raises(HintError) as err:
        parse_hints(text, 10, 8)
    assert reason in str(err.value)


# ---------------------------------------------------------------------------------------------- the planes
def test_a_hint_paints_its_chroma_and_mask_at_the_planes_size():
    red = (200, 30, 30)
    planes = hint_planes([Hint(399, 99, red)], (200, 400), (32, 64))  # photo 400x200 -> planes 64x32
    assert planes.shape == (3, 32, 64)
    lab = rgb_to_lab(torch.tensor(red).view(1, 3, 1, 1) / 255.0)[0, :, 0, 0]
    ys, xs = np.nonzero(planes[2])
    assert abs(xs.mean() - 63.4) < 1.5 and abs(ys.mean() - 15.9) < 1.5  # the photo's (399, 99), scaled
    assert np.allclose(planes[0][planes[2] == 1], float(lab[1]) / AB_SCALE, atol=1e-6)
    assert np.allclose(planes[1][planes[2] == 1], float(lab[2]) / AB_SCALE, atol=1e-6)
    assert (planes[:, planes[2] == 0] == 0).all()
    assert hint_ab((128, 128, 128)) == pytest.approx((0.0, 0.0), abs=1e-3)  # gray carries no chroma


# ---------------------------------------------------------------------------------------------- any model
def test_hints_change_the_colors_and_no_hints_equals_empty_hints(tiny_model):
    colorizer = Colorizer.load(tiny_model, precision="fp32")
    gray = np.full((40, 60), 128, np.uint8)
    plain = colorizer.colorize_array(gray)
    assert np.array_equal(plain, colorizer.colorize_array(gray, hints=[]))
    hinted = colorizer.colorize_array(gray, hints=[{"x": 30, "y": 20, "color": "#1040d0", "radius": 8}])
    assert hinted.shape == plain.shape and not np.array_equal(hinted, plain)
    assert np.abs(hinted.astype(int) - plain).sum(axis=2)[20, 30] > 0
    # lightness is kept whatever the hint's own lightness
    lab_plain = rgb_to_lab(torch.from_numpy(plain).permute(2, 0, 1)[None].float() / 255)[0, 0]
    lab_hinted = rgb_to_lab(torch.from_numpy(hinted).permute(2, 0, 1)[None].float() / 255)[0, 0]
    assert float((lab_plain - lab_hinted).abs().mean()) < 1.5
    with pytest.raises(HintError, match="hint 0"):
        colorizer.colorize_array(gray, hints=[{"x": 60, "y": 0, "color": "#fff"}])


def test_the_chroma_gain_leaves_a_hinted_color_as_the_user_gave_it(tiny_model):
    colorizer = Colorizer.load(tiny_model, precision="fp32")
    gray = synthetic_photo(0, (64, 64))[..., 0]
    hints = [{"x": 16, "y": 16, "color": "#c02020", "radius": 4}]
    plain = colorizer.colorize_array(gray, hints=hints).astype(int)
    colorizer.config.chroma_gain = 8.0  # the untrained model's colors are faint
    gained = colorizer.colorize_array(gray, hints=hints).astype(int)
    assert np.abs(gained[14:19, 14:19] - plain[14:19, 14:19]).max() <= 1  # the user's color, not 8x its chroma
    assert np.abs(gained - plain).max() > 8  # while the gain acts on the model's colors


def test_a_model_without_hint_input_follows_hints_too(tiny_model):
    gray = np.full((32, 32), 120, np.uint8)
    colorizer = Colorizer.load(tiny_model)
    hinted = colorizer.colorize_array(gray, hints=[{"x": 16, "y": 16, "color": "#2050c0"}])
    assert np.abs(hinted.astype(int) - colorizer.colorize_array(gray)).max() > 20  # the whole even photo follows
    assert hinted[16, 16, 2] > hinted[16, 16, 0] + 40  # blue at the point


def test_cli_colorize_with_a_hints_file(tiny_model, tmp_path, capsys):
    photo = tmp_path / "p.png"
    Image.fromarray(synthetic_photo(1, (40, 60))[..., 0]).save(photo)
    hints = tmp_path / "h.json"
    hints.write_text('[{"x": 10, "y": 10, "color": "#20a040"}]')
    assert main(["colorize", str(photo), "--model", str(tiny_model), "--hints", str(hints), "--quiet"]) == 0
    assert Image.open(tmp_path / "p_color.png").size == (60, 40)
    hints.write_text('[{"x": 100, "y": 10, "color": "#20a040"}]')
    (tmp_path / "p_color.png").unlink()
    assert main(["colorize", str(photo), "--model", str(tiny_model), "--hints", str(hints), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "hint 0: (100, 10) is outside the 60x40 photo" in err and str(hints) in err
    assert not (tmp_path / "p_color.png").exists()
