"""The networks a TrainConfig describes (the U-Net or the EfficientUNet generator, the PatchGAN), their init,
loading a trained generator's weights to start from (its trunk alone for another head), and batch norm folded
for inference."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..colorspace import output_channels
from .efficient_unet import EfficientUNet
from .patchgan import PatchDiscriminator
from .unet import UNetGenerator

if TYPE_CHECKING:
    from ..config import TrainConfig


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """The pix2pix init: conv weights ~ N(0, std), batch-norm scale ~ N(1, std), biases zero."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_generator(cfg: TrainConfig) -> nn.Module:
    """The generator a TrainConfig describes: gray in, RGB or ab out. An EfficientUNet's encoder starts random
    here: training loads its ImageNet weights (`Pix2Pix`), a trained model its own."""
    if cfg.generator == "efficientnet-lite0":
        return EfficientUNet(output_channels(cfg.color_space), cfg.chroma_head, cfg.bin_temperature)
    return UNetGenerator(
        1,
        output_channels(cfg.color_space),
        cfg.ngf,
        cfg.resolved_depth,
        cfg.dropout,
        cfg.chroma_head,
        cfg.bin_temperature,
    )


def build_discriminator(cfg: TrainConfig) -> PatchDiscriminator:
    """The PatchGAN a TrainConfig describes: it sees G's input beside the (real or generated) output."""
    channels = 1 + output_channels(cfg.color_space)
    return PatchDiscriminator(channels, cfg.ndf, cfg.d_layers)


@torch.no_grad()
def load_start_weights(generator: nn.Module, state: dict[str, torch.Tensor], new_head: bool = False) -> None:
    """Load a trained generator's weights into `generator`, to start a run from (--init-from).

    `new_head`: the weights come from a generator with another chroma head (regression -> bins): everything but
    the head is loaded, and the head keeps the generator's own initial weights.
    """
    if new_head:
        head = generator.head_name + "."
        state = {k: v for k, v in state.items() if not k.startswith(head)}
        state |= {k: v for k, v in generator.state_dict().items() if k.startswith(head)}
    generator.load_state_dict(state)


@torch.no_grad()
def fold_batch_norm(module: nn.Module) -> nn.Module:
    """For inference: fold each eval-mode BatchNorm into the convolution before it (exact, one pass fewer).

    The result no longer loads the training state dict; use it only to run.
    """
    for seq in module.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if not (isinstance(bn, nn.BatchNorm2d) and isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d))):
                continue
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
            axis = (-1, 1, 1, 1) if isinstance(conv, nn.Conv2d) else (1, -1, 1, 1)  # out channels' axis
            conv.weight.mul_(scale.view(axis))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
            conv.bias = nn.Parameter(bias * scale + shift)
            seq[i + 1] = nn.Identity()
    return module
