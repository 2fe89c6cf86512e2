"""Plain helpers the tests share (fixtures live in conftest.py): synthetic photos, the tiny training config as
a config or as CLI flags, a tiny bins model with a known answer, and reading a run's log."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from colorgan import colorspace
from colorgan.config import make_config
from colorgan.io.checkpoint import save_checkpoint
from colorgan.nets.build import build_generator, init_weights

# The GAN recipe in miniature on the small U-Net preset (the shipped recipe's pretrained encoder is too slow for
# tests; tests/test_efficient_unet.py trains it tiny). The preset trains without D: tests cover the GAN path too.
TINY_PRESET = "unet-lab"
TINY = dict(
    size=32,
    ngf=8,
    ndf=8,
    batch_size=4,
    epochs=1,
    pretrain_steps=0,
    precision="fp32",
    gan_weight=0.2,
    ema_decay=0.0,
    lr_decay=0.0,
    chroma_gain=1.0,
)


def synthetic_photo(seed: int, size: tuple[int, int] = (48, 40)) -> np.ndarray:
    """A smooth, colorful (H, W, 3) uint8 image: gradients and a blob, different per seed."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = rng.uniform(0.2, 0.8, 3)
    img = np.stack([base[0] + 0.3 * xx, base[1] + 0.3 * yy, base[2] + 0.2 * np.sin(6 * xx + seed)], axis=2)
    cy, cx = rng.uniform(0.2, 0.8, 2)
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < 0.03] = rng.uniform(0, 1, 3)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def tiny_values(photo_dir: Path, run_dir: Path, **overrides) -> dict:
    """TINY with the data and run folders, and `overrides` on top."""
    return {**TINY, "data": str(photo_dir), "run_dir": str(run_dir), "save_every": 1000, **overrides}


def tiny_config(photo_dir: Path, run_dir: Path, **overrides):
    return make_config(TINY_PRESET, **tiny_values(photo_dir, run_dir, **overrides))


def as_flags(values: dict) -> list[str]:
    """The `colorgan train` flags that give these config values on TINY's preset (the same run from the command
    line)."""
    flags = ["--preset", TINY_PRESET]
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + name.replace("_", "-"))
        else:
            flags += [flag, str(value)]
    return flags


def small_train_argv(data, run_dir: Path, **values) -> list[str]:
    """`colorgan train` arguments at the tests' size (32 px, ngf and ndf 8) for `data` (one folder or a list),
    with `values` (config field names) on top."""
    folders = [str(d) for d in (data if isinstance(data, (list, tuple)) else [data])]
    return ["train", "--data", *folders, *as_flags({"size": 32, "ngf": 8, "ndf": 8, "run_dir": str(run_dir), **values})]


def logged_steps(run_dir: Path) -> list[int]:
    """The step numbers in a run's log.csv (none if there is no log yet)."""
    try:
        rows = list(csv.DictReader((run_dir / "log.csv").read_text().splitlines()))
    except OSError:
        return []
    return [int(r["step"]) for r in rows if (r.get("step") or "").isdigit()]


def ab_class(a: float, b: float) -> int:
    """The bins head's class nearest to (a, b)."""
    return int(torch.cdist(torch.tensor([[float(a), float(b)]]), colorspace.ab_bin_centers()).argmin())


def save_bins_model(path: Path, preferred: tuple[float, float] | None = None) -> Path:
    """A tiny untrained bins-head model file; with `preferred`, its head favours that ab class everywhere (a
    known answer: the palette's first color, whatever the photo)."""
    cfg = make_config("unet-lab", **TINY, chroma_head="bins")
    torch.manual_seed(0)
    generator = build_generator(cfg)
    init_weights(generator)
    if preferred is not None:
        head = generator.head[0]
        with torch.no_grad():
            head.weight.zero_()
            head.bias.fill_(-5.0)
            head.bias[ab_class(*preferred)] = 5.0
    save_checkpoint(path, {"G": generator}, {}, cfg.to_dict(), {"step": 0})
    return path
