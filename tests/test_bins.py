"""The bins head: ab as classes (Zhang et al. 2016), its targets, its decoding and its training."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from colorgan import colorspace
from colorgan.config import make_config
from colorgan.infer.colorize import Colorizer
from colorgan.io.checkpoint import load_checkpoint
from colorgan.nets.build import build_generator
from colorgan.train.trainer import train

from .helpers import TINY, synthetic_photo, tiny_config


def real_ab(seed: int = 0) -> torch.Tensor:
    """ab / 110 of real sRGB colors, (1, 2, 32, 32): every color of the gamut is fair game."""
    rgb = torch.from_numpy(np.random.default_rng(seed).random((1, 3, 32, 32))).float()
    return colorspace.rgb_to_lab(rgb)[:, 1:] / colorspace.AB_SCALE


def test_classes_cover_the_srgb_gamut_on_a_10_unit_grid():
    centers = colorspace.ab_bin_centers()
    assert 300 < len(centers) < 400  # Zhang et al. count 313 in-gamut bins; we add a one-cell margin
    assert torch.all(torch.remainder(centers + 5, 10) == 0)
    # every grid neighbour of every real color is a class, so no target loses weight
    classes, weights = colorspace.soft_bin_targets(real_ab(1))
    assert torch.allclose(weights.sum(dim=1), torch.ones(1, 32, 32))


def test_soft_targets_keep_the_true_ab_as_their_mean():
    ab = real_ab(2)
    classes, weights = colorspace.soft_bin_targets(ab)
    centers = colorspace.ab_bin_centers() / colorspace.AB_SCALE
    expected = (centers[classes] * weights[..., None]).sum(dim=1).permute(0, 3, 1, 2)
    assert torch.allclose(expected, ab, atol=1e-5)
    assert torch.all(weights >= 0)


def test_cross_entropy_is_lowest_for_the_target_distribution():
    ab = real_ab(3)
    classes, weights = colorspace.soft_bin_targets(ab)
    q = len(colorspace.ab_bin_centers())
    target = torch.zeros(1, 32, 32, q).scatter_add_(-1, classes.permute(0, 2, 3, 1), weights.permute(0, 2, 3, 1))
    perfect = torch.log(target.clamp(min=1e-9)).permute(0, 3, 1, 2)
    uniform = torch.zeros_like(perfect)
    ce_perfect = colorspace.bin_cross_entropy(colorspace.bin_log_probs(perfect), ab)
    ce_uniform = colorspace.bin_cross_entropy(colorspace.bin_log_probs(uniform), ab)
    assert ce_uniform == pytest.approx(np.log(q), rel=1e-5)
    entropy = -(weights * torch.log(weights.clamp(min=1e-9))).sum(dim=1).mean()
    assert ce_perfect == pytest.approx(float(entropy), abs=1e-4)  # cross-entropy's minimum is the entropy
    assert entropy < np.log(4) and ce_perfect < ce_uniform
    blurred = torch.nn.functional.avg_pool2d(perfect, 3, stride=1, padding=1)  # neighbours' distributions
    assert colorspace.bin_cross_entropy(colorspace.bin_log_probs(blurred), ab) > ce_perfect


def test_temperature_moves_from_the_mean_to_the_mode():
    centers = colorspace.ab_bin_centers()
    red = int(torch.argmin(((centers - torch.tensor([55.0, 45.0])) ** 2).sum(1)))
    gray = int(torch.argmin((centers**2).sum(1)))
    logits = torch.full((1, len(centers), 1, 1), -30.0)
    logits[0, red], logits[0, gray] = 1.0, 0.5  # a likelier red, a less likely gray
    chroma = {t: float(colorspace.ab_from_bin_logits(logits, t).norm() * 110) for t in (1.0, 0.38, 0.05)}
    assert chroma[1.0] < chroma[0.38] < chroma[0.05]
    assert chroma[0.05] == pytest.approx(float(centers[red].norm()), abs=0.5)


def test_bins_generator_gives_ab_at_full_size_and_logits_for_training():
    cfg = make_config("unet-lab", **TINY, chroma_head="bins")
    generator = build_generator(cfg).eval()
    x = torch.zeros(2, 1, 64, 96)
    out = generator(x)
    assert out.shape == (2, 2, 64, 96) and out.abs().max() <= 1.0
    q = len(colorspace.ab_bin_centers())
    assert generator(x, logits_at=(1, 0, 0)).shape == (2, q, 32, 48)
    assert generator(x, logits_at=(2, 1, 0)).shape == (2, q, 16, 24)


def test_bins_head_needs_lab():
    with pytest.raises(ValueError, match="color-space lab"):
        make_config("unet-lab", chroma_head="bins", color_space="rgb")
    with pytest.raises(ValueError, match="bin-temperature"):
        make_config("unet-lab", chroma_head="bins", bin_temperature=0.0)


def tiny_bins(photo_dir, run_dir, **overrides):
    return tiny_config(photo_dir, run_dir, **{"pretrain_steps": 3, "chroma_head": "bins", "epochs": 2, **overrides})


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
def test_bins_training_logs_its_loss_resumes_exactly_and_colorizes(photo_dir, tmp_path):
    straight = train(tiny_bins(photo_dir, tmp_path / "a"), progress=False)
    rows = list(csv.DictReader(Path(straight / "log.csv").read_text().splitlines()))
    assert all(float(r["G_bins"]) > 0 for r in rows)
    assert rows[0]["G_gan"] == "nan" and float(rows[-1]["G_gan"]) > 0  # warm-up, then D joins
    train(tiny_bins(photo_dir, tmp_path / "b", max_steps=2), progress=False)
    resumed = train(tiny_bins(photo_dir, tmp_path / "b"), resume=True, progress=False)
    a, b = load_checkpoint(straight).tensors, load_checkpoint(resumed).tensors
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    colorizer = Colorizer.load(straight)
    photo = synthetic_photo(5, (70, 90))
    out = colorizer.colorize_array(photo[..., 1])
    assert out.shape == (70, 90, 3) and out.dtype == np.uint8


@pytest.mark.slow
@pytest.mark.parametrize("generator", ["unet", "efficientnet-lite0"])
def test_a_bins_run_starts_from_a_regression_model_with_its_trunk_and_a_fresh_head(photo_dir, tmp_path, generator):
    from colorgan.io.checkpoint import save_checkpoint
    from colorgan.train.pix2pix import Pix2Pix

    extra = {"generator": "efficientnet-lite0", "size": 32} if generator != "unet" else {}
    regression_cfg = tiny_config(photo_dir, tmp_path / "r", **extra)
    torch.manual_seed(1)
    regression = build_generator(regression_cfg)
    for p in regression.parameters():  # weights no fresh init would give
        torch.nn.init.uniform_(p, -0.1, 0.1)
    source = tmp_path / "regression.safetensors"
    save_checkpoint(source, {"G": regression}, {}, regression_cfg.to_dict(), {"step": 0})

    model = Pix2Pix(tiny_bins(photo_dir, tmp_path / "b", **extra), torch.device("cpu"))
    fresh_head = {k: v.clone() for k, v in model.G.state_dict().items() if k.startswith(model.G.head_name + ".")}
    model.start_from(str(source))
    loaded, given = model.G.state_dict(), regression.state_dict()
    trunk = [k for k in given if not k.startswith(regression.head_name + ".")]
    assert trunk and all(torch.equal(loaded[k], given[k]) for k in trunk)
    assert fresh_head and all(torch.equal(loaded[k], v) for k, v in fresh_head.items())
    assert loaded[f"{model.G.head_name}.{'0.' if generator == 'unet' else ''}weight"].shape[0] == len(
        colorspace.ab_bin_centers()
    )
    # what the head does not explain still has to match
    other = tiny_bins(
        photo_dir,
        tmp_path / "x",
        **({"generator": "unet"} if generator != "unet" else {"generator": "efficientnet-lite0", "size": 32}),
    )
    with pytest.raises(ValueError, match="generator"):
        Pix2Pix(other, torch.device("cpu")).start_from(str(source))


def test_rebalancing_weights_rare_colors_up_and_averages_one_under_the_prior():
    q = len(colorspace.ab_bin_centers())
    prior = torch.full((q,), 1e-5)
    common = int(torch.argmin((colorspace.ab_bin_centers() ** 2).sum(1)))  # near gray: most pixels
    prior[common] = 1.0
    prior /= prior.sum()
    weights = colorspace.rebalancing_weights(prior)
    assert weights.shape == (q,) and torch.all(weights > 0)
    assert weights[common] < 1.0 < weights.max()
    assert weights.max() / weights[common] > 1.5  # rare colors weigh more than the common one
    ab = real_ab(4)
    assert torch.allclose(colorspace.ab_class_prior(ab).sum(), torch.tensor(1.0))


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
def test_ema_run_ships_the_average_and_resumes_exactly(photo_dir, tmp_path):
    overrides = dict(ema_decay=0.5, bin_rebalance=True)
    straight = train(tiny_bins(photo_dir, tmp_path / "a", **overrides), progress=False)
    ckpt = load_checkpoint(straight)
    assert len(ckpt.config["extra"]["ab_prior"]) == len(colorspace.ab_bin_centers())
    ema = ckpt.module_state("G_ema")
    live = ckpt.module_state("G")
    assert ema.keys() == live.keys() and not torch.equal(ema["head.0.weight"], live["head.0.weight"])
    train(tiny_bins(photo_dir, tmp_path / "b", max_steps=3, **overrides), progress=False)
    resumed = train(tiny_bins(photo_dir, tmp_path / "b", **overrides), resume=True, progress=False)
    a, b = ckpt.tensors, load_checkpoint(resumed).tensors
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    shipped = Colorizer.load(straight).backend.generator
    assert shipped.head[0].weight.shape == ema["head.0.weight"].shape


def test_the_average_forgets_the_random_start():
    """With a fixed 0.999 the average still held 13 % of the initial weights after 2,000 steps."""
    from colorgan.train.pix2pix import Pix2Pix

    model = Pix2Pix(make_config("unet-lab", **{**TINY, "ema_decay": 0.999}), torch.device("cpu"))
    start = model.G_ema.head[0].weight.clone()
    for step in range(300):
        with torch.no_grad():
            model.G.head[0].weight.fill_(1.0)
        model.update_ema(step)
    weight = model.G_ema.head[0].weight
    share_of_start = float(((weight - 1.0) / (start - 1.0)).mean())
    assert share_of_start < 0.03  # 0.999 ** 300 = 0.74 without the warm-up


def test_the_annealed_mean_is_the_expectation_under_the_tempered_softmax_values_and_gradients():
    logits = torch.randn(2, len(colorspace.ab_bin_centers()), 5, 7, generator=torch.Generator().manual_seed(0)) * 4
    logits.requires_grad_()
    weights = torch.linspace(-1, 1, 70).view(1, 2, 5, 7)
    for temperature in (1.0, 0.38, 0.05):
        fast = colorspace.ab_from_bin_logits(logits, temperature)
        plain = colorspace.ab_from_bin_probs(torch.softmax(logits.permute(0, 2, 3, 1) / temperature, dim=-1))
        assert fast.shape == (2, 2, 5, 7) and torch.allclose(fast, plain, atol=1e-6)
        (fast_grad,) = torch.autograd.grad((fast * weights).sum(), logits)
        (plain_grad,) = torch.autograd.grad((plain * weights).sum(), logits)
        assert torch.allclose(fast_grad, plain_grad, atol=1e-5)


def test_the_shipped_models_colors_are_the_same_inferred_in_pieces_as_in_one_piece():
    generator = Colorizer.load(device="cpu", precision="fp32").backend.generator
    x = torch.rand(2, 1, 96, 128, generator=torch.Generator().manual_seed(1)) * 2 - 1  # 2 x 3,072 head pixels
    with torch.no_grad():
        pieces = generator(x)
    with torch.enable_grad():
        whole = generator(x)
    assert pieces.shape == whole.shape == (2, 2, 96, 128)
    assert torch.allclose(pieces, whole.detach(), atol=1e-5)
