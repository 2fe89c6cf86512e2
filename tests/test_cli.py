"""The commands a user types: colorgan train/evaluate/colorize/export, and the root scripts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from colorgan.cli.main import main
from colorgan.config import TrainConfig, field_docs
from colorgan.io.images import rgb_to_gray_u8

from .helpers import small_train_argv, synthetic_photo

ROOT = Path(__file__).resolve().parents[1]


def test_train_then_evaluate_a_run(photo_dir, tmp_path, capsys):
    run = tmp_path / "try"
    code = main(small_train_argv(photo_dir, run, epochs=1, batch_size=4, precision="fp32", pretrain_steps=1))
    assert code == 0 and (run / "checkpoints" / "latest.safetensors").exists()
    assert main(["evaluate", "--run", str(run)]) == 0
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["images"] == 2  # 10 % of 24
    assert {"model", "gray", "mean_chroma"} <= set(summary)
    assert "PSNR" in capsys.readouterr().out


def test_train_errors_are_clear(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing"), "--run-dir", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_colorize_a_file_writes_beside_it_and_never_overwrites_the_input(tiny_model, tmp_path):
    photo = tmp_path / "old.jpg"
    Image.fromarray(rgb_to_gray_u8(synthetic_photo(0))).save(photo)
    before = photo.read_bytes()
    assert main(["colorize", str(photo), "--model", str(tiny_model), "--quiet"]) == 0
    assert (tmp_path / "old_color.jpg").exists() and photo.read_bytes() == before


def test_colorize_returns_non_zero_when_nothing_could_be_colorized(tiny_model, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    assert main(["colorize", str(bad), "--model", str(tiny_model), "--out", str(tmp_path / "o")]) == 1
    assert "bad.png" in (tmp_path / "o" / "skipped.csv").read_text()


def test_root_train_script_says_where_to_get_data(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "train.py")], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0 and "landscape Images" in result.stderr and "--data" in result.stderr


def test_root_train_script_gives_its_help_without_the_data_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0 and "--batch-size" in result.stdout and "landscape Images" not in result.stderr


@pytest.mark.slow
def test_train_takes_several_data_folders_and_evaluate_reports_each(tmp_path, capsys):
    roots = []
    for name, offset in (("people", 0), ("scenes", 50)):
        root = tmp_path / name
        root.mkdir()
        for i in range(20):
            Image.fromarray(synthetic_photo(offset + i)).save(root / f"{i}.png")
        roots.append(str(root))
    run = tmp_path / "two"
    code = main(small_train_argv(roots, run, max_steps=2, batch_size=4, precision="fp32", val_fraction=0.25))
    assert code == 0
    split = json.loads((run / "split.json").read_text())
    assert {n.split("/")[0] for n in split["val"]} == {"people", "scenes"}
    assert not set(split["val"]) & set(split["train"]) and len(split["val"]) == 10
    assert main(["evaluate", "--run", str(run)]) == 0
    summary = json.loads((run / "metrics.json").read_text())
    assert set(summary["per_folder"]) == {"people", "scenes"}
    assert sum(p["images"] for p in summary["per_folder"].values()) == summary["images"] == 10
    out = capsys.readouterr().out
    assert "people (" in out and "model - gray (paired" in out
    # the same split scored with an exported weights file gives the same figures
    weights = tmp_path / "w.safetensors"
    assert main(["export", "--model", str(run), "--format", "safetensors", "--out", str(weights)]) == 0
    assert main(["evaluate", "--run", str(run), "--model", str(weights), "--out", str(tmp_path / "e2")]) == 0
    again = json.loads((tmp_path / "e2" / "metrics.json").read_text())
    assert again["model"]["ciede2000"] == summary["model"]["ciede2000"]


@pytest.mark.slow
def test_a_skipped_file_with_a_non_utf8_name_still_gets_its_summary_and_csv(tiny_model, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(synthetic_photo(3)).save(folder / "ok.png")
    bad_name = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: not UTF-8
    (folder / bad_name).write_bytes(b"broken")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "colorgan",
            "colorize",
            str(folder),
            "--model",
            str(tiny_model),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"colorized 1" in result.stdout and b"skipped 1" in result.stdout
    assert b"caf\xe9.jpg" in (tmp_path / "out" / "skipped.csv").read_bytes()  # the name as it is on disk


def _photos(folder: Path, names: list[str]) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(synthetic_photo(i)).save(folder / name)
    return {name: (folder / name).read_bytes() for name in names}


def test_no_flag_ever_writes_over_an_input_photo(tiny_model, tmp_path, capsys):
    originals = _photos(tmp_path / "photos", ["a.jpg", "b.png"])
    code = main(
        [
            "colorize",
            str(tmp_path / "photos"),
            "--out",
            str(tmp_path / "photos"),
            "--overwrite",
            "--model",
            str(tiny_model),
            "--quiet",
        ]
    )
    assert code == 2 and "output folder is the input folder" in capsys.readouterr().err
    assert {n: (tmp_path / "photos" / n).read_bytes() for n in originals} == originals
    # a file whose output name is another input: skipped by name, the other input untouched
    first = tmp_path / "photos" / "a.jpg"
    clash = tmp_path / "photos" / "a_color.jpg"
    clash.write_bytes(first.read_bytes())
    before = clash.read_bytes()
    main(["colorize", str(first), str(clash), "--overwrite", "--model", str(tiny_model), "--quiet"])
    assert clash.read_bytes() == before and "would replace an input photo" in capsys.readouterr().out


def test_outputs_never_collide_and_the_gif_rerun_finds_its_output(tiny_model, tmp_path, capsys):
    _photos(tmp_path / "one" / "photos", ["photo.gif", "photo.png"])
    _photos(tmp_path / "two" / "photos", ["x.png"])
    out = tmp_path / "out"
    assert (
        main(
            [
                "colorize",
                str(tmp_path / "one" / "photos"),
                str(tmp_path / "two" / "photos"),
                "--out",
                str(out),
                "--model",
                str(tiny_model),
                "--quiet",
            ]
        )
        == 0
    )
    assert "colorized 3" in capsys.readouterr().out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "photos/photo.gif.png",
        "photos/photo.png",
        "photos~2/x.png",
    ]
    single = tmp_path / "one" / "photos" / "photo.gif"
    assert main(["colorize", str(single), "--model", str(tiny_model), "--quiet"]) == 0
    written = tmp_path / "one" / "photos" / "photo_color.gif.png"
    written.write_bytes(b"edited by hand")
    assert main(["colorize", str(single), "--model", str(tiny_model), "--quiet"]) == 0  # rerun: kept
    assert written.read_bytes() == b"edited by hand" and "already there 1" in capsys.readouterr().out


def test_an_output_folder_inside_the_input_is_not_colorized_again(tiny_model, tmp_path, monkeypatch, capsys):
    photos = tmp_path / "photos"
    _photos(photos, ["a.png", "b.png"])
    for _ in range(2):
        assert (
            main(["colorize", str(photos), "--out", str(photos / "colored"), "--model", str(tiny_model), "--quiet"])
            == 0
        )
    assert not (photos / "colored" / "colored").exists()
    assert sorted(p.name for p in (photos / "colored").iterdir()) == ["a.png", "b.png"]
    monkeypatch.chdir(photos)
    assert main(["colorize", ".", "--model", str(tiny_model), "--quiet"]) == 0  # "." is a folder like any other
    assert sorted(p.name for p in (tmp_path / "photos_color").iterdir()) == ["a.png", "b.png", "colored"]
    capsys.readouterr()


def test_several_files_into_an_unwritable_out_is_a_summary_not_a_traceback(tiny_model, tmp_path, capsys):
    _photos(tmp_path / "p", ["a.png", "b.png"])
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where --out should be a folder")
    code = main(
        [
            "colorize",
            str(tmp_path / "p" / "a.png"),
            str(tmp_path / "p" / "b.png"),
            "--out",
            str(blocked),
            "--model",
            str(tiny_model),
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1 and "skipped 2" in captured.out and "cannot write" in captured.err


def test_version_and_bad_flags_are_one_line_not_a_traceback(tmp_path, capsys):
    import pytest

    from colorgan import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and __version__ in capsys.readouterr().out
    assert main(["train", "--size", "100", "--data", str(tmp_path)]) == 2
    assert "multiple of" in capsys.readouterr().err
    photos = tmp_path / "p"
    _photos(photos, ["a.png", "b.png"])
    if not __import__("torch").cuda.is_available():
        assert main(["train", "--device", "cuda", "--data", str(photos), "--run-dir", str(tmp_path / "r")]) == 2
        assert "no CUDA device" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- smoke tests
@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
def test_bench_train_and_infer_print_figures_and_write_json(tmp_path, capsys):
    small = ["--size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "2", "--steps", "2", "--warmup", "1"]
    for what in ("train", "infer"):
        out = tmp_path / f"{what}.json"
        assert main(["bench", what, *small, "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        speed = result["img_per_s"] if what == "train" else 1000 / result["ms_per_img"]
        assert speed > 0 and result["fraction_of_bf16_matmul"] > 0 and result["gflop_per_img"] > 0
        assert "fraction_of_bf16_matmul" in capsys.readouterr().out


def test_bench_refuses_settings_the_config_refuses_with_a_message_not_a_traceback(capsys):
    assert main(["bench", "train", "--size", "32", "--ngf", "8", "--chroma-head", "bins", "--steps", "1"]) == 2
    assert "--chroma-head bins predicts Lab chroma" in capsys.readouterr().err


def test_demo_writes_its_page_and_sheet_with_a_given_model(tiny_model, tmp_path):
    from colorgan.cli.demo import package_photos

    if not package_photos():
        pytest.skip("no package sample photos (scikit-image or scikit-learn) installed")
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--model", str(tiny_model)]) == 0
    page = (out / "index.html").read_text()
    assert page.count("<tr>") == len(package_photos()) + 1 and "data:image/jpeg;base64," in page
    assert Image.open(out / "sheet.png").size[0] > 0
    assert len(list(out.glob("*_color.png"))) == len(package_photos())


@pytest.mark.slow
def test_serve_command_starts_answers_and_stops(tiny_model, tmp_path):
    """`colorgan serve` as a user starts it: a real process on a free loopback port."""
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "colorgan",
            "serve",
            "--model",
            str(tiny_model),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--chroma-gain",
            "1.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    assert json.loads(answer.read())["status"] == "ok"
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read().decode()
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=5) as answer:
            assert json.loads(answer.read())["train_size"] == 32
    finally:
        server.terminate()
        assert server.wait(timeout=20) == 0 or server.returncode == -15


def test_every_flag_of_every_command_says_what_it_does():
    from colorgan.cli.main import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    silent = {
        name: [
            a.option_strings[0] if a.option_strings else a.dest for a in sub._actions if not a.help and a.dest != "help"
        ]
        for name, sub in commands.choices.items()
    }
    assert {name: flags for name, flags in silent.items() if flags} == {}
    assert {"train", "evaluate", "colorize", "export", "bench", "demo", "serve"} == set(commands.choices)


def test_evaluate_writes_its_summary_for_tensorboard(photo_dir, tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    run = tmp_path / "r"
    assert main(small_train_argv(photo_dir, run, max_steps=2, batch_size=4, precision="fp32")) == 0
    assert main(["evaluate", "--run", str(run), "--tensorboard"]) == 0
    events = event_accumulator.EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"eval/model/ciede2000", "eval/gray/psnr", "eval/model_minus_gray/ciede2000"} <= scalars
    summary = json.loads((run / "metrics.json").read_text())
    assert events.Scalars("eval/model/ciede2000")[0].value == pytest.approx(summary["model"]["ciede2000"]["mean"])


def test_colorize_chroma_gain_scales_the_colors_and_rejects_nonsense(tmp_path, capsys):
    import numpy as np
    import torch

    from colorgan.colorspace import rgb_to_lab
    from colorgan.config import make_config
    from colorgan.io.checkpoint import save_checkpoint
    from colorgan.nets.build import build_generator, init_weights

    from .helpers import TINY

    cfg = make_config("unet-lab", **TINY)
    torch.manual_seed(0)
    generator = build_generator(cfg)
    init_weights(generator)
    with torch.no_grad():  # a steady, moderate tint, so that the gain has colors to scale
        generator.head[0].bias.copy_(torch.tensor([0.04, 0.06]))
    tiny_model = tmp_path / "tinted.safetensors"
    save_checkpoint(tiny_model, {"G": generator}, {}, cfg.to_dict(), {"step": 0})
    photo = tmp_path / "p.png"
    Image.fromarray(synthetic_photo(3, (64, 64))).save(photo)

    def lab_of(gain: str) -> torch.Tensor:
        out = tmp_path / f"g{gain}"
        argv = ["colorize", str(photo), "--model", str(tiny_model), "--out", str(out), "--quiet"]
        assert main([*argv, "--chroma-gain", gain]) == 0
        rgb = np.asarray(Image.open(out / "p_color.png"), np.float32) / 255
        return rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0]

    one, two = lab_of("1"), lab_of("2")
    chroma_one, chroma_two = float(one[1:].norm(dim=0).mean()), float(two[1:].norm(dim=0).mean())
    assert chroma_one > 5 and chroma_two == pytest.approx(2 * chroma_one, rel=0.15)
    assert float((one[0] - two[0]).abs().mean()) < 1.5  # the photo's own lightness either way
    for bad, reason in [
        ("0", "must be in (0, 4]"),
        ("-1", "must be in (0, 4]"),
        ("9", "must be in (0, 4]"),
        ("nan", "nan"),
    ]:
        assert main(["colorize", str(photo), "--model", str(tiny_model), "--chroma-gain", bad, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "chroma" in err and reason in err
    assert not (tmp_path / "p_color.png").exists()


def test_serve_refuses_a_nonsense_chroma_gain_before_it_listens(tiny_model, capsys):
    assert main(["serve", "--model", str(tiny_model), "--chroma-gain", "0", "--port", "1"]) == 2
    assert "--chroma-gain must be in (0, 4]" in capsys.readouterr().err


def test_train_help_has_one_section_per_concern_and_every_flag_says_what_it_does(capsys):
    concerns = ["data", "model", "loss", "optimizer", "schedule", "inference (stored with the weights)", "runtime"]
    docs = field_docs()
    flags = [f.name for f in dataclasses.fields(TrainConfig) if f.name != "extra"]
    assert set(flags) <= set(docs) and all(docs[name][1] for name in flags)  # each has its one line
    assert {docs[name][0] for name in flags} == {*concerns, "bookkeeping"}
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    at = [text.index(f"{concern} (each overrides the preset):") for concern in [*concerns, "bookkeeping"]]
    assert at == sorted(at)
    assert "--beta1 BETA1 Adam's beta1 (default: default 0.9, pix2pix 0.5, unet" in text  # argparse wraps at dashes
    optimizer = text[at[3] : at[4]]
    assert "--lr LR" in optimizer and "--batch-size" not in optimizer
