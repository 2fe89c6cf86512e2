"""`optimize_for_cpu`: the plain networks' dropout and transposed convolutions turned, in place, into the CPU
kernels; the same parameters, state dict and results. (The kernels themselves: tests/test_models.py.)

Exactness: evaluation is bitwise (both run torch's own layers); in training the transposed convolution's matrix
product and fold differ from torch's in fp32 summation order (allclose), and dropout draws its mask differently
(so the plain model is given the converted one's masks to compare).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from colorgan.config import make_config
from colorgan.io.checkpoint import load_checkpoint, load_module_state, save_checkpoint
from colorgan.nets.build import build_generator, init_weights
from colorgan.nets.cpu_kernels import ByteDropout, MatmulConvTranspose2d, optimize_for_cpu

from .helpers import tiny_config

CPU_KERNELS = (ByteDropout, MatmulConvTranspose2d)


def unet(dropout: float = 0.5) -> nn.Module:
    """The recipe's U-Net in miniature: 32 px, depth 5, so its three innermost decoder levels take 1, 4 and 16
    pixels (the transposed convolution's matrix-product path) and dropout runs there."""
    torch.manual_seed(0)
    generator = build_generator(make_config("pix2pix", size=32, ngf=8, dropout=dropout))
    init_weights(generator)
    return generator


def photo_batch() -> torch.Tensor:
    return torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)).mul(2).sub(1)


def kinds(model: nn.Module) -> list[type]:
    return [type(m) for m in model.modules()]


def test_the_plain_unet_is_torchs_own_layers():
    generator = unet()
    assert not any(isinstance(m, CPU_KERNELS) for m in generator.modules())
    assert kinds(generator).count(nn.Dropout) == 3  # the recipe's three innermost decoder levels
    assert kinds(generator).count(nn.ConvTranspose2d) == 5  # four decoder levels and the head


def test_it_converts_in_place_where_exact_and_keeps_every_parameter_and_tensor():
    generator = unet()
    params = list(generator.parameters())
    state = {k: v.clone() for k, v in generator.state_dict().items()}
    assert optimize_for_cpu(generator) is generator
    assert kinds(generator).count(ByteDropout) == 3 and nn.Dropout not in kinds(generator)
    assert kinds(generator).count(MatmulConvTranspose2d) == 5 and nn.ConvTranspose2d not in kinds(generator)
    assert all(a is b for a, b in zip(generator.parameters(), params, strict=True))
    converted = generator.state_dict()
    assert list(converted) == list(state)
    assert all(torch.equal(converted[k], state[k]) for k in state)
    before = kinds(generator)
    assert optimize_for_cpu(generator) is generator  # idempotent
    assert kinds(generator) == before
    assert all(a is b for a, b in zip(generator.parameters(), params, strict=True))


def test_layers_the_kernels_would_not_compute_exactly_stay_torchs():
    class OwnDropout(nn.Dropout):
        pass

    exact = [nn.Dropout(0.5), nn.Dropout(0.25), nn.ConvTranspose2d(4, 4, 4, 2, 1), nn.ConvTranspose2d(4, 4, 3)]
    inexact = [
        nn.Dropout(0.3),  # not a multiple of 1/256
        nn.Dropout(0.0),
        nn.Dropout(1.0),
        nn.Dropout(0.5, inplace=True),  # ByteDropout returns a new tensor
        OwnDropout(0.5),  # someone else's subclass
        nn.ConvTranspose2d(4, 4, 4, 2, 1, groups=2),
        nn.ConvTranspose2d(4, 4, 4, 2, 1, dilation=2),
        nn.ConvTranspose2d(4, 4, 4, 2, 1, output_padding=1),
    ]
    model = optimize_for_cpu(nn.ModuleList(exact + inexact))
    assert [type(m) for m in model[: len(exact)]] == [ByteDropout, ByteDropout] + [MatmulConvTranspose2d] * 2
    assert [type(m) for m in model[len(exact) :]] == [type(m) for m in inexact]


@pytest.mark.parametrize("kernel, stride, padding", [(4, 2, 1), (3, 1, 0), (3, 2, 1), (2, 2, 0)])
def test_a_converted_transposed_convolution_computes_torchs_for_any_setting_it_converts(kernel, stride, padding):
    torch.manual_seed(kernel + stride)
    plain = nn.ConvTranspose2d(6, 5, kernel, stride, padding)
    converted = optimize_for_cpu(copy.deepcopy(plain))
    assert type(converted) is MatmulConvTranspose2d
    x = torch.randn(2, 6, 3, 3)
    x_plain, x_converted = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, expected = converted(x_converted), plain(x_plain)
    assert out.shape == expected.shape and torch.allclose(out, expected, atol=1e-5)  # fp32 sums in another order
    grad = torch.randn_like(expected)
    out.backward(grad)
    expected.backward(grad)
    assert torch.allclose(x_converted.grad, x_plain.grad, atol=1e-5)
    for mine, reference in zip(converted.parameters(), plain.parameters(), strict=True):
        assert torch.allclose(mine.grad, reference.grad, atol=1e-4)


def test_the_converted_unet_evaluates_bitwise_as_the_plain_one():
    plain = unet().eval()
    converted = optimize_for_cpu(copy.deepcopy(plain))
    x = photo_batch().contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.equal(converted(x), plain(x))  # evaluation runs torch's own layers


def test_the_converted_unet_trains_as_the_plain_one_without_dropout():
    plain = unet(dropout=0.0).train()
    converted = optimize_for_cpu(copy.deepcopy(plain))
    assert MatmulConvTranspose2d in kinds(converted)
    x = photo_batch()
    out, expected = converted(x), plain(x)
    assert torch.allclose(out, expected, atol=1e-5)  # the transposed convolutions sum in another order
    out.square().mean().backward()
    expected.square().mean().backward()
    for (name, mine), reference in zip(converted.named_parameters(), plain.parameters(), strict=True):
        assert torch.allclose(mine.grad, reference.grad, rtol=1e-3, atol=1e-6), name
    for mine, reference in zip(converted.buffers(), plain.buffers(), strict=True):  # batch-norm statistics
        assert torch.allclose(mine.float(), reference.float(), atol=1e-6)


def test_the_converted_unet_trains_as_the_plain_one_given_the_same_dropout_masks():
    plain = unet().train()
    converted = optimize_for_cpu(copy.deepcopy(plain))
    x = photo_batch()
    torch.manual_seed(7)
    replayed = converted(x)
    masks = []
    for m in converted.modules():
        if isinstance(m, ByteDropout):
            m.register_forward_hook(lambda _m, _x, y: masks.append(y != 0))
    torch.manual_seed(7)
    out = converted(x)
    assert torch.equal(out, replayed)  # a seeded run (and its resume) replays its masks
    assert len(masks) == 3 and all(0.4 < float(mask.float().mean()) < 0.6 for mask in masks)
    given = iter(masks)
    for m in plain.modules():
        if type(m) is nn.Dropout:
            m.register_forward_hook(lambda _m, x, _y: x[0] * next(given) / 0.5)
    expected = plain(x)
    assert torch.allclose(out, expected, atol=1e-5)
    out.square().mean().backward()
    expected.square().mean().backward()
    for (name, mine), reference in zip(converted.named_parameters(), plain.parameters(), strict=True):
        assert torch.allclose(mine.grad, reference.grad, rtol=1e-3, atol=1e-6), name


def test_optimizers_built_before_or_after_the_conversion_train_the_model():
    generator = unet()
    before = torch.optim.Adam(generator.parameters(), lr=1e-2)
    optimize_for_cpu(generator)
    after = torch.optim.Adam(generator.parameters(), lr=1e-2)
    for optimizer in (before, after):
        assert all(a is b for a, b in zip(optimizer.param_groups[0]["params"], generator.parameters(), strict=True))
        weight = generator.ups[0][0].weight.detach().clone()
        generator(photo_batch()).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        assert not torch.equal(generator.ups[0][0].weight, weight)


@pytest.mark.parametrize("convert_saved", [True, False])
def test_a_checkpoint_from_either_loads_into_the_other(tmp_path, convert_saved):
    saved, loaded = unet(), build_generator(make_config("pix2pix", size=32, ngf=8))
    optimize_for_cpu(saved if convert_saved else loaded)
    path = tmp_path / "g.safetensors"
    save_checkpoint(path, {"G": saved}, {}, {}, {})
    load_module_state(loaded, load_checkpoint(path).module_state("G"), str(path))
    mine, theirs = loaded.state_dict(), saved.state_dict()
    assert list(mine) == list(theirs) and all(torch.equal(mine[k], theirs[k]) for k in theirs)
    x = photo_batch()
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), saved.eval()(x))


def test_the_trainer_converts_a_generator_it_trains_on_a_cpu(photo_dir, tmp_path):
    from colorgan.train.trainer import Trainer

    trainer = Trainer(tiny_config(photo_dir, tmp_path / "run", device="cpu"), progress=False)
    try:
        model = trainer.model
        assert ByteDropout in kinds(model.G) and MatmulConvTranspose2d in kinds(model.G)
        assert nn.Dropout not in kinds(model.G) and nn.ConvTranspose2d not in kinds(model.G)
        assert not any(isinstance(m, CPU_KERNELS) for m in model.D.modules())
        params = model.opt_G.param_groups[0]["params"]
        assert all(a is b for a, b in zip(params, model.G.parameters(), strict=True))
    finally:
        trainer.close()
