"""The palette: the likeliest colors a bins model sees at a point, to offer as hints."""

import threading
import time

import numpy as np
import pytest
import torch

from colorgan import Colorizer, colorspace
from colorgan.infer.palette import PaletteError, likeliest_colors

from .helpers import ab_class, save_bins_model, synthetic_photo


def _peaks(*weights: tuple[float, float, float]) -> torch.Tensor:
    p = torch.full((len(colorspace.ab_bin_centers()),), 1e-4)
    for a, b, w in weights:
        p[ab_class(a, b)] += w
    return p / p.sum()


def _lab(rgb) -> np.ndarray:
    return colorspace.rgb_to_lab(torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) / 255)[0, :, 0, 0].numpy()


def test_two_likely_colors_come_first_in_order_with_their_shares_at_the_given_lightness():
    colors = likeliest_colors(_peaks((40, 30, 0.6), (-10, -40, 0.3)), lightness=50.0)
    assert len(colors) == 2  # the rest of the mass is noise below the share that makes a choice
    red, blue = colors
    assert red.probability == pytest.approx(0.6, abs=0.05) and blue.probability == pytest.approx(0.3, abs=0.05)
    assert red.rgb[0] > red.rgb[2] and blue.rgb[2] > blue.rgb[0]
    for color, (a, b) in zip(colors, [(40, 30), (-10, -40)]):
        lab = _lab(color.rgb)
        assert lab[0] == pytest.approx(50.0, abs=0.6)  # the point's lightness, the hue kept inside sRGB
        assert np.cos(np.arctan2(lab[2], lab[1]) - np.arctan2(b, a)) > 0.95
    assert red.hex == "#{:02x}{:02x}{:02x}".format(*red.rgb)


def test_neighbouring_classes_are_one_color_not_two_choices():
    colors = likeliest_colors(_peaks((40, 30, 0.4), (50, 30, 0.4), (-30, 10, 0.2)), lightness=60.0)
    assert len(colors) == 2 and colors[0].probability == pytest.approx(0.8, abs=0.05)
    assert sum(c.probability for c in colors) <= 1.0 + 1e-9


def test_count_limits_the_choices_and_the_likeliest_always_shows():
    flat = torch.full((len(colorspace.ab_bin_centers()),), 1.0 / len(colorspace.ab_bin_centers()))
    colors = likeliest_colors(flat, 50.0, count=3)
    assert len(colors) == 3 and sum(c.probability for c in colors) == pytest.approx(1.0)
    assert len(likeliest_colors(_peaks((40, 30, 0.99)), 50.0)) == 1  # one likely color: one choice
    with pytest.raises(PaletteError, match="class probabilities"):
        likeliest_colors(torch.ones(7), 50.0)


def _bins_model(tmp_path, preferred: tuple[float, float] | None = None) -> Colorizer:
    return Colorizer.load(save_bins_model(tmp_path / "bins.safetensors", preferred))


def test_the_palette_at_a_point_is_the_models_distribution_there(tmp_path):
    colorizer = _bins_model(tmp_path, preferred=(-20, 40))
    assert colorizer.has_palette
    photo = synthetic_photo(3, (70, 90))
    gray = photo[..., 1]
    colors = colorizer.palette(gray, x=45, y=30)
    assert colors[0].probability > 0.9
    lab = _lab(colors[0].rgb)
    truth_l = float(colorspace.gray_to_lightness(torch.tensor(gray[30, 45] / 255.0)))
    assert lab[0] == pytest.approx(truth_l, abs=0.6) and np.cos(np.arctan2(lab[2], lab[1]) - np.arctan2(40, -20)) > 0.95


def test_an_untrained_model_gives_valid_choices_anywhere_in_the_photo(tmp_path):
    colorizer = _bins_model(tmp_path)
    photo = synthetic_photo(4, (50, 64))
    for x, y in [(0, 0), (63.9, 49.9), (20.5, 10)]:
        colors = colorizer.palette(photo, x=x, y=y, count=4)
        assert 1 <= len(colors) <= 4 and sum(c.probability for c in colors) <= 1 + 1e-6
        assert [c.probability for c in colors] == sorted((c.probability for c in colors), reverse=True)


@pytest.mark.parametrize("x, y", [(-1, 5), (64, 5), (5, 50), (float("nan"), 5), (5, float("inf"))])
def test_a_point_outside_the_photo_is_one_clear_error(tmp_path, x, y):
    colorizer = _bins_model(tmp_path)
    with pytest.raises(PaletteError, match="outside the 64x50 photo"):
        colorizer.palette(synthetic_photo(4, (50, 64)), x=x, y=y)


def test_a_model_that_predicts_one_color_says_it_has_no_palette(tiny_model):
    colorizer = Colorizer.load(tiny_model)
    assert not colorizer.has_palette
    with pytest.raises(PaletteError, match="no palette.*bins-head model"):
        colorizer.palette(synthetic_photo(4, (50, 64)), x=5, y=5)


# ------------------------------------------------------------------------------------------------ over HTTP
def _png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_http_api_gives_the_palette_and_says_why_when_it_cannot(tmp_path, tiny_model):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from colorgan.serve import create_app, serve_in_thread

    photo = _png(synthetic_photo(3, (70, 90)))
    app = create_app(_bins_model(tmp_path, preferred=(-20, 40)))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/api/info").json()["palette"] is True
        answer = http.post("/api/palette", files={"image": ("a.png", photo)}, data={"x": "45", "y": "30"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["x"] == 45 and body["y"] == 30 and body["colors"][0]["probability"] > 0.9
        lab = _lab(tuple(int(body["colors"][0]["color"][i : i + 2], 16) for i in (1, 3, 5)))
        assert np.cos(np.arctan2(lab[2], lab[1]) - np.arctan2(40, -20)) > 0.95
        for data, words in [
            ({"x": "45"}, "'x' and 'y'"),
            ({"x": "a lot", "y": "3"}, "x must be a number"),
            ({"x": "500", "y": "3"}, "outside the 90x70 photo"),
            ({"x": "5", "y": "3", "count": "99"}, "count must be"),
            ({"x": "5", "y": "3", "count": "1" * 1000}, "count must be"),
            ({"x": "1e400", "y": "3"}, "x must be a finite number of pixels, 0 or more"),
            ({"x": "5", "y": "nan"}, "y must be a finite number of pixels, 0 or more"),
            ({"x": "-1", "y": "3"}, "x must be a finite number of pixels, 0 or more"),
            ({"x": "5" * 1000, "y": "3"}, "x must be a finite number"),
        ]:
            refused = http.post("/api/palette", files={"image": ("a.png", photo)}, data=data)
            assert refused.status_code == 422 and words in refused.json()["detail"], refused.text
    with serve_in_thread(create_app(Colorizer.load(tiny_model))) as base, httpx.Client(base_url=base) as http:
        assert http.get("/api/info").json()["palette"] is False
        refused = http.post("/api/palette", files={"image": ("a.png", photo)}, data={"x": "1", "y": "1"})
        assert refused.status_code == 409 and "no palette" in refused.json()["detail"]


@pytest.mark.slow
def test_palette_requests_wait_in_the_same_bounded_queue_as_colorizing(tmp_path):
    """A flood of clicks (each one a photo to decode and a forward pass) cannot run more palettes at once than the
    server has workers: past the queue they get 503 with Retry-After, and the server serves again afterwards."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from colorgan.serve import ServeLimits, create_app, serve_in_thread

    colorizer = _bins_model(tmp_path, preferred=(-20, 40))
    running, most, lock, release = [0], [0], threading.Lock(), threading.Event()
    real_palette = colorizer.palette

    def slow_palette(*args, **kwargs):  # holds its worker until every click has had its answer or its place
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(30)
        with lock:
            running[0] -= 1
        return real_palette(*args, **kwargs)

    colorizer.palette = slow_palette
    photo = _png(synthetic_photo(4, (60, 80)))
    app = create_app(colorizer, ServeLimits(workers=1, queue=1, timeout=30.0))
    with serve_in_thread(app) as base:
        answers = [None] * 5

        def click(i):
            with httpx.Client(base_url=base, timeout=30) as http:
                answers[i] = http.post("/api/palette", files={"image": ("a.png", photo)}, data={"x": "9", "y": "9"})

        threads = [threading.Thread(target=click, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while sum(a is not None for a in answers) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)  # three refused; one running, one waiting
        release.set()
        for t in threads:
            t.join()
        assert sorted(a.status_code for a in answers) == [200, 200, 503, 503, 503]
        assert all(int(a.headers["retry-after"]) >= 1 for a in answers if a.status_code == 503)
        assert most[0] == 1
        with httpx.Client(base_url=base, timeout=30) as http:
            again = http.post("/api/palette", files={"image": ("a.png", photo)}, data={"x": "9", "y": "9"})
            assert again.status_code == 200 and again.json()["colors"]
