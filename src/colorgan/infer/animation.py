"""Animated images in, animated images out: an animated GIF, PNG (APNG) or WebP keeps every frame, each frame's
duration and the loop count. A GIF's output is an animated PNG (`x.gif.png`: 8-bit color needs more than GIF's
256-color palette); PNG and WebP stay what they are.

Frames are colorized in small batches and their chroma kept steady along optical flow, as a video's are
(temporal.py), so a looping clip does not flicker. All frames are held at once (Pillow writes an animation from
a list), so an animation's frames together may hold at most the pixel limit of one photo; a longer one is
refused with the advice to convert it to a video, which streams.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..io.atomic import atomic_write_bytes
from ..io.images import DECODERS, ImageReadError, LoadedImage, gray_channel, load_image
from .compose import compose
from .temporal import Stabilizer

ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")
WRITERS = {".png": "PNG", ".webp": "WEBP"}
BATCH = 8  # frames per network call, as for video


@dataclass(frozen=True)
class Animation:
    frames: list[LoadedImage]  # composited, full canvas each
    durations: list[int]  # milliseconds each frame shows
    loop: int | None  # 0: forever; None: the file does not loop


def load_animation(path: Path, max_pixels: int) -> Animation | None:
    """The frames of an animated GIF, PNG or WebP at `path`, or None if it is a still image (or not one we
    can read: `load_image` then says why). Raises ImageReadError, naming the file, for an animation that is
    too large or breaks partway."""
    name = str(path)
    if path.suffix.lower() not in (".gif", ".png", ".webp") or not path.is_file():
        return None
    try:
        image = Image.open(path, formats=DECODERS)
    except (OSError, ValueError, SyntaxError):
        return None
    with image:
        if image.format not in ANIMATED_FORMATS or not getattr(image, "is_animated", False):
            return None
        width, height = image.size
        try:
            count = image.n_frames
        except (OSError, ValueError, EOFError, SyntaxError) as exc:
            raise ImageReadError(name, f"cannot decode the animation ({exc})") from None
        if count * width * height > max_pixels:
            raise ImageReadError(
                name,
                f"refused: {count} frames of {width}x{height} = {count * width * height:,} pixels in all exceed "
                f"the limit of {max_pixels:,} for an animation; convert it to a video, which streams "
                f"(ffmpeg -i {path.name} {path.stem}.mp4)",
            )
        frames, durations = [], []
        loop = image.info.get("loop")
        for index in range(count):
            try:
                image.seek(index)
                frame = image.convert("RGBA") if _has_alpha(image) else image.convert("RGB")
            except (OSError, ValueError, EOFError, SyntaxError) as exc:
                raise ImageReadError(name, f"cannot decode frame {index} of {count} ({exc})") from None
            frames.append(load_image(frame, max_pixels, name=name))
            durations.append(int(image.info.get("duration") or 100))
    return Animation(frames, durations, loop)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def colorize_animation(colorizer, animation: Animation, size: int | None = None) -> list[Image.Image]:
    """Each frame colorized, chroma steadied along the flow between frames; alpha kept."""
    grays = [gray_channel(frame) for frame in animation.frames]
    stabilizer, out = Stabilizer(), []

    def add(released):
        for (gray, frame), ab in released:
            rgb = compose(gray, ab)
            if frame.alpha is not None:
                out.append(Image.fromarray(np.dstack([rgb, frame.alpha]), "RGBA"))
            else:
                out.append(Image.fromarray(rgb, "RGB"))

    for start in range(0, len(grays), BATCH):
        batch = grays[start : start + BATCH]
        small, predicted = colorizer.predict_chroma(batch, size)
        for gray, small_gray, ab, frame in zip(batch, small, predicted, animation.frames[start:]):
            add(stabilizer.push(small_gray, ab, (gray, frame)))
    add(stabilizer.flush())
    return out


def save_animation(images: list[Image.Image], animation: Animation, path: Path) -> Path:
    """Write the frames as an animated PNG or WebP (by `path`'s suffix), atomically."""
    fmt = WRITERS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: an animation is written as .png or .webp")
    options = {"save_all": True, "append_images": images[1:], "duration": animation.durations}
    if animation.loop is not None:
        options["loop"] = animation.loop
    elif fmt == "PNG":
        options["loop"] = 1  # play once, as the source did (APNG's 0 would loop forever)
    if fmt == "WEBP":
        options.update(quality=95, method=4)
    buffer = io.BytesIO()
    images[0].save(buffer, format=fmt, **options)
    atomic_write_bytes(path, buffer.getvalue())
    return path
