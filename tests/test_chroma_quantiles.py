"""The chroma head's |ab| quantiles (pinball loss) and its branch of its own (issue #12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from colorgan import colorspace
from colorgan.cli import build_parser
from colorgan.colorize import Colorizer, load_generator
from colorgan.config import make_config
from colorgan.export import export_model
from colorgan.models import build_generator, init_weights, load_widening_inputs
from colorgan.pix2pix import Pix2Pix, hue_held_quantile_loss, quantile_loss
from colorgan.trainer import train

from .helpers import synthetic_photo, tiny_config

QUANTILE_VALUES = dict(color_space="lab", chroma_head="chroma", chroma_quantiles=[0.5, 0.9], chroma_quantile=0.9)


def test_quantile_loss_is_l1_at_the_median_and_weighs_misses_by_side():
    pred, target = torch.zeros(1, 2, 1, 1), torch.ones(1, 1, 1, 1)
    assert torch.equal(quantile_loss(pred[:, :1], target, [0.5]), torch.tensor(1.0))
    # under the truth: the 0.9 channel pays 2 * 0.9, the 0.1 channel 2 * 0.1; over it, the other way round
    assert torch.allclose(quantile_loss(pred, target, [0.1, 0.9]), torch.tensor((0.2 + 1.8) / 2))
    assert torch.allclose(quantile_loss(pred, -target, [0.1, 0.9]), torch.tensor((1.8 + 0.2) / 2))
    with pytest.raises(ValueError, match="2 channels for 3 quantiles"):
        quantile_loss(pred, target, [0.1, 0.5, 0.9])


def test_the_constant_that_minimizes_the_quantile_loss_is_that_quantile():
    target = torch.from_numpy(np.random.default_rng(0).exponential(size=(1, 1, 50, 40))).float()  # skewed, as |ab| is
    grid = torch.linspace(0, 4, 801)
    for q in (0.5, 0.75, 0.9):
        losses = [quantile_loss(torch.full((1, 1, 50, 40), float(c)), target, [q]) for c in grid]
        best = float(grid[int(torch.stack(losses).argmin())])
        assert best == pytest.approx(float(np.quantile(target.numpy(), q)), abs=0.02)


def test_the_hue_held_loss_is_the_quantile_loss_along_the_hue_and_stays_gray_against_it():
    ab = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)  # the regression's hue: +a
    along, against = torch.tensor([2.0, 0.0]).view(1, 2, 1, 1), torch.tensor([-2.0, 0.0]).view(1, 2, 1, 1)
    sizes = [0.0, 1.0, 2.0, 3.0]

    def held(s, truth):
        return float(hue_held_quantile_loss(ab, torch.full((1, 1, 1, 1), s), truth, [0.8], max_gain=5.0))

    # truth on the hue's line: the same loss as the pinball on |ab|, up to a constant
    offsets = [
        float(quantile_loss(torch.full((1, 1, 1, 1), s), torch.full((1, 1, 1, 1), 2.0), [0.8])) - held(s, along)
        for s in sizes
    ]
    assert max(offsets) - min(offsets) < 1e-3  # (the square root's epsilon: 1e-4 at zero error)
    # truth of the opposite hue: its |ab| is 2, but any vividness only moves the output away from it
    assert min(sizes, key=lambda s: held(s, against)) == 0.0
    # the cap: beyond max_gain times |ab| the output (and so the loss) no longer changes
    assert held(6.0, along) == pytest.approx(held(5.0, along))


def test_a_branch_generator_gives_ab_and_one_raw_channel_per_quantile():
    cfg = make_config("default", size=32, ngf=8, chroma_branch=2, chroma_max_gain=2.0, **QUANTILE_VALUES)
    generator = build_generator(cfg).eval()
    assert len(generator.chroma_ups) == 2 and generator.head[0].out_channels == 2
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        raw, ab = generator(x, raw=True), generator(x)
        generator.use_quantile(0.5)
        median = generator(x)
    assert raw.shape == (2, 4, 32, 32) and ab.shape == median.shape == (2, 2, 32, 32)
    assert torch.allclose(ab, colorspace.rescale_to_chroma(raw[:, :2], raw[:, 3:4], 2.0))
    assert torch.allclose(median, colorspace.rescale_to_chroma(raw[:, :2], raw[:, 2:3], 2.0))
    with pytest.raises(ValueError, match="not trained"):
        generator.use_quantile(0.7)


def test_quantile_and_branch_settings_are_checked():
    base = dict(color_space="lab", chroma_head="chroma")
    for bad in ([0.9, 0.5], [0.5, 0.5], [0.0, 0.5], [0.5, 1.0], []):
        with pytest.raises(ValueError, match="increasing values"):
            make_config("default", chroma_quantiles=bad, **base)
    with pytest.raises(ValueError, match="not among"):
        make_config("default", chroma_quantiles=[0.5, 0.9], chroma_quantile=0.7, **base)
    with pytest.raises(ValueError, match="chroma-head chroma"):
        make_config("default", color_space="lab", chroma_quantiles=[0.5, 0.9])
    with pytest.raises(ValueError, match="chroma-head chroma"):
        make_config("default", color_space="lab", chroma_branch=1)
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        make_config("default", size=32, chroma_branch=5, **base)
    with pytest.raises(ValueError, match="teacher"):
        make_config("default", chroma_quantiles=[0.5, 0.9], chroma_teacher="w.safetensors", **base)
    with pytest.raises(ValueError, match="no teacher"):
        make_config("default", chroma_error="ab", chroma_teacher="w.safetensors", **base)
    with pytest.raises(ValueError, match="chroma_quantiles"):
        make_config("default", chroma_quantiles=["a"], **base)
    args = build_parser().parse_args(["train", "--chroma-quantiles", "0.5", "0.8", "--chroma-branch", "2"])
    assert args.chroma_quantiles == [0.5, 0.8] and args.chroma_branch == 2


def test_a_branch_grown_from_a_chroma_model_starts_as_its_exact_copy():
    """The branch copies the decoder levels and the |ab| channel it duplicates: at the start every quantile
    channel is the source's |ab| and the ab is the source's, to the bit."""
    common = dict(size=32, ngf=8, color_space="lab", chroma_head="chroma")
    source = build_generator(make_config("default", **common))
    init_weights(source)
    grown = build_generator(make_config("default", chroma_branch=3, chroma_quantiles=[0.5, 0.8, 0.9], **common))
    load_widening_inputs(grown, source.state_dict())
    source.eval(), grown.eval()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        want, got = source(x, raw=True), grown(x, raw=True)
    assert torch.equal(got[:, :2], want[:, :2])
    for channel in (2, 3, 4):
        assert torch.equal(got[:, channel], want[:, 2])


def test_chroma_only_with_a_branch_trains_the_branch_alone(photo_dir, tmp_path):
    base = train(
        tiny_config(photo_dir, tmp_path / "l1", color_space="lab", gan_weight=0.0, max_steps=2), progress=False
    )
    values = dict(QUANTILE_VALUES, chroma_branch=2, chroma_only=True, gan_weight=0.0, lr=1e-2)
    model = Pix2Pix(tiny_config(photo_dir, tmp_path / "q", init_from=str(base), **values), torch.device("cpu"))
    model.start_from(str(base))
    before = {k: v.clone() for k, v in model.G.state_dict().items()}
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    y = torch.stack([torch.full((32, 32), 0.4), torch.full((32, 32), -0.2)]).expand(4, 2, 32, 32)
    losses = [model.step(x, y, i) for i in range(30)]
    after = model.G.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"chroma_ups", "chroma_out"}
    assert losses[-1].G_bins < 0.5 * losses[0].G_bins and losses[-1].G_l1 == losses[0].G_l1
    with torch.no_grad():
        raw = model.G(x, raw=True)
    # |ab| of the target is 0.447 everywhere: both quantiles head there, the 0.9 one from above
    assert torch.all(raw[:, 3] >= raw[:, 2] - 0.05)


def test_the_exported_quantile_is_the_one_colorize_uses(photo_dir, tmp_path):
    run = train(
        tiny_config(photo_dir, tmp_path / "r", gan_weight=0.0, chroma_branch=1, chroma_error="ab", **QUANTILE_VALUES),
        progress=False,
    )
    median = export_model(run, tmp_path / "median.safetensors", knobs={"chroma_quantile": 0.5})
    assert load_generator(median)[1].chroma_quantile == 0.5
    assert load_generator(run)[1].chroma_quantile == 0.9
    gray = synthetic_photo(3, (40, 56))[..., 1]
    high, low = Colorizer.load(run).colorize_array(gray), Colorizer.load(median).colorize_array(gray)
    assert high.shape == low.shape == (40, 56, 3)
    generator = load_generator(run)[0].eval()
    x = torch.from_numpy(np.zeros((1, 1, 32, 32), np.float32))
    with torch.no_grad():
        raw = generator(x, raw=True)
        generator.use_quantile(0.5)
        assert torch.allclose(generator(x), colorspace.rescale_to_chroma(raw[:, :2], raw[:, 2:3], 3.0))
    with pytest.raises(ValueError, match="not among"):
        export_model(run, tmp_path / "x.safetensors", knobs={"chroma_quantile": 0.7})
    onnx = export_model(run, tmp_path / "median.onnx", knobs={"chroma_quantile": 0.5})
    from_onnx = Colorizer.load(onnx, backend="onnx").colorize_array(gray)
    assert np.abs(from_onnx.astype(int) - low.astype(int)).max() <= 2  # the branch and the choice are in the graph
