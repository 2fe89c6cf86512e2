"""The pretrained encoder and the U-Net built on it: exact weights, TensorFlow padding, shapes, training."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata

from colorgan.colorspace import ab_bin_centers
from colorgan.config import make_config
from colorgan.infer.backends import TorchBackend
from colorgan.infer.colorize import Colorizer
from colorgan.nets.build import build_generator
from colorgan.nets.efficient_unet import EfficientUNet
from colorgan.nets.efficientnet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EfficientNetLite0,
    SamePadConv2d,
    load_pretrained,
    pretrained_weights_file,
)
from colorgan.train.pix2pix import Pix2Pix
from colorgan.train.trainer import train

from .helpers import tiny_values

# ImageNet class indices
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO, CUP = 967, 968


@pytest.fixture(scope="module")
def classifier() -> EfficientNetLite0:
    return load_pretrained(EfficientNetLite0()).eval()


def _imagenet_input(rgb: np.ndarray, side: int = 224) -> torch.Tensor:
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True)
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


@torch.no_grad()
def test_pretrained_encoder_names_the_cat_and_the_espresso(classifier):
    assert int(classifier(_imagenet_input(skdata.chelsea())).argmax()) in CATS
    assert int(classifier(_imagenet_input(skdata.coffee())).argmax()) in (ESPRESSO, CUP)


@torch.no_grad()
def test_it_still_knows_the_cat_in_gray(classifier):
    gray = np.repeat(skdata.chelsea().mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    assert int(classifier(_imagenet_input(gray)).argmax()) in CATS


def test_foreign_weights_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"other\.pth: no weight '_conv_stem\.weight'"):
        load_pretrained(EfficientNetLite0(), path)


def test_weights_are_read_without_unpickling_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"_conv_stem.weight": Payload()}, path)
    with pytest.raises(Exception, match="(?i)weights_only|unpickl|global"):
        load_pretrained(EfficientNetLite0(), path)


@pytest.mark.parametrize("side", [8, 9, 15, 32])
@pytest.mark.parametrize(("kernel", "stride"), [(3, 2), (5, 2), (3, 1), (5, 1)])
def test_same_padding_is_tensorflows(side, kernel, stride):
    conv = SamePadConv2d(2, 3, kernel, stride)
    x = torch.randn(1, 2, side, side)
    total = max((-(-side // stride) - 1) * stride + kernel - side, 0)
    # TensorFlow puts the odd pixel of padding after the image (bottom, right)
    expected = F.conv2d(F.pad(x, [total // 2, total - total // 2] * 2), conv.weight, None, stride)
    out = conv(x)
    assert out.shape[-1] == -(-side // stride)
    torch.testing.assert_close(out, expected)


@torch.no_grad()
def test_inference_with_batch_norm_folded_gives_what_the_network_gives():
    """The backend folds each batch norm into the convolution before it, as a bias: a convolution that
    dropped its bias made every EfficientNet model colorize worse than gray on its own training photos."""
    torch.manual_seed(0)
    g = EfficientUNet()
    load_pretrained(g.encoder)
    g.train()(torch.rand(4, 1, 64, 64) * 2 - 1)  # running statistics that are not the ImageNet ones
    g.eval()
    x = torch.rand(2, 1, 64, 96) * 2 - 1
    expected = g(x)
    backend = TorchBackend(copy.deepcopy(g), torch.device("cpu"), torch.float32)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in backend.generator.modules())
    torch.testing.assert_close(backend(x), expected, atol=2e-5, rtol=1e-4)


def test_generator_maps_gray_to_ab_at_the_input_size():
    g = EfficientUNet(out_ch=2).eval()
    with torch.no_grad():
        out = g(torch.rand(2, 1, 64, 96) * 2 - 1)
    assert out.shape == (2, 2, 64, 96)
    assert out.abs().max() <= 1
    with pytest.raises(ValueError, match="multiples of 32"):
        g(torch.zeros(1, 1, 64, 70))


def _tiny_efficient(photo_dir, run_dir, **overrides) -> dict:
    values = tiny_values(photo_dir, run_dir, generator="efficientnet-lite0", color_space="lab", gan_weight=0.0)
    return {**values, **overrides}


def test_training_starts_from_the_imagenet_encoder(photo_dir, tmp_path):
    cfg = make_config("unet-lab", **_tiny_efficient(photo_dir, tmp_path / "run"))
    model = Pix2Pix(cfg, torch.device("cpu"))
    imagenet = torch.load(pretrained_weights_file(), weights_only=True)
    torch.testing.assert_close(model.G.encoder.stem[0].weight, imagenet["_conv_stem.weight"])
    torch.testing.assert_close(model.G.encoder.head[1].running_var, imagenet["_bn1.running_var"])


def test_config_refuses_what_this_generator_cannot_predict():
    with pytest.raises(ValueError, match="efficientnet-lite0 predicts Lab ab"):
        make_config("unet-lab", generator="efficientnet-lite0", color_space="rgb").validate()


@torch.no_grad()
def test_the_bins_head_gives_ab_classes_and_their_annealed_mean():
    torch.manual_seed(0)
    g = EfficientUNet(out_ch=2, head="bins", temperature=0.38).eval()
    g.out.bias.copy_(ab_bin_centers()[:, 0] / 50)  # a distribution leaning to +a, whatever the random trunk gives
    x = torch.rand(2, 1, 64, 96) * 2 - 1
    logits = g(x, logits_at=(2, 1, 0))
    assert logits.shape == (2, len(ab_bin_centers()), 16, 24)  # every other half-resolution position
    torch.testing.assert_close(logits, g(x, logits_at=(1, 0, 0))[:, :, 1::2, 0::2])
    ab = g(x)
    assert ab.shape == (2, 2, 64, 96)
    assert ab.abs().max() <= 1
    mean = EfficientUNet(out_ch=2, head="bins", temperature=1.0).eval()
    mean.load_state_dict(g.state_dict())
    # annealing towards the mode moves the colors away from the dull mean
    assert g(x).abs().mean() > mean(x).abs().mean()


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
def test_a_bins_model_trains_and_colorizes(photo_dir, tmp_path):
    run = tmp_path / "run"
    values = _tiny_efficient(photo_dir, run, chroma_head="bins", bin_rebalance=True, max_steps=2)
    train(make_config("unet-lab", **values), progress=False)
    colorizer = Colorizer.load(run)
    assert colorizer.backend.generator.head_kind == "bins"
    rgb = colorizer.colorize_array((np.arange(48 * 64) % 251).reshape(48, 64).astype(np.uint8))
    assert rgb.shape == (48, 64, 3)


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
def test_a_trained_efficient_model_colorizes_any_size_with_hints(photo_dir, tmp_path):
    run = tmp_path / "run"
    train(make_config("unet-lab", **_tiny_efficient(photo_dir, run, max_steps=2)), progress=False)
    colorizer = Colorizer.load(run)
    assert colorizer.multiple == 32
    assert isinstance(build_generator(colorizer.config), EfficientUNet)
    gray = (np.add.outer(np.arange(50), np.arange(70)) * 2 % 256).astype(np.uint8)
    rgb = colorizer.colorize_array(gray)
    assert rgb.shape == (50, 70, 3)
    hinted = colorizer.colorize_array(gray, hints=[{"x": 10, "y": 10, "color": "#c02020"}])
    assert hinted.shape == (50, 70, 3)
