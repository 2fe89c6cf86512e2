"""LPIPS (Zhang et al. 2018, AlexNet variant) from weights files the user supplies; nothing is downloaded.

Weights: the torchvision AlexNet state dict (keys `features.N.weight/bias`) and the LPIPS v0.1 linear layers
(`lin0.model.1.weight` ... `lin4.model.1.weight`, as in the official `alex.pth`), in one file or two
(`--lpips-weights ALEX,LIN`). `.safetensors` or `.pth` (read with `torch.load(weights_only=True)`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# The LPIPS input scaling (inputs in [-1, 1]).
_SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
_SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
_TAPS = (1, 4, 7, 9, 11)  # indices of the ReLUs in AlexNet.features whose outputs LPIPS compares
_CHANNELS = (64, 192, 384, 256, 256)


def alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
    )


def _read(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)  # refuses pickled code
    return state.get("state_dict", state) if isinstance(state, dict) else state


class LPIPS(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = alexnet_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _CHANNELS)

    @classmethod
    def from_files(cls, spec: str | os.PathLike) -> LPIPS:
        """`spec`: one file, or "ALEX,LIN" two files; raises ValueError naming what is missing."""
        state: dict[str, torch.Tensor] = {}
        for part in str(spec).split(","):
            state.update(_read(Path(part)))
        model = cls()
        wanted = {f"features.{k}": v for k, v in model.features.state_dict().items()}
        wanted |= {f"lin{i}.model.1.weight": lin.weight for i, lin in enumerate(model.lins)}
        missing = [k for k in wanted if k not in state]
        if missing:
            raise ValueError(f"{spec}: LPIPS weights lack {len(missing)} tensors (e.g. {', '.join(missing[:3])})")
        bad = [k for k in wanted if state[k].shape != wanted[k].shape]
        if bad:
            raise ValueError(f"{spec}: LPIPS weights have wrong shapes for {', '.join(bad[:3])}")
        with torch.no_grad():
            for key, target in wanted.items():
                target.copy_(state[key].float())
        return model.eval()

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 1] -> (N,) distances."""
        x, y = ((t * 2 - 1 - _SHIFT) / _SCALE for t in (a, b))
        total = torch.zeros(a.shape[0])
        lin = iter(self.lins)
        for index, layer in enumerate(self.features):
            x, y = layer(x), layer(y)
            if index in _TAPS:
                fx, fy = F.normalize(x, dim=1, eps=1e-10), F.normalize(y, dim=1, eps=1e-10)
                total += next(lin)((fx - fy) ** 2).mean(dim=(1, 2, 3))
        return total

    def distance(self, pred: np.ndarray, truth: np.ndarray) -> float:
        """Two (H, W, 3) uint8 images -> LPIPS distance."""
        a, b = (torch.tensor(img).permute(2, 0, 1)[None].float() / 255.0 for img in (pred, truth))
        return float(self(a, b)[0])
