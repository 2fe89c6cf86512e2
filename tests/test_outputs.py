"""The output planner: distinct inputs never share an output, for files, folders and videos alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from colorgan.cli.main import main
from colorgan.infer.outputs import plan_outputs

from .helpers import synthetic_photo


def _names(wanted):
    return [p.names() for p in plan_outputs(wanted)]


def test_a_mov_and_an_mp4_of_one_name_get_two_outputs():
    plans = plan_outputs([(Path("a.mov"), Path("a_color.mp4"), True), (Path("a.mp4"), Path("a_color.mp4"), True)])
    assert [p.target for p in plans] == [Path("a_color.mp4"), Path("a_color~2.mp4")]


def test_a_gif_and_its_png_name_get_two_outputs():
    # x.gif is written as x.gif.png, which is also the natural output of an input named x.gif.png
    plans = plan_outputs([(Path("x.gif"), Path("o/x.gif"), False), (Path("x.gif.png"), Path("o/x.gif.png"), False)])
    first, second = (set(p.names()) for p in plans)
    assert Path("o/x.gif.png") in first and not first & second


def test_the_same_inputs_plan_the_same_names_again():
    wanted = [(Path(f"{d}/a.png"), Path("o/a_color.png"), False) for d in ("d1", "d2", "d3")]
    assert _names(wanted) == _names(wanted)
    assert len({n for names in _names(wanted) for n in names}) == 3


def _gray_photo(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(synthetic_photo(seed)).convert("L").save(path)


def test_the_same_name_in_two_input_folders_is_colorized_twice(tiny_model, tmp_path, capsys):
    _gray_photo(tmp_path / "d1" / "a.png", 1)
    _gray_photo(tmp_path / "d2" / "a.png", 2)
    out = tmp_path / "o"
    argv = ["colorize", str(tmp_path / "d1" / "a.png"), str(tmp_path / "d2" / "a.png"), "--out", str(out)]
    assert main([*argv, "--model", str(tiny_model), "--quiet"]) == 0
    assert "colorized 2, already there 0" in capsys.readouterr().out
    first, second = (np.asarray(Image.open(out / n)) for n in ("a_color.png", "a_color~2.png"))
    assert first.shape == second.shape and not np.array_equal(first, second)
    # a rerun finds both
    assert main([*argv, "--model", str(tiny_model), "--quiet"]) == 0
    assert "colorized 0, already there 2" in capsys.readouterr().out


def test_a_folder_with_x_gif_and_x_gif_png_keeps_both(tiny_model, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(synthetic_photo(3)).convert("L").save(src / "x.gif")
    _gray_photo(src / "x.gif.png", 4)
    assert main(["colorize", str(src), "--out", str(tmp_path / "o"), "--model", str(tiny_model), "--quiet"]) == 0
    assert "colorized 2" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if p.suffix == ".png") == ["x.gif.png", "x.gif~2.png"]
