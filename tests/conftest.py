"""Shared fixtures: small synthetic photos and tiny models, made fresh for each test session."""

from __future__ import annotations

import time

import pytest
import torch
from PIL import Image

from colorgan.config import make_config
from colorgan.io.checkpoint import save_checkpoint
from colorgan.nets.build import build_generator, init_weights

from .helpers import TINY, synthetic_photo


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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """An untrained tiny Lab generator saved as a colorgan weights file (generator only)."""
    cfg = make_config("unet-lab", **TINY)
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

    def info(self):  # a stand-in whose colorize() takes no hints, as a colorizer of one's own may be
        return {**self.inner.info(), "hints": False}
