"""The pix2pix networks: a U-Net generator and a 70x70 PatchGAN discriminator.

The generator follows the TF pix2pix recipe (conv -> BN -> LeakyReLU down, transposed conv -> BN -> dropout ->
ReLU up, skips joining mirrored levels). With ngf=64 and depth 8 it has the reference implementation's
54.41 M parameters at 1->3 channels.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .colorspace import ab_bin_centers, ab_from_bin_logits, output_channels, rescale_to_chroma
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
    upsampled to the input's size. The `chroma` head is the regression head with a third channel, the
    magnitude |ab|: the output is the regressed ab rescaled to it (`colorspace.rescale_to_chroma`, at most
    `max_gain` times). All heads give the same (N, 2, H, W) output.

    The chroma head can predict |ab| at several `quantiles` of its distribution, one channel each (trained
    with the pinball loss); `quantile` picks the one used. With `branch_levels` > 0 those channels come from
    a branch of their own: copies of the last decoder levels, reading the same skips, so the |ab| can learn
    features the ab regression does not have while the ab stays untouched.
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
        max_gain: float = 3.0,
        quantiles: tuple[float, ...] = (0.5,),
        quantile: float = 0.5,
        branch_levels: int = 0,
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
        self.head_kind, self.temperature, self.max_gain = head, temperature, max_gain
        self.quantiles, self.branch_levels = tuple(quantiles), branch_levels
        self.use_quantile(quantile)
        if head != "regression" and out_ch != 2:
            raise ValueError(f"the {head} head predicts Lab chroma: use --color-space lab")
        if not 0 <= branch_levels < depth:
            raise ValueError(f"the chroma branch can copy 0 to {depth - 1} decoder levels, got {branch_levels}")
        if head == "bins":
            self.head = nn.Sequential(nn.Conv2d(2 * chans[0], len(ab_bin_centers()), 1))
        elif head == "chroma":
            trunk_out = 2 if branch_levels else 2 + len(self.quantiles)
            self.head = nn.Sequential(nn.ConvTranspose2d(2 * chans[0], trunk_out, 4, stride=2, padding=1), nn.Tanh())
            if branch_levels:
                self.chroma_ups = nn.ModuleList(copy.deepcopy(up) for up in self.ups[-branch_levels:])
                self.chroma_out = nn.Sequential(
                    nn.ConvTranspose2d(2 * chans[0], len(self.quantiles), 4, stride=2, padding=1), nn.Tanh()
                )
        else:
            self.head = nn.Sequential(nn.ConvTranspose2d(2 * chans[0], out_ch, 4, stride=2, padding=1), nn.Tanh())

    def use_quantile(self, quantile: float) -> None:
        """Which trained quantile of |ab| the output takes (an inference setting)."""
        if quantile not in self.quantiles:
            raise ValueError(f"quantile {quantile} was not trained; this model has {list(self.quantiles)}")
        self.quantile = quantile
        self.quantile_channel = 2 + self.quantiles.index(quantile)

    @property
    def multiple(self) -> int:
        return 2**self.depth

    def forward(
        self, x: torch.Tensor, logits_at: tuple[int, int, int] | None = None, raw: bool = False
    ) -> torch.Tensor:
        """-> the output (N, C, H, W).

        For training the chroma head, `raw=True` returns its channels (ab, then |ab| at each quantile) before
        the rescaling.

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
        decoder_skips = skips[-2::-1]
        branch_at = len(self.ups) - self.branch_levels
        for i, (up, skip) in enumerate(zip(self.ups, decoder_skips)):
            if i == branch_at:
                branch = x
            x = torch.cat([up(x), skip], dim=1)
        if self.head_kind == "chroma":
            out = self.head(x)
            if self.branch_levels:
                for up, skip in zip(self.chroma_ups, decoder_skips[branch_at:]):
                    branch = torch.cat([up(branch), skip], dim=1)
                out = torch.cat([out, self.chroma_out(branch)], dim=1)
            if raw:
                return out
            c = self.quantile_channel
            return rescale_to_chroma(out[:, :2], out[:, c : c + 1], self.max_gain)
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
        cfg.chroma_max_gain,
        tuple(cfg.chroma_quantiles),
        cfg.chroma_quantile,
        cfg.chroma_branch,
    )


def build_discriminator(cfg: TrainConfig) -> PatchDiscriminator:
    """The PatchGAN a TrainConfig describes: it sees G's input beside the (real or generated) output."""
    channels = input_channels(cfg) + output_channels(cfg.color_space)
    return PatchDiscriminator(channels, cfg.ndf, cfg.d_layers, cfg.d_downsample)


@torch.no_grad()
def load_widening_inputs(generator: UNetGenerator, state: dict[str, torch.Tensor]) -> None:
    """Load G weights trained with fewer input planes or output channels (hints in, a chroma channel out):
    the new ones start with zero weights, so the widened network's ab is exactly what the original's was
    until training moves them. A chroma branch the weights lack starts as a copy of the decoder levels it
    duplicates, with its |ab| outputs taken from the source's |ab| channel where it has one, else zero."""
    targets = generator.state_dict()
    if isinstance(generator, EfficientUNet):  # only a hint path can be grown: its 1x1 convolutions at zero
        grown = {k: torch.zeros_like(v) for k, v in targets.items() if ".hints." in k and k not in state}
        generator.load_state_dict({**state, **grown})
        return
    widened = dict(state)
    if generator.branch_levels and not any(k.startswith("chroma_") for k in state):
        widened.update(_branch_from_trunk(generator, state, targets))
    # (name, axis): the first convolution's input planes; the head's outputs (ConvTranspose: [in, out, kh, kw])
    for name, axis in (("downs.0.0.weight", 1), ("head.0.weight", 1), ("head.0.bias", 0)):
        weight, target = state.get(name), targets.get(name)
        if weight is None or target is None or weight.dim() != target.dim():
            continue
        if weight.shape[axis] < target.shape[axis] and weight.shape[:axis] == target.shape[:axis]:
            grown = torch.zeros_like(target)
            grown.narrow(axis, 0, weight.shape[axis]).copy_(weight)
            widened[name] = grown
    generator.load_state_dict(widened)


def _branch_from_trunk(generator: UNetGenerator, state: dict, targets: dict) -> dict[str, torch.Tensor]:
    first = len(generator.ups) - generator.branch_levels
    branch = {}
    for name in targets:
        if name.startswith("chroma_ups."):
            _, j, rest = name.split(".", 2)
            branch[name] = state[f"ups.{first + int(j)}.{rest}"]
    head_w, head_b = state["head.0.weight"], state["head.0.bias"]
    out_w, out_b = targets["chroma_out.0.weight"], targets["chroma_out.0.bias"]
    if head_w.shape[1] > 2:  # a chroma head's |ab| channel, for every quantile
        branch["chroma_out.0.weight"] = head_w[:, 2:3].expand_as(out_w).clone()
        branch["chroma_out.0.bias"] = head_b[2:3].expand_as(out_b).clone()
    else:
        branch["chroma_out.0.weight"], branch["chroma_out.0.bias"] = torch.zeros_like(out_w), torch.zeros_like(out_b)
    branch["head.0.weight"], branch["head.0.bias"] = head_w[:, :2], head_b[:2]  # the trunk keeps the ab
    return branch


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
