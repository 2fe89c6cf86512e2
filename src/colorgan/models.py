"""The pix2pix networks: a U-Net generator and a 70x70 PatchGAN discriminator.

The generator follows the TF pix2pix recipe (conv -> BN -> LeakyReLU down, transposed conv -> BN -> dropout ->
ReLU up, skips joining mirrored levels). With ngf=64 and depth 8 it has the reference implementation's
54.41 M parameters at 1->3 channels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .colorspace import ab_bin_centers, ab_from_bin_logits, output_channels
from .efficient_unet import EfficientUNet
from .layers import ByteDropout, MatmulConvTranspose2d

if TYPE_CHECKING:
    from .config import TrainConfig

DROPOUT_LEVELS = 3  # the recipe drops out in the three innermost decoder blocks


def level_channels(ngf: int, depth: int) -> list[int]:
    """Feature channels at each encoder level: ngf, 2ngf, 4ngf, then 8ngf to the bottleneck."""
    return [ngf * min(2**i, 8) for i in range(depth)]


def down_block(in_ch: int, out_ch: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def up_block(in_ch: int, out_ch: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [
        MatmulConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if dropout > 0:
        layers.append(ByteDropout(dropout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """U-Net with `depth` stride-2 levels; input sides must be multiples of 2**depth.

    Input and output are in [-1, 1]. The regression head (the recipe) ends in a transposed convolution and
    tanh. The `bins` head predicts a distribution over quantized ab colors instead (Zhang et al. 2016), from
    the half-resolution features with a 1x1 convolution; its output is the annealed mean at `temperature`,
    upsampled to the input's size. Both heads give the same (N, 2, H, W) output in Lab mode.
    """

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 3,
        ngf: int = 64,
        depth: int = 8,
        dropout: float = 0.5,
        head: str = "regression",
        temperature: float = 1.0,
    ):
        super().__init__()
        if depth < 2:
            raise ValueError(f"U-Net depth must be at least 2, got {depth}")
        self.depth = depth
        chans = level_channels(ngf, depth)
        # No norm on the first level (recipe) nor on the 1x1 bottleneck, where batch statistics are degenerate.
        self.downs = nn.ModuleList(
            down_block(c_in, c_out, batch_norm=0 < i < depth - 1)
            for i, (c_in, c_out) in enumerate(zip([in_ch] + chans[:-1], chans))
        )
        ups = []
        for j, level in enumerate(range(depth - 1, 0, -1)):
            c_in = chans[level] if j == 0 else 2 * chans[level]
            ups.append(up_block(c_in, chans[level - 1], dropout if j < DROPOUT_LEVELS else 0.0))
        self.ups = nn.ModuleList(ups)
        self.head_kind, self.temperature = head, temperature
        if head != "regression" and out_ch != 2:
            raise ValueError(f"the {head} head predicts Lab chroma: use --color-space lab")
        if head == "bins":
            self.head = nn.Sequential(nn.Conv2d(2 * chans[0], len(ab_bin_centers()), 1))
        else:
            self.head = nn.Sequential(nn.ConvTranspose2d(2 * chans[0], out_ch, 4, stride=2, padding=1), nn.Tanh())

    @property
    def multiple(self) -> int:
        return 2**self.depth

    def forward(self, x: torch.Tensor, logits_at: tuple[int, int, int] | None = None) -> torch.Tensor:
        """-> the output (N, C, H, W).

        For training the bins head, `logits_at=(stride, dy, dx)` returns its class logits instead, at the
        half-resolution positions [dy::stride, dx::stride]: a loss on every other position costs a quarter
        of one on all of them, and cycling the offsets still trains every position.
        """
        if not torch.jit.is_tracing() and (x.shape[-1] % self.multiple or x.shape[-2] % self.multiple):
            raise ValueError(f"input sides {tuple(x.shape[-2:])} must be multiples of {self.multiple}")
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        for up, skip in zip(self.ups, skips[-2::-1]):
            x = torch.cat([up(x), skip], dim=1)
        if self.head_kind != "bins":
            return self.head(x)
        if logits_at is not None:
            stride, dy, dx = logits_at
            return self.head(x[:, :, dy::stride, dx::stride])
        return upsample2x(ab_from_bin_logits(self.head(x), self.temperature))


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class PatchDiscriminator(nn.Module):
    """PatchGAN: with n_layers=3 each output logit sees a 70x70 patch of the (input, output) pair."""

    def __init__(self, in_ch: int = 4, ndf: int = 64, n_layers: int = 3, downsample: int = 1):
        super().__init__()
        self.downsample = downsample  # > 1: judge the pair average-pooled (color of regions, not of texture)
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        ch = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(ch, out, 4, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch = out
        layers.append(nn.Conv2d(ch, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        pair = torch.cat([condition, image], dim=1)
        if self.downsample > 1:
            pair = F.avg_pool2d(pair, self.downsample)
        return self.net(pair)


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


def input_channels(cfg: TrainConfig) -> int:
    """Gray, plus hinted ab and its mask for a hint-taking generator."""
    return 4 if getattr(cfg, "hints", False) else 1


def build_generator(cfg: TrainConfig) -> nn.Module:
    """The generator a TrainConfig describes: gray (and hints) in, RGB or ab out. An EfficientUNet's encoder
    starts random here: training loads its ImageNet weights (`Pix2Pix`), a trained model its own."""
    if cfg.generator == "efficientnet-lite0":
        return EfficientUNet(
            input_channels(cfg), output_channels(cfg.color_space), cfg.chroma_head, cfg.bin_temperature
        )
    return UNetGenerator(
        input_channels(cfg),
        output_channels(cfg.color_space),
        cfg.ngf,
        cfg.resolved_depth,
        cfg.dropout,
        cfg.chroma_head,
        cfg.bin_temperature,
    )


def build_discriminator(cfg: TrainConfig) -> PatchDiscriminator:
    """The PatchGAN a TrainConfig describes: it sees G's input beside the (real or generated) output."""
    channels = input_channels(cfg) + output_channels(cfg.color_space)
    return PatchDiscriminator(channels, cfg.ndf, cfg.d_layers, cfg.d_downsample)


@torch.no_grad()
def load_widening_inputs(generator: UNetGenerator, state: dict[str, torch.Tensor]) -> None:
    """Load G weights trained with fewer input planes (hints in): the new ones start with zero weights, so the
    widened network's ab is exactly what the original's was until training moves them."""
    targets = generator.state_dict()
    if isinstance(generator, EfficientUNet):  # only a hint path can be grown: its 1x1 convolutions at zero
        grown = {k: torch.zeros_like(v) for k, v in targets.items() if ".hints." in k and k not in state}
        generator.load_state_dict({**state, **grown})
        return
    first = "downs.0.0.weight"
    weight = state[first]
    target = generator.downs[0][0].weight
    if weight.shape[1] < target.shape[1]:
        widened = torch.zeros_like(target)
        widened[:, : weight.shape[1]] = weight
        state = {**state, first: widened}
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
