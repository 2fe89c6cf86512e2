"""Export: ONNX agrees with PyTorch; the compact safetensors export loads without pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorgan import Colorizer
from colorgan.cli.export import export_model
from colorgan.cli.main import main
from colorgan.io.images import rgb_to_gray_u8

from .helpers import synthetic_photo

pytest.importorskip("onnxruntime")

TOLERANCE = 2  # max abs difference of uint8 RGB outputs (float rounding in two runtimes)


@pytest.fixture(scope="module")
def onnx_model(tiny_model, tmp_path_factory):
    return export_model(tiny_model, tmp_path_factory.mktemp("onnx") / "model.onnx", "onnx")


def test_onnx_matches_torch_on_random_and_real_images_of_any_size(tiny_model, onnx_model):
    torch_c = Colorizer.load(tiny_model, precision="fp32")
    onnx_c = Colorizer.load(onnx_model, backend="onnx")
    assert onnx_c.info()["backend"] == "onnx" and onnx_c.size == torch_c.size
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 256, (37, 91), dtype=np.uint8), rgb_to_gray_u8(synthetic_photo(4, (200, 120)))]
    for gray in inputs:
        a, b = torch_c.colorize_array(gray), onnx_c.colorize_array(gray)
        assert a.shape == b.shape == (*gray.shape, 3)
        assert np.abs(a.astype(int) - b).max() <= TOLERANCE


def test_onnx_batch_of_different_shapes(onnx_model):
    colorizer = Colorizer.load(onnx_model, backend="onnx")
    outs = colorizer._colorize_gray([np.zeros((32, 32), np.uint8), np.zeros((20, 80), np.uint8)], None)
    assert [o.shape for o in outs] == [(32, 32, 3), (20, 80, 3)]


def test_half_precision_safetensors_export_matches_fp32(tiny_model, tmp_path):
    path = export_model(tiny_model, tmp_path / "half.safetensors", "safetensors", half=True)
    gray = rgb_to_gray_u8(synthetic_photo(2))
    full = Colorizer.load(tiny_model, precision="fp32").colorize_array(gray)
    half = Colorizer.load(path, precision="fp32").colorize_array(gray)
    assert np.abs(full.astype(int) - half).max() <= TOLERANCE


def test_cli_export_and_onnx_colorize(tiny_model, tmp_path, photo_dir):
    out = tmp_path / "m.onnx"
    assert main(["export", "--model", str(tiny_model), "--format", "onnx", "--out", str(out)]) == 0
    assert (
        main(
            [
                "colorize",
                str(photo_dir),
                "--backend",
                "onnx",
                "--model",
                str(out),
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "o").rglob("*.*"))) == 24


def test_export_stores_the_chosen_inference_knobs(tmp_path):
    from colorgan.cli.main import main
    from colorgan.config import make_config
    from colorgan.io.checkpoint import load_checkpoint, save_checkpoint
    from colorgan.nets.build import build_generator

    cfg = make_config("unet-lab", size=32, ngf=8, ndf=8, chroma_head="bins")
    source = tmp_path / "bins.safetensors"
    save_checkpoint(source, {"G": build_generator(cfg)}, {}, cfg.to_dict(), {})
    out = tmp_path / "tuned.safetensors"
    assert (
        main(
            [
                "export",
                "--model",
                str(source),
                "--format",
                "safetensors",
                "--out",
                str(out),
                "--bin-temperature",
                "0.5",
                "--chroma-gain",
                "1.25",
            ]
        )
        == 0
    )
    config = load_checkpoint(out).config
    assert (config["bin_temperature"], config["chroma_gain"]) == (0.5, 1.25)
    assert Colorizer.load(out).backend.generator.temperature == 0.5
    assert (
        main(["export", "--model", str(source), "--format", "safetensors", "--out", str(out), "--chroma-gain", "0"])
        == 2
    )  # validated like any config


def test_export_format_follows_the_file_name_and_refuses_a_contradiction(tiny_model, tmp_path, capsys):
    from colorgan.io.checkpoint import load_checkpoint

    weights = tmp_path / "w.safetensors"
    assert main(["export", "--model", str(tiny_model), "--out", str(weights), "--half"]) == 0
    assert load_checkpoint(weights).config["size"] > 0  # a safetensors file, not an ONNX graph under that name
    graph = tmp_path / "g.onnx"
    assert main(["export", "--model", str(tiny_model), "--out", str(graph)]) == 0
    assert graph.read_bytes()[:2] != weights.read_bytes()[:2]
    refused = [
        (["--out", str(tmp_path / "x.safetensors"), "--format", "onnx"], "the name says safetensors"),
        (["--out", str(tmp_path / "x.bin")], "name the format with --format"),
        (["--out", str(tmp_path / "y.onnx"), "--half"], "--half applies to safetensors only"),
    ]
    for argv, reason in refused:
        capsys.readouterr()
        assert main(["export", "--model", str(tiny_model), *argv]) == 2
        assert reason in capsys.readouterr().err
        assert not Path(argv[1]).exists()


def test_an_onnx_model_with_external_data_loads_and_a_missing_data_file_is_one_clear_error(
    onnx_model, tmp_path, capsys
):
    """Large ONNX models keep their weights in a side file; a missing side file gave a raw traceback."""
    import onnx

    split = tmp_path / "split.onnx"
    onnx.save_model(
        onnx.load(str(onnx_model)), str(split), save_as_external_data=True, location="split.weights", size_threshold=0
    )
    gray = rgb_to_gray_u8(synthetic_photo(5, (40, 60)))
    expected = Colorizer.load(onnx_model, backend="onnx").colorize_array(gray)
    assert np.array_equal(Colorizer.load(split, backend="onnx").colorize_array(gray), expected)
    (tmp_path / "split.weights").unlink()
    photo = tmp_path / "p.png"
    Image.fromarray(gray).save(photo)
    assert main(["colorize", str(photo), "--backend", "onnx", "--model", str(split), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(split) in err[0] and "onnxruntime cannot load this model" in err[0]
    assert not (tmp_path / "p_color.png").exists()


@pytest.mark.slow
def test_a_missing_onnx_extra_is_one_line_saying_what_to_install(tmp_path):
    """Without onnx/onnxruntime, `--backend onnx` and ONNX export ended in a traceback."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['onnx'] = None; sys.modules['onnxruntime'] = None\n"
        "from colorgan.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for argv in (
        ["export", "--out", str(tmp_path / "m.onnx")],
        ["colorize", str(tmp_path / "p.png"), "--backend", "onnx", "--model", str(tmp_path / "m.onnx")],
    ):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "p.png")
        result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr[-1500:]
        assert "pip install 'colorgan[onnx]'" in lines[0]
        assert not (tmp_path / "m.onnx").exists()


def test_export_stores_the_working_size_photos_are_colorized_at(tiny_model, tmp_path):

    out = tmp_path / "w.safetensors"
    assert main(["export", "--model", str(tiny_model), "--out", str(out), "--working-size", "64"]) == 0
    colorizer = Colorizer.load(out)
    assert colorizer.size == 64 and colorizer.info()["train_size"] == 32
    assert colorizer.working_shape(100, 200) == (64, 128)
    assert Colorizer.load(tiny_model).working_shape(100, 200) == (32, 64)
    assert colorizer.colorize_array(np.zeros((100, 200), np.uint8)).shape == (100, 200, 3)
