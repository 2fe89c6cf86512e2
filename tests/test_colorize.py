"""Colorizing any photo at its own size: shapes, luminance kept, folders, bad files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from colorgan import Colorizer
from colorgan.io.images import rgb_to_gray_u8

from .helpers import synthetic_photo


def test_output_has_input_size_and_keeps_its_lightness(tiny_model, tmp_path):
    colorizer = Colorizer.load(tiny_model)
    gray = rgb_to_gray_u8(synthetic_photo(3, (301, 517)))
    out = colorizer.colorize(gray)
    assert out.size == (517, 301) and out.mode == "RGB"
    # Lab mode keeps the full-resolution lightness: re-deriving the gray gives the input back.
    assert np.abs(rgb_to_gray_u8(np.asarray(out)).astype(int) - gray).max() <= 3


def test_a_tall_photo_never_comes_out_nan(tiny_model):
    # (300, 7) works at 512 x 32: the deepest levels are one pixel wide, where oneDNN's bf16 convolution
    # returned NaN on about one call in ten; the backend reruns such a call in fp32
    colorizer = Colorizer.load(tiny_model)
    for _ in range(40):
        assert np.isfinite(np.asarray(colorizer.colorize(np.zeros((300, 7), np.uint8)))).all()


def test_odd_sizes_and_aspect_ratios(tiny_model):
    colorizer = Colorizer.load(tiny_model)
    for h, w in [(1, 1), (7, 300), (300, 7), (33, 65)]:
        assert colorizer.colorize(np.zeros((h, w), np.uint8)).size == (w, h)


def test_alpha_is_kept(tiny_model):
    rgba = np.dstack([synthetic_photo(1), np.full((48, 40), 128, np.uint8)])
    out = Colorizer.load(tiny_model).colorize(Image.fromarray(rgba, "RGBA"))
    assert out.mode == "RGBA" and np.all(np.asarray(out)[..., 3] == 128)


def test_folder_run_keeps_structure_skips_bad_files_and_resumes(tiny_model, photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photo_dir / "empty.png").write_bytes(b"")
    (photo_dir / "notes.jpg").write_text("hello")
    (photo_dir / "folder.png").mkdir()
    out = tmp_path / "out"
    colorizer = Colorizer.load(tiny_model)
    report = colorizer.colorize_folder(photo_dir, out, progress=False)
    assert len(report.done) == 24
    assert {p.split("/")[-1] for p, _ in report.skipped} == {"broken.jpg", "empty.png", "notes.jpg", "folder.png"}
    assert (out / "a" / "img01.jpg").exists() and (out / "b" / "img00.png").exists()
    assert "empty file" in dict(report.skipped)[str(photo_dir / "empty.png")]
    assert (out / "skipped.csv").read_text().count("\n") == 5
    again = colorizer.colorize_folder(photo_dir, out, progress=False)
    assert len(again.done) == 0 and len(again.existing) == 24


def test_same_colors_at_any_resolution(tiny_model):
    colorizer = Colorizer.load(tiny_model, precision="fp32")
    small = synthetic_photo(5, (128, 128))
    big = np.asarray(Image.fromarray(small).resize((512, 512), Image.BICUBIC))
    out_small = np.asarray(colorizer.colorize(rgb_to_gray_u8(small)).resize((512, 512), Image.BICUBIC))
    out_big = np.asarray(colorizer.colorize(rgb_to_gray_u8(big)))
    assert np.abs(out_small.astype(int) - out_big).mean() < 3.0


def test_missing_model_is_a_clear_error(tmp_path):
    from colorgan.io.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="no such model"):
        Colorizer.load(tmp_path / "nope.safetensors")


def test_a_folder_of_every_mode_plus_bad_files(tiny_model, tmp_path):
    """The issue's acceptance case: a real photo of each mode, plus a corrupt, a 0-byte and a text file."""
    src = tmp_path / "scans"
    src.mkdir()
    rgb = synthetic_photo(7, (60, 80))
    gray = rgb_to_gray_u8(rgb)
    Image.fromarray(gray).save(src / "gray.png")
    Image.fromarray(rgb).save(src / "rgb.jpg")
    Image.fromarray(np.dstack([rgb, np.full((60, 80), 90, np.uint8)])).save(src / "rgba.png")
    Image.fromarray(rgb).convert("P").save(src / "palette.gif")
    Image.fromarray(gray.astype(np.uint16) * 257).save(src / "gray16.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(src / "gray16.tif")
    Image.fromarray(rgb).convert("CMYK").save(src / "cmyk.jpg")
    Image.fromarray(rgb).save(src / "photo.webp")
    (src / "corrupt.jpg").write_bytes((src / "rgb.jpg").read_bytes()[:200])
    (src / "zero.png").write_bytes(b"")
    (src / "readme.jpg").write_text("this is text")
    report = Colorizer.load(tiny_model).colorize_folder(src, tmp_path / "out", progress=False)
    assert len(report.done) == 8
    assert sorted(p.split("/")[-1] for p, _ in report.skipped) == ["corrupt.jpg", "readme.jpg", "zero.png"]
    outputs = {p.name: Image.open(p) for p in report.done}
    assert outputs["rgba.png"].mode == "RGBA"
    assert all(im.size == (80, 60) for im in outputs.values())
    assert "palette.gif" not in outputs and "palette.gif.png" in outputs  # GIF is read, written as PNG


def test_exif_orientation_is_honoured(tiny_model, tmp_path):
    photo = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(synthetic_photo(1, (30, 50))).save(photo, exif=exif)
    assert Colorizer.load(tiny_model).colorize(photo).size == (30, 50)


def test_decompression_bombs_are_refused_at_the_configured_limit(tiny_model, tmp_path):
    from colorgan.io.images import ImageReadError

    photo = tmp_path / "big.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(photo)
    with pytest.raises(ImageReadError, match="exceeds the limit of 5,000"):
        Colorizer.load(tiny_model, max_pixels=5000).colorize(photo)


def test_large_photo_keeps_full_resolution_lightness(tiny_model):
    gray = np.random.default_rng(0).integers(0, 256, (1500, 2000), dtype=np.uint8)
    out = Colorizer.load(tiny_model).colorize_array(gray)
    assert out.shape == (1500, 2000, 3)
    assert np.abs(rgb_to_gray_u8(out).astype(int) - gray).mean() < 1.0


def test_the_shipped_default_model_works_offline_with_no_path():
    from colorgan.infer.colorize import default_weights_path

    path = default_weights_path()
    assert path.stat().st_size < 32 * 2**20
    assert int.from_bytes(path.read_bytes()[:8], "little") < 2**20  # a safetensors header, not a pickle
    colorizer = Colorizer.load()
    assert colorizer.config.color_space == "lab" and colorizer.size == 128
    out = colorizer.colorize(synthetic_photo(0, (90, 120)))
    assert out.size == (120, 90)


def test_any_aspect_ratio_works_in_bounded_memory(tiny_model, tmp_path):
    """An 84-byte 1x4000 PNG once asked for a 32 x 128,000 network input (and 4 GB at 128 px)."""
    colorizer = Colorizer.load(tiny_model)
    assert colorizer.working_shape(1, 4000) == (32, 512)  # 16 squares of 32 px, not 32 x 128,000
    assert colorizer.working_shape(6000, 2) == (512, 32)
    assert colorizer.working_shape(3000, 4000) == (32, 32 * round(4 / 3))
    line = tmp_path / "line.png"
    Image.fromarray(np.full((1, 4000), 128, np.uint8)).save(line)
    out = colorizer.colorize(line)
    assert out.size == (4000, 1)


@pytest.mark.slow
def test_memory_per_photo_is_bounded_per_pixel(tiny_model):
    """A 49-megapixel WebP once cost 2.5 GB: float temporaries of the whole photo. Now about 17 bytes a pixel
    (decoding, the output image and the PNG file included); measured as the slope between two sizes."""
    import io
    import tracemalloc

    colorizer = Colorizer.load(tiny_model)

    def peak_bytes(height: int) -> int:
        gray = np.random.default_rng(0).integers(0, 255, (height, 2000), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(np.dstack([gray, gray // 2, gray])).save(buffer, format="PNG", compress_level=1)
        raw = buffer.getvalue()
        colorizer.colorize(raw)  # warm-up: first-call allocations are not per photo
        tracemalloc.start()
        try:
            colorizer.colorize(raw).save(io.BytesIO(), format="PNG")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_bytes(500), peak_bytes(3000)
    assert (large - small) / (2500 * 2000) < 20


def test_chroma_gain_scales_the_predicted_chroma(tiny_model):
    import dataclasses

    colorizer = Colorizer.load(tiny_model)
    gray = torch.zeros(1, 1, 4, 4)
    out = torch.full((1, 2, 4, 4), 0.2)  # network units: ab / 110
    assert np.allclose(colorizer._chroma(gray, out), 22.0)
    colorizer.config = dataclasses.replace(colorizer.config, chroma_gain=1.5)
    assert np.allclose(colorizer._chroma(gray, out), 33.0)
    with pytest.raises(ValueError, match="chroma-gain"):
        dataclasses.replace(colorizer.config, chroma_gain=0.0).validate()


def test_compose_is_the_same_on_any_number_of_threads_and_follows_the_lab_conversion():
    from colorgan.colorspace import lab_to_rgb
    from colorgan.infer.compose import BAND_ROWS, L_OF_GRAY, compose

    rng = np.random.default_rng(4)
    gray = rng.integers(0, 256, (3 * BAND_ROWS + 5, 211), dtype=np.uint8)  # bands that do not divide the height
    ab_small = rng.normal(0, 30, (9, 13, 2)).astype(np.float32)
    once = compose(gray, ab_small, threads=1)
    for threads in (2, 3, 8):
        assert np.array_equal(compose(gray, ab_small, threads=threads), once)
    # against the float conversion of colorgan.colorspace, with the chroma upsampled the same way
    ab = cv2.resize(ab_small, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    lab = np.concatenate([L_OF_GRAY[gray][..., None], ab], axis=2)
    expected = lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(once.astype(float) - expected * 255).max() <= 1.0
