"""A U-Net whose encoder is EfficientNet-Lite0 pretrained on ImageNet (the DeOldify / DDColor lever: colors
follow from what a recognition network knows a thing is).

The gray input goes to the encoder as the RGB photo it was trained on (the lightness repeated over the three
channels, normalized as ImageNet's). The decoder climbs from the encoder's stride-32 features back to the
input's size: at each level it upsamples x2, joins the encoder's map of that stride, and applies two 3x3
convolutions with batch norm and ReLU. The output is Lab ab in [-1, 1]: by regression (tanh), or, with the
`bins` head, as the annealed mean of a distribution over quantized ab colors (Zhang et al. 2016), as the plain
U-Net's heads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..colorspace import ab_bin_centers, ab_from_bin_logits, annealed_mean
from .efficientnet import IMAGENET_MEAN, IMAGENET_STD, EfficientNetLite0

DECODER_CHANNELS = (192, 128, 64, 32)  # at strides 16, 8, 4 and 2
BOTTLENECK_CHANNELS = 256
PIXELS_PER_PIECE = 1024  # inferring on a CPU: a piece's logits, 1024 x 341 floats (1.4 MB), fit a core's cache


def conv_bn_relu(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]


class DecoderLevel(nn.Module):
    """x2 upsampling, the encoder's map of that stride joined, two 3x3 convolutions."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int):
        super().__init__()
        self.convs = nn.Sequential(*conv_bn_relu(in_ch + skip_ch, out_ch), *conv_bn_relu(out_ch, out_ch))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.convs(torch.cat([x, skip], dim=1))


class EfficientUNet(nn.Module):
    """Gray (N, 1, H, W) in [-1, 1] -> ab in [-1, 1]; input sides must be multiples of 32.

    The decoder ends at half the input's size: its ab is upsampled bilinearly (as the full-size photo's ab is
    upsampled from the working size in any case), which halves the cost of a step.
    """

    multiple = 32
    head_name = "out"  # the module that turns the last decoder level into ab (or ab classes)

    def __init__(self, out_ch: int = 2, head: str = "regression", temperature: float = 1.0):
        super().__init__()
        if head not in ("regression", "bins"):
            raise ValueError(f"the EfficientNet U-Net has the regression and bins heads, not {head!r}")
        self.head_kind, self.temperature = head, temperature
        self.encoder = EfficientNetLite0()
        del self.encoder.classifier  # the features are what the decoder reads
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        *skip_chs, deepest = EfficientNetLite0.FEATURE_CHANNELS
        self.bottleneck = nn.Sequential(*conv_bn_relu(deepest, BOTTLENECK_CHANNELS))
        levels, ch = [], BOTTLENECK_CHANNELS
        for skip_ch, out in zip(reversed(skip_chs), DECODER_CHANNELS):
            levels.append(DecoderLevel(ch, skip_ch, out))
            ch = out
        self.decoder = nn.ModuleList(levels)
        if head == "bins":
            self.out = nn.Conv2d(ch, len(ab_bin_centers()), 1)
        else:
            self.out = nn.Conv2d(ch, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, logits_at: tuple[int, int, int] | None = None) -> torch.Tensor:
        """-> ab (N, 2, H, W). For training the bins head, `logits_at=(stride, dy, dx)` returns its class logits
        at the half-resolution positions [dy::stride, dx::stride] instead (as `UNetGenerator`'s)."""
        if not torch.jit.is_tracing() and (x.shape[-1] % self.multiple or x.shape[-2] % self.multiple):
            raise ValueError(f"input sides {tuple(x.shape[-2:])} must be multiples of {self.multiple}")
        gray = (x[:, :1] + 1) / 2  # the lightness in [0, 1], as the encoder's RGB
        rgb = (gray.expand(-1, 3, -1, -1) - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        *skips, deepest = self.encoder.features(rgb)
        h = self.bottleneck(deepest)
        for level, skip in zip(self.decoder, reversed(skips)):
            h = level(h, skip)
        if self.head_kind == "bins":
            if logits_at is not None:
                stride, dy, dx = logits_at
                return self.out(h[:, :, dy::stride, dx::stride])
            return F.interpolate(self.annealed_mean(h), size=x.shape[-2:], mode="bilinear", align_corners=False)
        ab = F.interpolate(self.out(h), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.tanh(ab)

    def annealed_mean(self, features: torch.Tensor) -> torch.Tensor:
        """The bins head's logits and their annealed mean: (N, C, h, w) features -> ab / 110 (N, 2, h, w).

        Inferring on a CPU, the pixels go through in pieces, so that each piece's logits (one per class) stay in
        cache: materialized whole they cost a memory-bound CPU half a video frame's time. The same numbers either
        way (tests/test_bins.py); training, tracing and GPUs take the plain path."""
        plain = torch.is_grad_enabled() or features.device.type != "cpu" or torch.jit.is_tracing()
        if plain or torch.compiler.is_compiling():
            return ab_from_bin_logits(self.out(features), self.temperature)
        n, _, h, w = features.shape
        columns = features.float().flatten(2)  # (N, C, h*w)
        weight, bias = self.out.weight.float().flatten(1), self.out.bias.float()[:, None]
        ab = torch.empty(n, 2, h * w)
        for image in range(n):
            for start in range(0, h * w, PIXELS_PER_PIECE):
                piece = slice(start, start + PIXELS_PER_PIECE)
                logits = torch.addmm(bias, weight, columns[image, :, piece])  # (Q, pixels of the piece)
                ab[image, :, piece] = annealed_mean(logits, self.temperature)
        return ab.view(n, 2, h, w)
