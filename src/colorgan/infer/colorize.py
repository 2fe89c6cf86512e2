"""Colorize photos of any size with a trained generator: files, folders, arrays and PIL images.

The network sees the photo's luminance resized to its working size; its predicted chroma (Lab ab) is
upsampled bilinearly to the photo's own size and joined with the photo's full-resolution lightness.
So the output keeps every detail of the input, costs about the same at any size, and has the same
colors at 512 px as at 4000 px.
"""

from __future__ import annotations

import json
import math
import os
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import colorspace
from ..config import TrainConfig
from ..devices import pick_device, pick_precision
from ..extras import MissingExtra, import_extra
from ..io.checkpoint import CheckpointError, load_checkpoint, load_module_state
from ..io.images import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    LoadedImage,
    Source,
    gray_channel,
    load_image,
    resize_to,
)
from ..nets.build import build_generator
from .animation import Animation, colorize_animation, load_animation, save_animation
from .backends import OnnxBackend, TorchBackend
from .compose import compose
from .folders import colorize_folder
from .hint_spread import apply_hints
from .hints import Hint, HintError, parse_hints
from .outputs import FolderReport, output_path_for, save_image
from .palette import PaletteColor, PaletteError, likeliest_colors

HintSource = str | bytes | list | None  # JSON text, parsed JSON, or a list of hints.Hint
DEFAULT_WEIGHTS = "default.safetensors"
WORKING_AREA_LIMIT = 16  # at most this many size x size images' worth of network input per photo


def default_weights_path() -> Path:
    return Path(str(resources.files("colorgan") / "weights" / DEFAULT_WEIGHTS))


def load_generator(path: str | os.PathLike | None, live: bool = False) -> tuple[torch.nn.Module, TrainConfig, Path]:
    """The trained generator (fp32, training layout) and its config from a run folder or weights file;
    None means the shipped default model. A run with a moving average of G's weights gives the average,
    unless `live` asks for the weights as trained."""
    if path is None:
        path = default_weights_path()
        if not path.exists():
            raise CheckpointError(f"{path}: the default model is not installed; pass --model RUN_DIR or FILE")
    ckpt = load_checkpoint(path)
    try:
        config = TrainConfig.from_dict(ckpt.config).validate()
    except (TypeError, ValueError) as exc:  # a crafted or damaged file: say which, in one line
        raise CheckpointError(f"{path}: unusable model config ({exc})") from None
    generator = build_generator(config)
    # A run that keeps a moving average of G's weights ships the average.
    state = {k: v.float() for k, v in ((not live and ckpt.module_state("G_ema")) or ckpt.module_state("G")).items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:  # it would colorize every photo pure white, and reruns would then skip them as done
        raise CheckpointError(f"{path}: damaged weights: {len(bad)} tensor(s) hold NaN or Inf (e.g. {bad[0]})")
    load_module_state(generator, state, str(path))
    return generator, config, Path(path)


class Colorizer:
    """A trained generator ready to colorize. Build it with `Colorizer.load(...)`."""

    def __init__(self, backend, config: TrainConfig, max_pixels: int = DEFAULT_MAX_PIXELS, source: str = ""):
        self.backend = backend
        self.config = config
        self.max_pixels = max_pixels
        self.source = source

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        path: str | os.PathLike | None = None,
        device: str = "auto",
        backend: str = "torch",
        precision: str = "auto",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        threads: int | None = None,
    ) -> Colorizer:
        """Load a run folder, a checkpoint or weights file, or (path None) the shipped default model.

        backend "onnx" takes a file written by `colorgan export --format onnx`.
        """
        if backend == "onnx":
            if path is None:
                raise ValueError("the onnx backend needs --model FILE.onnx (see `colorgan export`)")
            return cls._load_onnx(Path(path), max_pixels, threads)
        if backend != "torch":
            raise ValueError(f"unknown backend {backend!r}: choose torch or onnx")
        generator, config, path = load_generator(path)
        dev = pick_device(device)
        if threads:
            torch.set_num_threads(threads)
        return cls(TorchBackend(generator, dev, pick_precision(precision, dev)), config, max_pixels, str(path))

    @classmethod
    def _load_onnx(cls, path: Path, max_pixels: int, threads: int | None) -> Colorizer:
        onnx = import_extra("onnx", "onnx", "the onnx backend")

        try:
            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            config = TrainConfig.from_dict(json.loads(props["colorgan_config"]))
        except Exception as exc:  # onnx raises many types for a foreign or damaged file
            raise CheckpointError(f"{path}: not a colorgan ONNX export ({exc})") from None
        try:
            backend = OnnxBackend(path, threads)
        except MissingExtra:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types (external data, bad graph)
            raise CheckpointError(
                f"{path}: onnxruntime cannot load this model ({str(exc).splitlines()[0][:200]})"
            ) from None
        return cls(backend, config, max_pixels, str(path))

    # ------------------------------------------------------------------ facts
    @property
    def size(self) -> int:
        """The working size a photo's short side is resized to: the model's own choice, else its training size."""
        return self.config.working_size or self.config.size

    @property
    def multiple(self) -> int:
        return 2**self.config.resolved_depth

    def info(self) -> dict:
        return {
            "model": self.source,
            "backend": self.backend.name,
            "train_size": self.config.size,
            "working_size": self.size,
            "color_space": self.config.color_space,
            "ngf": self.config.ngf,
            "depth": self.config.resolved_depth,
            "max_pixels": self.max_pixels,
            "hints": True,  # any model: hints are spread over their regions (hint_spread)
        }

    def working_shape(self, height: int, width: int, size: int | None = None) -> tuple[int, int]:
        """The network's (h, w) for a photo: shorter side near `size`, both sides multiples of 2**depth."""
        size = size or self.size
        scale = size / min(height, width)
        m = self.multiple
        h, w = max(m, int(round(height * scale / m)) * m), max(m, int(round(width * scale / m)) * m)
        # A very elongated photo (an 84-byte 1x4000 PNG) would ask for a 128 x 512,000 input: the long side is
        # capped so that the network never sees more than 16 square working images' worth of pixels.
        longest = max(m, (WORKING_AREA_LIMIT * size * size // min(h, w)) // m * m)
        return (min(h, longest), w) if h > w else (h, min(w, longest))

    # ------------------------------------------------------------------ colorizing
    def colorize(self, image: Source, size: int | None = None, hints: HintSource = None) -> Image.Image:
        """Colorize a path, bytes, PIL image or array; returns an RGB (or RGBA, alpha kept) PIL image.
        `hints`: color hints in the photo's pixels, e.g. `[{"x": 120, "y": 340, "color": "#b03020"}]`."""
        loaded = image if isinstance(image, LoadedImage) else load_image(image, self.max_pixels)
        gray = gray_channel(loaded)
        parsed = self.parse_hints(hints, gray.shape[1], gray.shape[0])
        return self._to_pil(self._colorize_gray([gray], size, [parsed])[0], loaded)

    def colorize_array(self, gray: np.ndarray, size: int | None = None, hints: HintSource = None) -> np.ndarray:
        """(H, W) uint8 gray -> (H, W, 3) uint8 RGB."""
        parsed = self.parse_hints(hints, gray.shape[1], gray.shape[0])
        return self._colorize_gray([gray], size, [parsed])[0]

    def _colorize_loaded(self, images: list[LoadedImage], size: int | None) -> list[np.ndarray]:
        return self._colorize_gray([gray_channel(im) for im in images], size)

    def _colorize_gray(
        self, grays: list[np.ndarray], size: int | None, hints: list[list[Hint]] | None = None
    ) -> list[np.ndarray]:
        """Run same-shaped working inputs as one batch; each photo is then composed at its own size.
        `hints`: each photo's color hints, spread over their regions after the network (`hint_spread`)."""
        shapes = [self.working_shape(*g.shape[:2], size) for g in grays]
        ab_small: list[np.ndarray | None] = [None] * len(grays)
        for shape in dict.fromkeys(shapes):
            members = [i for i, s in enumerate(shapes) if s == shape]
            _, ab = self.predict_chroma([grays[i] for i in members], size)
            for j, i in enumerate(members):
                ab_small[i] = apply_hints(grays[i], ab[j], hints[i], shape) if hints is not None else ab[j]
        return [compose(g, ab) for g, ab in zip(grays, ab_small)]

    def _chroma(self, gray: torch.Tensor, out: torch.Tensor) -> np.ndarray:
        """Network output -> (N, h, w, 2) Lab ab, times the model's chroma gain; an RGB-mode model's chroma is
        taken the same way."""
        if not torch.isfinite(out).all():
            raise ImageReadError(self.source or "model", "the model produced NaN or Inf colors; nothing written")
        if self.config.color_space == "lab":
            ab = out.float() * colorspace.AB_SCALE
        else:
            ab = colorspace.rgb_to_lab(colorspace.decode_output(gray, out, "rgb"))[:, 1:]
        if self.config.chroma_gain != 1.0:
            ab = ab * self.config.chroma_gain
        return ab.permute(0, 2, 3, 1).contiguous().numpy()

    @staticmethod
    def _to_pil(rgb: np.ndarray, loaded: LoadedImage) -> Image.Image:
        if loaded.alpha is not None:
            return Image.fromarray(np.dstack([rgb, loaded.alpha]), "RGBA")
        return Image.fromarray(rgb, "RGB")

    def predict_chroma(self, grays: list[np.ndarray], size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Same-shaped (H, W) uint8 grays -> their working-size grays (N, h, w) uint8 and the predicted Lab ab
        (N, h, w, 2) float32, in one network call (video frames compose their own)."""
        shape = self.working_shape(*grays[0].shape[:2], size)
        small = np.stack([resize_to(g, shape) for g in grays])
        gray = torch.from_numpy(small).float().div_(255.0).unsqueeze(1)
        x = colorspace.encode_input(gray, self.config.color_space)
        return small, self._chroma(gray, self.backend(x))

    @property
    def has_palette(self) -> bool:
        """Whether the model predicts a distribution of colors (the bins head), so `palette` can answer."""
        return self.config.chroma_head == "bins" and isinstance(self.backend, TorchBackend)

    @torch.inference_mode()
    def palette(self, image: Source, x: float, y: float, count: int = 5, size: int | None = None) -> list[PaletteColor]:
        """The likeliest colors the model sees at photo pixel (x, y), likeliest first, each with its probability:
        the choices to offer as a hint there."""
        if not self.has_palette:
            why = "an ONNX graph outputs one color" if self.backend.name == "onnx" else "its head predicts one color"
            raise PaletteError(f"this model has no palette ({why} per pixel; a palette needs a bins-head model)")
        loaded = image if isinstance(image, LoadedImage) else load_image(image, self.max_pixels)
        gray = gray_channel(loaded)
        height, width = gray.shape[:2]
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x < width and 0 <= y < height):
            raise PaletteError(f"the point ({x:g}, {y:g}) is outside the {width}x{height} photo")
        if not 1 <= count <= 16:
            raise PaletteError(f"count must be 1 to 16, got {count}")
        small = resize_to(gray, self.working_shape(height, width, size))
        gray_in = torch.from_numpy(small).float().div_(255.0)[None, None]
        net_in = colorspace.encode_input(gray_in, self.config.color_space)
        generator, backend = self.backend.generator, self.backend
        logits = generator(net_in.to(backend.device, backend.dtype), logits_at=(1, 0, 0)).float().cpu()[0]
        gy = min(int(y * logits.shape[1] / height), logits.shape[1] - 1)
        gx = min(int(x * logits.shape[2] / width), logits.shape[2] - 1)
        probabilities = torch.softmax(logits[:, gy, gx], dim=0)
        lightness = float(colorspace.gray_to_lightness(torch.tensor(gray[int(y), int(x)] / 255.0)))
        return likeliest_colors(probabilities, lightness, count)

    def parse_hints(self, hints: HintSource, width: int, height: int) -> list[Hint]:
        """Hints as JSON text, a list of dicts or a list of `Hint`, validated against a width x height photo."""
        if not hints:
            return []
        return parse_hints(hints, width, height)

    # ------------------------------------------------------------------ files and folders
    def colorize_file(
        self, src: str | os.PathLike, dst: str | os.PathLike, size: int | None = None, hints: HintSource = None
    ) -> Path:
        animation = load_animation(Path(src), self.max_pixels)
        if animation is not None:
            if hints:
                raise HintError(f"{src}: color hints are for still photos, not animations")
            return self._save_animation(animation, Path(dst), size)
        result = self.colorize(src, size, hints)
        return save_image(result, output_path_for(Path(dst), result.mode == "RGBA"))

    def _save_animation(self, animation: Animation, dst: Path, size: int | None) -> Path:
        frames = colorize_animation(self, animation, size)
        return save_animation(frames, animation, output_path_for(dst, frames[0].mode == "RGBA"))

    def colorize_video(
        self,
        src: str | os.PathLike,
        dst: str | os.PathLike,
        temporal: bool = True,
        size: int | None = None,
        progress: bool = True,
        crf: int | None = None,
    ) -> Path:
        """Colorize a video file into an MP4 (H.264 at `crf`, default 18; audio copied; atomic); see
        `colorgan.infer.video`."""
        from .video import colorize_video

        return colorize_video(self, src, dst, temporal=temporal, size=size, progress=progress, crf=crf)

    def colorize_folder(
        self,
        src: str | os.PathLike,
        dst: str | os.PathLike,
        size: int | None = None,
        overwrite: bool = False,
        progress: bool = True,
        batch: int = 8,
        temporal: bool = True,
        crf: int | None = None,
    ) -> FolderReport:
        """Colorize every image under `src` into `dst`, keeping the folder structure.

        Existing outputs are kept unless `overwrite`, so a killed run continues where it stopped. Files that
        cannot be read are skipped and reported, never fatal. Skips are written to `dst/skipped.csv`.
        """
        return colorize_folder(self, Path(src), Path(dst), size, overwrite, progress, temporal, crf, batch)
