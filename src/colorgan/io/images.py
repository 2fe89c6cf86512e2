"""Reading images from untrusted sources: one decoder shared by training data, colorize and the web service.

Every failure becomes an `ImageReadError` that names the source and the reason, so callers can skip the file
and go on. Decoding goes through Pillow with its own safety checks, restricted to the formats we accept (Pillow
would otherwise also try some 40 rarely used decoders, and hand EPS to Ghostscript); the pixel limit guards
against decompression bombs before any pixel is decoded. tests/test_fuzz_images.py fuzzes this module.
"""

from __future__ import annotations

import csv
import io
import os
import struct
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_write_bytes, read_regular_file

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"})
# The decoders Pillow may use: the formats of IMAGE_SUFFIXES (a camera's multi-picture JPEG opens as JPEG).
DECODERS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF", "PPM")
DEFAULT_MAX_PIXELS = 50_000_000  # about 8000 x 6000; larger claims are treated as decompression bombs
MAX_JPEG_SCANS = 100  # libjpeg's progressive script writes 10, mozjpeg's about 20
MAX_FILE_BYTES = 512 * 2**20  # an uncompressed 16-bit RGB TIFF at the pixel limit is 300 MB

Source = str | os.PathLike | bytes | Image.Image | np.ndarray


class ImageReadError(ValueError):
    """An image that cannot be used. `str()` is the one-line "name: reason" shown to users."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8; a gray source is repeated over the three channels
    alpha: np.ndarray | None  # (H, W) uint8 when the source had transparency
    is_gray: bool  # the source had no color channels


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_image(source: Source, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> LoadedImage:
    """Decode `source` (a path, raw bytes, a PIL image or an array) into 8-bit RGB (+ alpha).

    Honours EXIF orientation. Accepts 1-bit, gray, palette, RGB(A), LA, CMYK, YCbCr, 16-bit and float images.
    """
    label = name or _label(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, label)
    if not isinstance(source, Image.Image):
        try:
            raw = source if isinstance(source, bytes) else _read_bytes(Path(source))
        except OSError as exc:
            raise ImageReadError(label, f"cannot read file ({exc.strerror or exc})") from None
        if not raw:
            raise ImageReadError(label, "empty file (0 bytes)")
        _check_jpeg_scans(raw, label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # A caller's PIL image may still be lazy (not decoded yet): it takes the same guarded path.
            image = source if isinstance(source, Image.Image) else Image.open(io.BytesIO(raw), formats=DECODERS)
            _check_pixels(image, label, max_pixels)
            image.load()
            return _from_pil(image, label, max_pixels)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(label, "not an image (unrecognized format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(label, f"refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, EOFError) as exc:
        # Pillow reports truncated and corrupt files through all of these.
        raise ImageReadError(label, f"cannot decode ({_short(exc)})") from None
    except (MemoryError, RecursionError, ZeroDivisionError, struct.error) as exc:
        raise ImageReadError(label, f"cannot decode ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - a decoder may raise anything on hostile input; it is still a skip
        raise ImageReadError(label, f"cannot decode ({type(exc).__name__}: {_short(exc)})") from None


def _check_jpeg_scans(raw: bytes, label: str) -> None:
    """Refuse a JPEG with more progressive scans than any encoder writes: each scan costs a full decode pass,
    so a few hundred kilobytes of empty scan headers keep a decoder busy for minutes (a "scan bomb").

    In JPEG data a 0xFF byte is always escaped, so FF DA occurs only as a start-of-scan marker (an embedded
    EXIF thumbnail's scans are counted too, which the margin allows for).
    """
    if raw[:2] == b"\xff\xd8":
        scans = raw.count(b"\xff\xda")
        if scans > MAX_JPEG_SCANS:
            raise ImageReadError(
                label, f"refused: {scans} JPEG scans (at most {MAX_JPEG_SCANS}; a normal progressive JPEG has about 10)"
            )


def _read_bytes(path: Path) -> bytes:
    return read_regular_file(path, MAX_FILE_BYTES)


def _label(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__}>"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _check_pixels(image: Image.Image, label: str, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageReadError(label, f"invalid size {width}x{height}")
    if width * height > max_pixels:
        raise ImageReadError(
            label, f"refused: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,}"
        )


def _from_pil(image: Image.Image, label: str, max_pixels: int) -> LoadedImage:
    _check_pixels(image, label, max_pixels)
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    alpha = None
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3].copy()
        image = rgba.convert("RGB") if mode not in ("LA", "La") else image.convert("L")
        mode = image.mode
    if mode in ("1", "L"):
        return LoadedImage(_repeat(np.asarray(image.convert("L"))), alpha, True)
    if mode.startswith("I") or mode == "F":
        return LoadedImage(_repeat(_to_uint8(np.asarray(image))), alpha, True)
    rgb = np.asarray(image.convert("RGB"))
    return LoadedImage(np.ascontiguousarray(rgb), alpha, False)


def _from_array(array: np.ndarray, label: str) -> LoadedImage:
    if array.ndim == 2:
        return LoadedImage(_repeat(_to_uint8(array)), None, True)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        pixels = _to_uint8(array)
        alpha = pixels[..., 3].copy() if array.shape[2] == 4 else None
        return LoadedImage(np.ascontiguousarray(pixels[..., :3]), alpha, False)
    if array.ndim == 3 and array.shape[2] == 1:
        return LoadedImage(_repeat(_to_uint8(array[..., 0])), None, True)
    raise ImageReadError(label, f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {array.shape}")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale any numeric pixel array to uint8: floats are taken as [0, 1], wider integers by their bit depth."""
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        scaled = np.clip(np.nan_to_num(array.astype(np.float32), nan=0.0), 0.0, 1.0) * 255.0
        return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    peak = 65535 if array.max(initial=0) > 255 else 255
    return np.clip(array.astype(np.float64) * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)


def _repeat(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))


def gray_channel(image: LoadedImage) -> np.ndarray:
    """(H, W) uint8 gray of an image: itself if gray, else the sRGB gray of equal luminance."""
    if image.is_gray:
        return image.rgb[..., 0]
    return rgb_to_gray_u8(image.rgb)


def rgb_to_gray_u8(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB -> (...) uint8 gray with the same CIE luminance (and so the same Lab L).

    Large images go in bands of rows: float temporaries of a whole 49-megapixel photo would take gigabytes.
    """
    if rgb.ndim == 3 and rgb.shape[0] * rgb.shape[1] > _GRAY_BAND_PIXELS:
        rows = max(1, _GRAY_BAND_PIXELS // rgb.shape[1])
        out = np.empty(rgb.shape[:2], np.uint8)
        for top in range(0, rgb.shape[0], rows):
            out[top : top + rows] = rgb_to_gray_u8(rgb[top : top + rows])
        return out
    lin = _SRGB_TO_LINEAR[rgb]
    y = lin @ np.array([0.212671, 0.715160, 0.072169], dtype=np.float32)
    return _linear_to_srgb_u8(y)


_GRAY_BAND_PIXELS = 1 << 20


_SRGB_TO_LINEAR = np.where(
    (v := np.arange(256, dtype=np.float64) / 255) > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92
).astype(np.float32)


def _linear_to_srgb_u8(y: np.ndarray) -> np.ndarray:
    y = np.clip(y, 0.0, 1.0)
    encoded = np.where(y > 0.0031308, 1.055 * np.power(y, 1 / 2.4) - 0.055, y * 12.92)
    return np.clip(encoded * 255.0 + 0.5, 0, 255).astype(np.uint8)


class Skipped(NamedTuple):
    """A file left out, and why (training data, colorize runs and evaluations all report them the same way)."""

    path: str
    reason: str


def animated_frames(raw: bytes) -> int:
    """How many frames the GIF, PNG or WebP in `raw` animates (0 for a still image or anything else)."""
    try:
        with Image.open(io.BytesIO(raw), formats=("GIF", "PNG", "WEBP")) as image:
            return image.n_frames if getattr(image, "is_animated", False) else 0
    except Exception:  # noqa: BLE001 - a probe: a bomb, a bad header, anything; the photo decoder says what
        return 0


def write_skipped_csv(path: str | os.PathLike, skipped: Iterable[tuple[str, str]]) -> None:
    """path,reason rows, atomically; file names are written as the bytes they are, even if not UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "reason"])
    writer.writerows(skipped)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8", "surrogateescape"))


def find_image_files(folder: Path, accept: Callable[[Path], bool] = is_image_path) -> list[Path]:
    """Image-named (or `accept`ed) entries under `folder`, recursively, in a stable order; hidden names are left
    out. Directories named like images are included, so they are reported rather than silently ignored.

    Links to folders are followed (a dataset is often assembled from links), each real folder once: a link
    loop ends there."""
    found, seen = [], set()
    for top, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(top) / name for name in dirs + files if not name.startswith(".") and accept(Path(top) / name)]
    return sorted(found)


def resize_to(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize to (height, width): area filter down (no aliasing), cubic up."""
    h, w = shape
    shrinking = pixels.shape[0] > h or pixels.shape[1] > w
    return cv2.resize(pixels, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
