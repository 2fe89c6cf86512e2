"""colorgan: colorize grayscale photos with a pix2pix-style conditional GAN."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Colorizer", "TrainConfig", "__version__"]


def __getattr__(name: str):
    # Lazy, so `import colorgan` stays light for the CLI and workers.
    if name == "Colorizer":
        from .infer.colorize import Colorizer

        return Colorizer
    if name == "TrainConfig":
        from .config import TrainConfig

        return TrainConfig
    raise AttributeError(name)
