"""Color hints: the format, the planes the network sees, simulated users, and hints through the CLI and API."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan import Colorizer
from colorgan.cli.main import main
from colorgan.colorspace import AB_SCALE, rgb_to_lab
from colorgan.config import make_config
from colorgan.infer.hints import (
    Hint,
    HintError,
    gain_near_hints,
    hint_ab,
    hint_planes,
    parse_color,
    parse_hints,
    simulate_hints,
)
from colorgan.infer.hints import _draw_points as draw_points
from colorgan.io.checkpoint import load_checkpoint, save_checkpoint
from colorgan.nets.build import build_generator, init_weights
from colorgan.train.trainer import train

from .helpers import TINY, synthetic_photo, tiny_config


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
def test_a_hint_paints_its_chroma_and_mask_at_the_working_size():
    red = (200, 30, 30)
    planes = hint_planes([Hint(399, 99, red)], (200, 400), (32, 64))  # photo 400x200 -> network 64x32
    assert planes.shape == (3, 32, 64)
    lab = rgb_to_lab(torch.tensor(red).view(1, 3, 1, 1) / 255.0)[0, :, 0, 0]
    ys, xs = np.nonzero(planes[2])
    assert abs(xs.mean() - 63.4) < 1.5 and abs(ys.mean() - 15.9) < 1.5  # the photo's (399, 99), scaled
    assert np.allclose(planes[0][planes[2] == 1], float(lab[1]) / AB_SCALE, atol=1e-6)
    assert np.allclose(planes[1][planes[2] == 1], float(lab[2]) / AB_SCALE, atol=1e-6)
    assert (planes[:, planes[2] == 0] == 0).all()
    assert hint_ab((128, 128, 128)) == pytest.approx((0.0, 0.0), abs=1e-3)  # gray carries no chroma


def test_simulated_users_are_deterministic_and_take_the_true_mean_chroma():
    target = torch.zeros(8, 2, 16, 16)
    target[:, 0], target[:, 1] = 0.3, -0.2  # a flat color: every hint must carry exactly it
    first = simulate_hints(target, torch.Generator().manual_seed(5), no_hint_share=0.25)
    again = simulate_hints(target, torch.Generator().manual_seed(5), no_hint_share=0.25)
    assert torch.equal(first, again)
    mask = first[:, 2] == 1
    assert mask.any() and not mask.all()
    assert torch.allclose(first[:, 0][mask], torch.tensor(0.3))
    assert torch.allclose(first[:, 1][mask], torch.tensor(-0.2))
    assert (first[:, :2][~mask.unsqueeze(1).expand(-1, 2, -1, -1)] == 0).all()
    none = simulate_hints(target, torch.Generator().manual_seed(5), no_hint_share=1.0)
    assert not none.any()


@pytest.mark.parametrize(("n", "h", "w", "seed"), [(6, 16, 19, 1), (4, 9, 7, 2), (16, 32, 32, 3)])
def test_simulated_hints_paint_each_point_in_order_as_a_loop_would(n, h, w, seed):
    """The vectorized painting against the plain definition: point after point, each patch filled with its
    true mean chroma, later points over earlier ones (random chroma, so overlaps and edges show)."""
    target = torch.rand(n, 2, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    got = simulate_hints(target, torch.Generator().manual_seed(seed), no_hint_share=0.2, mean_points=12)
    expected = torch.zeros(n, 3, h, w)
    points = draw_points(n, h, w, torch.Generator().manual_seed(seed), 0.2, 12, 50, 4)
    for i, y, x, half in points.T.tolist():
        y0, y1, x0, x1 = max(0, y - half), min(h, y + half + 1), max(0, x - half), min(w, x + half + 1)
        expected[i, 0:2, y0:y1, x0:x1] = target[i, :, y0:y1, x0:x1].mean(dim=(1, 2)).view(2, 1, 1)
        expected[i, 2, y0:y1, x0:x1] = 1.0
    assert points.shape[1] > n  # several points per hinted image, so patches overlap
    assert torch.equal(got[:, 2], expected[:, 2])
    assert torch.allclose(got, expected, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------- the model
@pytest.fixture(scope="module")
def hint_model(tmp_path_factory):
    """A tiny hint-taking generator whose hint weights are not zero, so hints change the output."""
    cfg = make_config("default", **TINY, hints=True)
    torch.manual_seed(0)
    generator = build_generator(cfg)
    init_weights(generator)
    with torch.no_grad():
        generator.downs[0][0].weight[:, 1:] = 0.5
    path = tmp_path_factory.mktemp("hints") / "hints.safetensors"
    save_checkpoint(path, {"G": generator}, {}, cfg.to_dict(), {"step": 0})
    return path


def test_hints_change_the_colors_and_no_hints_equals_empty_hints(hint_model, tmp_path):
    colorizer = Colorizer.load(hint_model, precision="fp32")
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


def test_the_gain_map_is_one_near_a_hint_and_the_full_gain_from_three_times_its_reach():
    mask = torch.zeros(1, 1, 32, 48)
    mask[0, 0, 10, 20] = 1.0
    gain = gain_near_hints(mask, 1.5, reach=3)[0, 0]
    assert gain.shape == (32, 48)
    assert torch.all(gain[7:14, 17:24] == 1.0)  # the hint and everything within reach of it
    far = torch.ones_like(gain, dtype=torch.bool)
    far[10 - 9 : 10 + 10, 20 - 9 : 20 + 10] = False
    assert torch.allclose(gain[far], torch.tensor(1.5))
    row = gain[10, 20:]  # rising away from the hint, never past the gain
    assert torch.all(row[1:] >= row[:-1]) and float(row.max()) == pytest.approx(1.5)
    assert torch.allclose(gain_near_hints(torch.zeros(1, 1, 8, 8), 1.3, 2), torch.tensor(1.3))


def test_the_chroma_gain_spares_a_hinted_spot_and_lifts_the_rest(hint_model):
    colorizer = Colorizer.load(hint_model, precision="fp32")
    gray = [synthetic_photo(0, (64, 64))[..., 0]]
    shape = colorizer.working_shape(64, 64)
    hints = parse_hints([{"x": 16, "y": 16, "color": "#c02020", "radius": 4}], 64, 64)
    planes = hint_planes(hints, (64, 64), shape)[None]
    _, plain = colorizer.predict_chroma(gray, None, planes)
    _, plain_auto = colorizer.predict_chroma(gray)
    colorizer.config.chroma_gain = 2.0
    _, gained = colorizer.predict_chroma(gray, None, planes)
    _, gained_auto = colorizer.predict_chroma(gray)
    on = planes[0, 2] > 0
    assert on.any() and np.allclose(gained[0][on], plain[0][on], atol=1e-5)
    reach = max(2, min(shape) // 32)
    ys, xs = np.nonzero(on)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    distance = np.min(np.maximum(abs(yy[..., None] - ys), abs(xx[..., None] - xs)), axis=-1)  # Chebyshev, to the spot
    near, far = distance <= reach, distance > 3 * reach
    assert near.sum() > on.sum() and np.allclose(gained[0][near], plain[0][near], atol=1e-5)  # spared too
    assert far.any() and np.allclose(gained[0][far], 2.0 * plain[0][far], atol=1e-5)  # the full gain
    assert np.allclose(gained_auto, 2.0 * plain_auto, atol=1e-5)  # no hints: the gain is the same everywhere


def test_a_model_without_hint_input_follows_hints_too(tiny_model):
    gray = np.full((32, 32), 120, np.uint8)
    colorizer = Colorizer.load(tiny_model)
    hinted = colorizer.colorize_array(gray, hints=[{"x": 16, "y": 16, "color": "#2050c0"}])
    assert np.abs(hinted.astype(int) - colorizer.colorize_array(gray)).max() > 20  # the whole even photo follows
    assert hinted[16, 16, 2] > hinted[16, 16, 0] + 40  # blue at the point


def test_cli_colorize_with_a_hints_file(hint_model, tmp_path, capsys):
    photo = tmp_path / "p.png"
    Image.fromarray(synthetic_photo(1, (40, 60))[..., 0]).save(photo)
    hints = tmp_path / "h.json"
    hints.write_text('[{"x": 10, "y": 10, "color": "#20a040"}]')
    assert main(["colorize", str(photo), "--model", str(hint_model), "--hints", str(hints), "--quiet"]) == 0
    assert Image.open(tmp_path / "p_color.png").size == (60, 40)
    hints.write_text('[{"x": 100, "y": 10, "color": "#20a040"}]')
    (tmp_path / "p_color.png").unlink()
    assert main(["colorize", str(photo), "--model", str(hint_model), "--hints", str(hints), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "hint 0: (100, 10) is outside the 60x40 photo" in err and str(hints) in err
    assert not (tmp_path / "p_color.png").exists()


# ---------------------------------------------------------------------------------------------- training
def test_fine_tuning_adds_hint_inputs_with_zero_weights_so_it_starts_as_the_automatic_model(
    photo_dir, tmp_path, tiny_model
):
    run = train(
        tiny_config(photo_dir, tmp_path / "h", hints=True, init_from=str(tiny_model), max_steps=2, gan_weight=0.0),
        progress=False,
    )
    assert run.exists()
    # before any step the hint weights are zero: the same output as the model it started from, hints or not
    from colorgan.infer.colorize import load_generator
    from colorgan.train.pix2pix import Pix2Pix

    model = Pix2Pix(tiny_config(photo_dir, tmp_path / "unused", hints=True), torch.device("cpu"))
    model.start_from(str(tiny_model))
    first = model.G.downs[0][0].weight
    assert first.shape[1] == 4 and not first[:, 1:].any()
    source, _, _ = load_generator(tiny_model)
    gray = torch.rand(2, 1, 32, 32) * 2 - 1
    planes = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.G.eval()(torch.cat([gray, planes], 1)), source.eval()(gray), atol=1e-6)
    trained = load_checkpoint(run / "checkpoints" / "latest.safetensors").module_state("G")
    assert trained["downs.0.0.weight"].shape[1] == 4
