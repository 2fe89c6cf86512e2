"""Two of torch's layers, faster where training runs on a CPU; the same parameters, so checkpoints do not change.

The networks are built of plain torch layers; `optimize_for_cpu` turns a built one's layers into these, in place,
where each is exact (the trainer does so for a generator trained on a CPU). Each falls back to torch's own layer
in evaluation, on GPUs and under torch.compile, which have fast kernels of their own; exported and folded models
see plain torch layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _torch_own(module: nn.Module, x: torch.Tensor) -> bool:
    return not module.training or x.device.type != "cpu" or torch.compiler.is_compiling()


class ByteDropout(nn.Dropout):
    """nn.Dropout whose mask, on a CPU, is drawn a byte per element, eight from each 64-bit number of torch's
    generator (so a seeded run and its resume replay it): dropout's own draws one number per element, and took
    4.5 % of the shipped CPU step for 2.7 M elements. Only for `p` a multiple of 1/256 (the recipe's 0.5);
    any other `p` uses nn.Dropout's own draws."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep_below = (1 - self.p) * 256  # a byte below this keeps its element
        if not (0 < keep_below < 256 and keep_below == int(keep_below)) or _torch_own(self, x):
            return super().forward(x)  # p not a multiple of 1/256 (or 0 or 1): torch's own draws
        # the mask follows x's memory order (NHWC for channels-last): the product then walks both in step
        channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        shape = (x.shape[0], *x.shape[2:], x.shape[1]) if channels_last else x.shape
        words = torch.empty(-(-x.numel() // 8), dtype=torch.int64).random_(-(2**63), 2**63 - 1)
        keep = words.view(torch.uint8)[: x.numel()] < int(keep_below)
        scale = keep.view(shape).to(x.dtype).mul_(1 / (1 - self.p))
        return x * (scale.permute(0, 3, 1, 2) if channels_last else scale)


class MatmulConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d that, training on a CPU, computes inputs of at most MAX_PIXELS pixels (the U-Net's
    deepest levels) as one matrix product of the pixels by the weights, then `F.fold` (col2im), which sums the
    overlapping kernel footprints in fp32. oneDNN's transposed convolution runs at 182-483 GFLOP/s on 2x2 and 4x4
    inputs where it reaches 2,800 on 16x16 (AMX, bf16); this is +5 % on the shipped step (docs/benchmarks.md).
    The same result to bf16 rounding (tests/test_models.py)."""

    MAX_PIXELS = 16  # 8x8 inputs were slower this way

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if x.dim() != 4:  # unbatched input
            return super().forward(x, output_size)
        n, c_in, h, w = x.shape
        plain = self.groups == 1 and self.dilation == (1, 1) and self.output_padding == (0, 0) and output_size is None
        if h * w > self.MAX_PIXELS or not plain or _torch_own(self, x):
            return super().forward(x, output_size)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        pixels = x.permute(0, 2, 3, 1).reshape(n, h * w, c_in).to(dtype)  # a view for channels-last input
        footprints = pixels @ self.weight.to(dtype).reshape(c_in, -1)  # (n, h*w, c_out*kh*kw)
        size = ((h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw)
        out = F.fold(footprints.transpose(1, 2).float(), size, (kh, kw), padding=(ph, pw), stride=(sh, sw))
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out.to(dtype).contiguous(memory_format=torch.channels_last)


def byte_dropout_is_exact(module: nn.Dropout) -> bool:
    """Whether ByteDropout draws `module`'s mask with its own `p`: a multiple of 1/256 strictly between 0 and 1,
    which a byte compares to exactly (any other `p` would fall back to nn.Dropout's draws anyway). In-place
    dropout is left alone: ByteDropout returns a new tensor."""
    keep_below = (1 - module.p) * 256
    return 0 < keep_below < 256 and keep_below == int(keep_below) and not module.inplace


def matmul_conv_transpose_is_exact(module: nn.ConvTranspose2d) -> bool:
    """Whether MatmulConvTranspose2d computes `module`'s transposed convolution: one group, no dilation, no
    output padding, zero padding. Its matrix product and fold give torch's result to fp32 summation order (to
    bf16 rounding under bf16 autocast), and only for inputs of at most MAX_PIXELS pixels; larger ones are torch's."""
    plain = module.groups == 1 and module.dilation == (1, 1) and module.output_padding == (0, 0)
    return plain and module.padding_mode == "zeros"


def optimize_for_cpu(model: nn.Module) -> nn.Module:
    """Turn, in place, `model`'s nn.Dropout and nn.ConvTranspose2d layers into ByteDropout and MatmulConvTranspose2d
    where those are exact; -> `model`.

    Why: training on a CPU, torch's dropout draws a number per element and its transposed convolution is slow on
    tiny inputs; these compute the same layers faster, and the network itself stays plain torch.

    "Exact": the transposed convolution gives torch's result to fp32 summation order; dropout keeps the share
    1 - p and scales by 1 / (1 - p), but draws its mask from torch's generator differently from nn.Dropout (so the
    same seed gives another mask, and a seeded run and its resume replay the same masks).

    Only a layer's class changes (the CPU classes add no state): its Parameter objects, buffers, hooks and its
    place in the model stay, so the state dict's keys and tensors, checkpoints either way, and optimizers built
    before or after are unchanged. Layers already converted, other subclasses and inexact settings are left as
    they are, so applying it twice is applying it once.
    """
    for module in model.modules():
        if type(module) is nn.Dropout and byte_dropout_is_exact(module):
            module.__class__ = ByteDropout
        elif type(module) is nn.ConvTranspose2d and matmul_conv_transpose_is_exact(module):
            module.__class__ = MatmulConvTranspose2d
    return model
