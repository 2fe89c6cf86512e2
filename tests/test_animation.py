"""Animated GIF, PNG and WebP: every frame, its duration and the loop count are kept; too long is refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from colorgan import Colorizer
from colorgan.cli.main import main
from colorgan.io.images import ImageReadError, rgb_to_gray_u8

from .helpers import synthetic_photo

DURATIONS = [80, 120, 80, 200, 80]


def gray_frames(count: int = 5, size: tuple[int, int] = (40, 48)) -> list[np.ndarray]:
    """A photo sliding right a few pixels a frame, in gray: (H, W) uint8."""
    h, w = size
    scene = rgb_to_gray_u8(synthetic_photo(3, (h, w + 4 * count)))
    return [np.ascontiguousarray(scene[:, 4 * i : 4 * i + w]) for i in range(count)]


def write_gif(path, frames: list[np.ndarray], loop: int | None = 0):
    images = [Image.fromarray(f, "L") for f in frames]
    extra = {} if loop is None else {"loop": loop}
    images[0].save(path, save_all=True, append_images=images[1:], duration=DURATIONS[: len(frames)], **extra)
    return path


def frames_of(path) -> tuple[list[np.ndarray], list[int], dict]:
    with Image.open(path) as image:
        frames, durations = [], []
        for i in range(getattr(image, "n_frames", 1)):
            image.seek(i)
            frames.append(np.asarray(image.convert("RGBA" if "A" in image.mode else "RGB")))
            durations.append(image.info.get("duration"))
        return frames, durations, dict(image.info)


@pytest.fixture(scope="module")
def colorizer(tiny_model):
    return Colorizer.load(tiny_model)


def test_an_animated_gif_keeps_every_frame_its_timing_and_its_lightness(colorizer, tmp_path):
    source = gray_frames()
    src = write_gif(tmp_path / "clip.gif", source)
    out = colorizer.colorize_file(src, tmp_path / "clip_color.gif")
    assert out == tmp_path / "clip_color.gif.png"  # an animated PNG: full color, not a 256-color palette
    frames, durations, info = frames_of(out)
    assert len(frames) == 5 and durations == DURATIONS and info.get("loop") == 0
    for gray, rgb in zip(source, frames):
        assert rgb.shape == (40, 48, 3)
        assert np.abs(rgb_to_gray_u8(rgb).astype(int) - gray).mean() < 1.5  # the frame's own lightness
    still = np.asarray(colorizer.colorize(Image.fromarray(source[0], "L")))
    assert np.abs(frames[0].astype(int) - still).max() <= 1  # the first frame: the model's colors for that photo


def test_a_gif_that_plays_once_still_plays_once_and_a_still_gif_is_one_photo(colorizer, tmp_path):
    once = colorizer.colorize_file(write_gif(tmp_path / "once.gif", gray_frames(3), loop=None), tmp_path / "o.gif")
    with Image.open(once) as image:
        assert image.n_frames == 3 and image.info.get("loop") == 1
    still = colorizer.colorize_file(write_gif(tmp_path / "still.gif", gray_frames(1)), tmp_path / "s.gif")
    with Image.open(still) as image:
        assert not getattr(image, "is_animated", False) and image.size == (48, 40)


def test_animated_png_with_transparency_and_animated_webp_keep_their_format(colorizer, tmp_path):
    rgba = []
    for gray in gray_frames(4):
        alpha = np.full(gray.shape, 255, np.uint8)
        alpha[:, :8] = 0
        rgba.append(Image.fromarray(np.dstack([gray, gray, gray, alpha]), "RGBA"))
    src = tmp_path / "sprite.png"
    rgba[0].save(src, save_all=True, append_images=rgba[1:], duration=100, loop=0)
    frames, durations, _ = frames_of(colorizer.colorize_file(src, tmp_path / "sprite_color.png"))
    assert len(frames) == 4 and durations == [100] * 4
    assert all(f.shape[2] == 4 and (f[:, :8, 3] == 0).all() and (f[:, 8:, 3] == 255).all() for f in frames)

    webp = tmp_path / "loop.webp"
    images = [Image.fromarray(g, "L").convert("RGB") for g in gray_frames(3)]
    images[0].save(webp, save_all=True, append_images=images[1:], duration=150, loop=0, lossless=True)
    out = colorizer.colorize_file(webp, tmp_path / "loop_color.webp")
    frames, durations, _ = frames_of(out)
    assert out.suffix == ".webp" and len(frames) == 3 and durations == [150] * 3


def test_an_animation_too_large_to_hold_is_refused_by_name_and_nothing_is_written(tiny_model, tmp_path):
    src = write_gif(tmp_path / "long.gif", gray_frames(5))  # 5 frames of 48x40 = 9,600 pixels
    small = Colorizer.load(tiny_model, max_pixels=5000)  # one frame fits, all five do not
    with pytest.raises(ImageReadError, match=r"long.gif: refused: 5 frames of 48x40 = 9,600 pixels in all .* video"):
        small.colorize_file(src, tmp_path / "long_color.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.gif"]


def test_a_folder_colorizes_animations_and_photos_each_as_what_it_is(tiny_model, tmp_path, capsys):
    folder = tmp_path / "album"
    folder.mkdir()
    write_gif(folder / "wave.gif", gray_frames(4))
    Image.fromarray(synthetic_photo(1)).save(folder / "photo.jpg")
    broken = folder / "broken.gif"
    broken.write_bytes((folder / "wave.gif").read_bytes()[:-60])  # the last frame cut off
    assert main(["colorize", str(folder), "--quiet", "--model", str(tiny_model)]) == 0
    done = tmp_path / "album_color"
    assert len(frames_of(done / "wave.gif.png")[0]) == 4
    assert (done / "photo.jpg").is_file()
    assert not (done / "broken.gif.png").exists()
    assert "broken.gif" in (done / "skipped.csv").read_text()
