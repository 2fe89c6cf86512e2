"""The recipe's networks: sizes, shapes and init."""

from __future__ import annotations

import pytest
import torch

from colorgan.config import make_config
from colorgan.nets.build import build_discriminator, build_generator, count_parameters, init_weights
from colorgan.nets.patchgan import PatchDiscriminator
from colorgan.nets.unet import UNetGenerator


def test_parameter_counts_match_the_reference_implementation():
    # pix2pix unet_256 with 1 -> 3 channels and the 70x70 PatchGAN on the (gray, color) pair.
    assert round(count_parameters(UNetGenerator(1, 3, ngf=64, depth=8)) / 1e6, 2) == 54.41
    assert round(count_parameters(PatchDiscriminator(4, ndf=64, n_layers=3)) / 1e6, 2) == 2.77


@pytest.mark.parametrize("size", [32, 64, 128])
def test_depth_defaults_to_log2_size_and_shapes_round_trip(size):
    cfg = make_config("seed", size=size, ngf=4, ndf=4)
    generator, discriminator = build_generator(cfg), build_discriminator(cfg)
    assert generator.depth == {32: 5, 64: 6, 128: 7}[size]
    x = torch.rand(2, 1, size, size) * 2 - 1
    y = generator(x)
    assert y.shape == (2, 3, size, size) and y.abs().max() <= 1
    logits = discriminator(x, y)
    assert logits.shape == (2, 1, size // 8 - 2, size // 8 - 2)


def test_lab_generator_outputs_two_channels():
    cfg = make_config("unet-lab", size=32, ngf=4, ndf=4)
    assert build_generator(cfg)(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)


def test_patchgan_receptive_field_is_70():
    discriminator = PatchDiscriminator(1, ndf=4).eval()  # batch statistics would mix all positions
    x = torch.zeros(1, 1, 140, 140, requires_grad=True)
    out = discriminator.net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    assert rows.max() - rows.min() + 1 == 70


def test_sides_must_be_multiples_of_two_to_the_depth():
    with pytest.raises(ValueError, match="multiples of 32"):
        UNetGenerator(1, 3, ngf=4, depth=5)(torch.zeros(1, 1, 48, 40))
    with pytest.raises(ValueError, match="multiple of 2"):
        make_config("seed", size=100)


def test_init_is_normal_with_std_002():
    generator = UNetGenerator(1, 3, ngf=16, depth=5)
    init_weights(generator)
    weights = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(weights.mean().item()) < 2e-3 and abs(weights.std().item() - 0.02) < 2e-3


def test_config_is_checked_whole_at_start_up_not_hours_in():
    import pytest

    from colorgan.config import make_config

    for bad, message in (
        (dict(size=16, gan_weight=0.2), "too small for a discriminator"),
        (dict(size=32, d_layers=4, gan_weight=0.2), "d-layers 4"),
        (dict(ngf="wide"), "'ngf'"),
        (dict(size=0), "--size"),
        (dict(ngf=10**6), "--ngf"),
        (dict(lr=-1.0), "--lr"),
    ):
        with pytest.raises(ValueError, match=message):
            make_config("unet-lab", **bad)
    assert make_config("unet-lab", size=32, d_layers=4, gan_weight=0.0).size == 32  # no D: no D constraint


def test_a_crafted_model_config_is_one_clear_error(tmp_path):
    import pytest

    from colorgan.infer.colorize import Colorizer
    from colorgan.io.checkpoint import CheckpointError, save_checkpoint

    path = tmp_path / "crafted.safetensors"
    save_checkpoint(path, {}, {}, {"size": 0, "ngf": "x"}, {})
    with pytest.raises(CheckpointError, match="unusable model config"):
        Colorizer.load(path)


def test_a_file_from_before_the_per_scene_gain_went_loads_unless_it_used_it(tmp_path):
    from colorgan.config import TrainConfig
    from colorgan.infer.colorize import Colorizer
    from colorgan.io.checkpoint import CheckpointError, save_checkpoint

    cfg = make_config("unet-lab", size=32, ngf=8, ndf=8, color_space="lab")
    old = {**cfg.to_dict(), "scene_gains": [], "scene_kinds": []}  # what a file written then holds
    assert TrainConfig.from_dict(old) == cfg
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, {"G": build_generator(cfg)}, {}, old, {})
    gray = torch.zeros(40, 60, dtype=torch.uint8).numpy()
    assert Colorizer.load(path, device="cpu").colorize_array(gray).shape == (40, 60, 3)

    used = {**old, "scene_gains": [1.0, 0.82], "scene_kinds": ["broad", "landscapes"]}
    with pytest.raises(ValueError, match="per-scene gain was removed"):
        TrainConfig.from_dict(used)
    save_checkpoint(path, {"G": build_generator(cfg)}, {}, used, {})
    with pytest.raises(CheckpointError, match=r"old\.safetensors: unusable model config .*per-scene gain was removed"):
        Colorizer.load(path)


CHROMA_HEAD_DEFAULTS = {  # the deleted chroma head's fields as every file written before session 16 holds them
    "chroma_only": False,
    "chroma_teacher": None,
    "chroma_quantiles": [0.5],
    "chroma_branch": 0,
    "chroma_error": "magnitude",
    "chroma_max_gain": 3.0,
    "chroma_quantile": 0.5,
}


def _an_old_file_that_loads(tmp_path, removed_defaults: dict):
    """A model file written before some fields were removed, holding them at their defaults: it must load and
    colorize. -> (its config now, the config dict as written, the file)."""
    from colorgan.config import TrainConfig
    from colorgan.infer.colorize import Colorizer
    from colorgan.io.checkpoint import save_checkpoint

    cfg = make_config("unet-lab", size=32, ngf=8, ndf=8, color_space="lab")
    old = {**cfg.to_dict(), **removed_defaults}
    assert TrainConfig.from_dict(old) == cfg
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, {"G": build_generator(cfg)}, {}, old, {})
    gray = torch.zeros(40, 60, dtype=torch.uint8).numpy()
    assert Colorizer.load(path, device="cpu").colorize_array(gray).shape == (40, 60, 3)
    return cfg, old, path


def test_a_file_from_before_the_chroma_head_went_loads_unless_it_used_it(tmp_path):
    from colorgan.config import TrainConfig
    from colorgan.infer.colorize import Colorizer
    from colorgan.io.checkpoint import CheckpointError, save_checkpoint

    cfg, old, path = _an_old_file_that_loads(tmp_path, CHROMA_HEAD_DEFAULTS)

    used = {
        "chroma_only": True,
        "chroma_teacher": "W05.safetensors",
        "chroma_quantiles": [0.5, 0.7],
        "chroma_branch": 3,
        "chroma_error": "ab",
        "chroma_max_gain": 1.5,
        "chroma_quantile": 0.7,
        "chroma_head": "chroma",
    }
    for key, value in used.items():
        with pytest.raises(ValueError, match=rf"^{key} is set to .*the chroma head was removed") as err:
            TrainConfig.from_dict({**old, key: value})
        assert str(err.value).count("\n") == 0
    save_checkpoint(path, {"G": build_generator(cfg)}, {}, {**old, "chroma_head": "chroma"}, {})
    with pytest.raises(CheckpointError, match=r"old\.safetensors: unusable model config .*chroma head was removed"):
        Colorizer.load(path)


# the deleted discriminator knobs, as files written before hold them, and a value of each that was used
DISCRIMINATOR_DEFAULTS = {"d_downsample": 1, "d_lr_scale": 1.0, "real_label": 1.0, "shared_d_forward": True}
DISCRIMINATOR_USED = {"d_downsample": 2, "d_lr_scale": 0.5, "real_label": 0.9, "shared_d_forward": False}


def test_a_file_from_before_the_discriminator_knobs_went_loads_unless_it_used_one(tmp_path):
    from colorgan.config import TrainConfig
    from colorgan.infer.colorize import Colorizer
    from colorgan.io.checkpoint import CheckpointError, save_checkpoint

    cfg, old, path = _an_old_file_that_loads(tmp_path, DISCRIMINATOR_DEFAULTS)

    for key, value in DISCRIMINATOR_USED.items():
        with pytest.raises(ValueError, match=rf"^{key} is set to {value!r}, but .* was removed") as err:
            TrainConfig.from_dict({**old, key: value})
        assert str(err.value).count("\n") == 0
    save_checkpoint(path, {"G": build_generator(cfg)}, {}, {**old, "d_downsample": 2}, {})
    with pytest.raises(CheckpointError, match=r"old\.safetensors: unusable model config .*d_downsample is set to 2"):
        Colorizer.load(path)


def test_a_file_from_before_the_learned_hint_input_went_loads_unless_it_used_it(tmp_path):
    from colorgan.config import TrainConfig
    from colorgan.infer.colorize import Colorizer
    from colorgan.io.checkpoint import CheckpointError, save_checkpoint

    cfg = make_config("unet-lab", size=32, ngf=8, ndf=8, color_space="lab")
    old = {**cfg.to_dict(), "hints": False}  # as every file written before issue #33 holds it, the shipped one too
    assert TrainConfig.from_dict(old) == cfg
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, {"G": build_generator(cfg)}, {}, old, {})
    gray = torch.zeros(40, 60, dtype=torch.uint8).numpy()
    hinted = Colorizer.load(path, device="cpu").colorize_array(gray, hints=[{"x": 5, "y": 5, "color": "#c02020"}])
    assert hinted.shape == (40, 60, 3)

    with pytest.raises(ValueError, match=r"^hints is set to True, but the learned hint input was removed") as err:
        TrainConfig.from_dict({**old, "hints": True})
    assert str(err.value).count("\n") == 0
    save_checkpoint(path, {"G": build_generator(cfg)}, {}, {**old, "hints": True}, {})
    with pytest.raises(CheckpointError, match=r"old\.safetensors: unusable model config .*learned hint input"):
        Colorizer.load(path)


@pytest.mark.parametrize("p", [0.5, 0.25])
def test_byte_dropout_drops_a_share_p_scales_the_rest_and_replays_from_the_seed(p):
    from colorgan.nets.cpu_kernels import ByteDropout

    dropout = ByteDropout(p)
    x = torch.ones(64, 32, 16, 16).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    y = dropout(x)
    n = x.numel()
    dropped = float((y == 0).float().mean())
    assert abs(dropped - p) < 4 * (p * (1 - p) / n) ** 0.5
    assert torch.equal(y.unique(), torch.tensor([0.0, 1 / (1 - p)], dtype=torch.bfloat16))
    assert y.dtype == x.dtype and y.is_contiguous(memory_format=torch.channels_last)
    # neighbours in memory are independent draws
    kept = (y != 0).permute(0, 2, 3, 1).flatten().float()
    assert abs(float(torch.corrcoef(torch.stack([kept[:-1], kept[1:]]))[0, 1])) < 0.01
    torch.manual_seed(3)
    assert torch.equal(dropout(x), y)  # torch's generator: a resumed run replays its masks
    assert not torch.equal(dropout(x), y)
    dropout.eval()
    assert torch.equal(dropout(x), x)


@pytest.mark.parametrize("side", [1, 2, 4])
@pytest.mark.parametrize("bias", [False, True])
def test_matmul_transposed_convolution_computes_what_torchs_does(side, bias):
    from colorgan.nets.cpu_kernels import MatmulConvTranspose2d

    torch.manual_seed(side)
    ours = MatmulConvTranspose2d(24, 16, 4, stride=2, padding=1, bias=bias)
    theirs = torch.nn.ConvTranspose2d(24, 16, 4, stride=2, padding=1, bias=bias)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(3, 24, side, side).contiguous(memory_format=torch.channels_last)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, expected = ours(x_ours), theirs(x_theirs)
    assert out.shape == expected.shape == (3, 16, 2 * side, 2 * side)
    assert torch.allclose(out, expected, atol=1e-5)
    grad = torch.randn_like(expected)
    out.backward(grad)
    expected.backward(grad)
    assert torch.allclose(x_ours.grad, x_theirs.grad, atol=1e-5)
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        assert torch.allclose(mine.grad, reference.grad, atol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as training runs: bf16 products, fp32 sums
        out_bf16 = ours(x)
    assert out_bf16.dtype == torch.bfloat16
    assert torch.allclose(out_bf16.float(), expected, atol=0.02 * float(expected.abs().max()))
    ours.eval()  # evaluation, export and folding see torch's own layer
    assert torch.equal(ours(x), theirs(x))


def test_matmul_transposed_convolution_leaves_larger_inputs_to_torch():
    from colorgan.nets.cpu_kernels import MatmulConvTranspose2d

    ours = MatmulConvTranspose2d(8, 4, 4, stride=2, padding=1)
    x = torch.randn(2, 8, 8, 8)
    assert torch.equal(ours(x), torch.nn.functional.conv_transpose2d(x, ours.weight, ours.bias, 2, 1))


@pytest.mark.parametrize("p", [0.001, 0.3, 0.999, 1.0])
def test_byte_dropout_leaves_other_rates_to_torchs_own_dropout(p):
    from colorgan.nets.cpu_kernels import ByteDropout

    x = torch.ones(16, 8, 4, 4).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(5)
    ours = ByteDropout(p)(x)
    torch.manual_seed(5)
    assert torch.equal(ours, torch.nn.functional.dropout(x, p, True))


def test_matmul_transposed_convolution_takes_unbatched_input_as_torch_does():
    from colorgan.nets.cpu_kernels import MatmulConvTranspose2d

    ours = MatmulConvTranspose2d(8, 4, 4, stride=2, padding=1)
    x = torch.randn(8, 2, 2)
    assert torch.equal(ours(x), torch.nn.functional.conv_transpose2d(x[None], ours.weight, ours.bias, 2, 1)[0])
