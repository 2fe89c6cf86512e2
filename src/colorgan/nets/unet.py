"""The pix2pix generator: a U-Net with a regression or a bins head.

The generator follows the TF pix2pix recipe (conv -> BN -> LeakyReLU down, transposed conv -> BN -> dropout ->
ReLU up, skips joining mirrored levels). With ngf=64 and depth 8 it has the reference implementation's
54.41 M parameters at 1->3 channels.
"""

from __future__ import annotations

import torch
from torch import nn

from ..colorspace import ab_bin_centers, ab_from_bin_logits

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
        nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """U-Net with `depth` stride-2 levels; input sides must be multiples of 2**depth.

    Input and output are in [-1, 1]. The regression head (the recipe) ends in a transposed convolution and
    tanh. The `bins` head predicts a distribution over quantized ab colors instead (Zhang et al. 2016), from
    the half-resolution features with a 1x1 convolution; its output is the annealed mean at `temperature`,
    upsampled to the input's size. Both heads give the same (N, 2, H, W) output in Lab mode.
    """

    head_name = "head"  # the module that turns the last decoder level into the output (or ab classes)

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
