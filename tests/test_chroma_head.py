"""The chroma head: ab regressed as before, plus its magnitude |ab|, and the ab rescaled to that magnitude."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from colorgan import colorspace
from colorgan.checkpoint import load_checkpoint
from colorgan.colorize import Colorizer, load_generator
from colorgan.config import make_config
from colorgan.export import export_model
from colorgan.models import build_generator
from colorgan.pix2pix import Pix2Pix
from colorgan.trainer import train

from .helpers import synthetic_photo, tiny_config


def test_rescaling_keeps_the_hue_and_takes_the_magnitude_within_the_cap():
    ab = torch.tensor([[[[3.0, 0.0, 0.6]], [[4.0, 0.0, -0.8]]]])  # three pixels: (3, 4), (0, 0), (0.6, -0.8)
    chroma = torch.tensor([[[[10.0, 7.0, 5.0]]]])
    out = colorspace.rescale_to_chroma(ab, chroma, max_gain=3.0)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([6.0, 8.0]))  # |ab| 5 -> 10: gain 2, same hue
    assert torch.equal(out[0, :, 0, 1], torch.zeros(2))  # no hue to scale: stays gray
    assert torch.allclose(out[0, :, 0, 2], torch.tensor([1.8, -2.4]))  # gain 5 asked, capped at 3
    shrunk = colorspace.rescale_to_chroma(ab, torch.full_like(chroma, -1.0), 3.0)
    assert torch.equal(shrunk, torch.zeros_like(ab))  # a negative magnitude means gray, not the opposite hue
    assert torch.allclose(colorspace.chroma_of(ab), torch.tensor([[[[5.0, 0.0, 1.0]]]]))


def test_chroma_generator_gives_ab_and_its_three_raw_channels_for_training():
    cfg = make_config("default", size=32, ngf=8, chroma_head="chroma", color_space="lab", chroma_max_gain=2.0)
    generator = build_generator(cfg).eval()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        raw, ab = generator(x, raw=True), generator(x)
    assert raw.shape == (2, 3, 32, 32) and ab.shape == (2, 2, 32, 32)
    assert torch.allclose(ab, colorspace.rescale_to_chroma(raw[:, :2], raw[:, 2:], 2.0))


def test_chroma_head_needs_lab_and_a_sane_cap():
    with pytest.raises(ValueError, match="color-space lab"):
        make_config("default", chroma_head="chroma", color_space="rgb")
    for bad in (0.5, 11.0):
        with pytest.raises(ValueError, match="chroma-max-gain"):
            make_config("default", chroma_head="chroma", color_space="lab", chroma_max_gain=bad)


def test_the_chroma_channel_learns_the_magnitude(photo_dir, tmp_path):
    """A few steps on one batch: the |ab| loss falls, while the regression's L1 is trained beside it."""
    cfg = tiny_config(photo_dir, tmp_path / "r", chroma_head="chroma", color_space="lab", gan_weight=0.0, lr=2e-3)
    model = Pix2Pix(cfg, torch.device("cpu"))
    gray = torch.rand(4, 1, 32, 32) * 2 - 1
    ab = torch.stack([torch.full((32, 32), 0.4), torch.full((32, 32), -0.2)]).expand(4, 2, 32, 32)
    losses = [model.step(gray, ab, i) for i in range(60)]
    assert losses[-1].G_bins < 0.3 * losses[0].G_bins and losses[-1].G_l1 < losses[0].G_l1
    assert all(loss.finite for loss in losses)


def test_chroma_training_with_d_resumes_exactly_and_exports_its_cap(photo_dir, tmp_path):
    values = dict(chroma_head="chroma", color_space="lab", pretrain_steps=2, epochs=2)
    straight = train(tiny_config(photo_dir, tmp_path / "a", **values), progress=False)
    rows = list(csv.DictReader(Path(straight / "log.csv").read_text().splitlines()))
    assert all(float(r["G_bins"]) > 0 for r in rows)  # the |ab| loss is logged
    assert float(rows[-1]["G_gan"]) > 0  # D joined and judged the rescaled ab
    assert (straight / "loss.png").stat().st_size > 0
    train(tiny_config(photo_dir, tmp_path / "b", max_steps=2, **values), progress=False)
    resumed = train(tiny_config(photo_dir, tmp_path / "b", **values), resume=True, progress=False)
    a, b = load_checkpoint(straight).tensors, load_checkpoint(resumed).tensors
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    gray = synthetic_photo(5, (70, 90))[..., 1]
    capped = export_model(straight, tmp_path / "cap1.safetensors", knobs={"chroma_max_gain": 1.0})
    assert load_generator(capped)[1].chroma_max_gain == 1.0
    out_run = Colorizer.load(straight).colorize_array(gray)
    out_capped = Colorizer.load(capped).colorize_array(gray)
    assert out_run.shape == out_capped.shape == (70, 90, 3)
    onnx = export_model(straight, tmp_path / "g.onnx")
    out_onnx = Colorizer.load(onnx, backend="onnx").colorize_array(gray)
    assert np.abs(out_onnx.astype(int) - out_run.astype(int)).max() <= 2  # the rescaling is in the graph


def test_a_regression_model_starts_a_chroma_run_with_its_ab_unchanged(photo_dir, tmp_path):
    l1_run = tiny_config(photo_dir, tmp_path / "l1", color_space="lab", gan_weight=0.0, max_steps=2)
    base = train(l1_run, progress=False)
    cfg = tiny_config(
        photo_dir, tmp_path / "c", color_space="lab", chroma_head="chroma", gan_weight=0.0, init_from=str(base)
    )
    model = Pix2Pix(cfg, torch.device("cpu"))
    model.start_from(str(base))
    source = load_generator(base)[0].eval()
    model.G.eval()
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        raw = model.G(x.contiguous(memory_format=torch.channels_last), raw=True)
        assert torch.allclose(raw[:, :2], source(x), atol=1e-5)
    assert torch.equal(raw[:, 2], torch.zeros_like(raw[:, 2]))  # the new channel starts at zero weight


def test_the_discriminator_teaches_vividness_but_never_hue(photo_dir, tmp_path):
    """With only the adversarial loss, the ab channels' weights get no gradient; the |ab| channel's do."""
    cfg = tiny_config(photo_dir, tmp_path / "d", chroma_head="chroma", color_space="lab", l1_weight=0.0)
    model = Pix2Pix(cfg, torch.device("cpu"))
    head = model.G.head[0]  # ConvTranspose2d: weight [in, out, kh, kw]
    before = head.weight.detach().clone(), head.bias.detach().clone()
    losses = model.step(torch.rand(4, 1, 32, 32) * 2 - 1, torch.rand(4, 2, 32, 32) * 0.6 - 0.3, 0)
    assert losses.finite and losses.G_gan > 0
    assert torch.equal(head.weight[:, :2], before[0][:, :2]) and torch.equal(head.bias[:2], before[1][:2])
    assert not torch.equal(head.weight[:, 2], before[0][:, 2])


def test_a_teacher_gives_the_chroma_target_and_must_see_the_same_inputs(photo_dir, tmp_path):
    teacher = train(
        tiny_config(photo_dir, tmp_path / "t", color_space="lab", gan_weight=0.0, max_steps=2), progress=False
    )
    values = dict(chroma_head="chroma", color_space="lab", gan_weight=0.0)
    model = Pix2Pix(tiny_config(photo_dir, tmp_path / "s", chroma_teacher=str(teacher), **values), torch.device("cpu"))
    x, y = torch.rand(2, 1, 32, 32) * 2 - 1, torch.zeros(2, 2, 32, 32)
    expected = colorspace.chroma_of(load_generator(teacher)[0].eval()(x))
    assert torch.allclose(model.chroma_target(x, y), expected, atol=1e-5)
    assert model.chroma_target(x, y).abs().sum() > 0  # the truth here is gray: the target is the teacher's
    assert model.step(x, y, 0).finite
    with pytest.raises(ValueError, match="hints"):
        Pix2Pix(
            tiny_config(photo_dir, tmp_path / "h", chroma_teacher=str(teacher), hints=True, **values),
            torch.device("cpu"),
        )
    with pytest.raises(ValueError, match="chroma-head chroma"):
        make_config("default", color_space="lab", chroma_teacher=str(teacher))


def test_chroma_only_trains_the_magnitude_and_leaves_the_hue_exactly(photo_dir, tmp_path):
    values = dict(chroma_head="chroma", color_space="lab", gan_weight=0.0, chroma_only=True, lr=1e-2)
    model = Pix2Pix(tiny_config(photo_dir, tmp_path / "o", **values), torch.device("cpu"))
    before = {k: v.clone() for k, v in model.G.state_dict().items()}
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    y = torch.stack([torch.full((32, 32), 0.4), torch.full((32, 32), -0.2)]).expand(4, 2, 32, 32)
    losses = [model.step(x, y, i) for i in range(30)]
    after = model.G.state_dict()
    assert [k for k in before if not torch.equal(before[k], after[k])] == ["head.0.weight", "head.0.bias"]
    assert torch.equal(after["head.0.weight"][:, :2], before["head.0.weight"][:, :2])
    assert torch.equal(after["head.0.bias"][:2], before["head.0.bias"][:2])
    assert losses[-1].G_bins < 0.5 * losses[0].G_bins  # the |ab| channel learned
    assert losses[-1].G_l1 == losses[0].G_l1  # and the ab did not move at all
    with pytest.raises(ValueError, match="chroma-head chroma"):
        make_config("default", color_space="lab", chroma_only=True)
