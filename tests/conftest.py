"""Shared fixtures: small synthetic photos and tiny models, made fresh for each test session."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.checkpoint import save_checkpoint
from colorgan.config import make_config
from colorgan.models import build_generator, init_weights


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


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("COLORGAN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.set_num_threads(2)


@pytest.fixture
def photo_dir(tmp_path):
    """A folder of 24 color JPEGs and PNGs in two subfolders."""
    root = tmp_path / "photos"
    for i in range(24):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        suffix = ".jpg" if i % 3 else ".png"
        Image.fromarray(synthetic_photo(i)).save(sub / f"img{i:02d}{suffix}")
    return root


# The GAN recipe in miniature (the default preset trains without D; tests cover the adversarial path too).
TINY = dict(size=32, ngf=8, ndf=8, batch_size=4, epochs=1, pretrain_steps=0, precision="fp32", gan_weight=0.2,
            ema_decay=0.0, lr_decay=0.0, chroma_gain=1.0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """An untrained tiny Lab generator saved as a colorgan weights file (generator only)."""
    cfg = make_config("default", **TINY)
    torch.manual_seed(0)
    generator = build_generator(cfg)
    init_weights(generator)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_checkpoint(path, {"G": generator}, {}, cfg.to_dict(), {"step": 0})
    return path


class SlowColorizer:
    """The real colorizer with a delay in front: makes busy states, overload and timeouts reproducible."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay = inner, delay

    def colorize(self, image, size=None):
        time.sleep(self.delay)
        return self.inner.colorize(image, size)

    def info(self):
        return self.inner.info()
