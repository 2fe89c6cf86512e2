"""Colorizing any photo at its own size: shapes, luminance kept, folders, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from colorgan import Colorizer
from colorgan.images import rgb_to_gray_u8

from .conftest import synthetic_photo


def test_output_has_input_size_and_keeps_its_lightness(tiny_model, tmp_path):
    colorizer = Colorizer.load(tiny_model)
    gray = rgb_to_gray_u8(synthetic_photo(3, (301, 517)))
    out = colorizer.colorize(gray)
    assert out.size == (517, 301) and out.mode == "RGB"
    # Lab mode keeps the full-resolution lightness: re-deriving the gray gives the input back.
    assert np.abs(rgb_to_gray_u8(np.asarray(out)).astype(int) - gray).max() <= 3


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
    from colorgan.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="no such model"):
        Colorizer.load(tmp_path / "nope.safetensors")
