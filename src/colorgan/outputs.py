"""Where colorized outputs go: their names and formats, what counts as already done, never over an input,
and atomic writes."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .atomic import atomic_write_bytes

WRITABLE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}


@dataclass
class FolderReport:
    done: list[Path] = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def summary(self) -> str:
        text = f"colorized {len(self.done)}, already there {len(self.existing)}, skipped {len(self.skipped)}"
        for path, reason in self.skipped[:10]:
            text += f"\n  skipped {path}: {reason}"
        if len(self.skipped) > 10:
            text += f"\n  ... and {len(self.skipped) - 10} more"
        return text


def output_path_for(target: Path, has_alpha: bool) -> Path:
    """Keep the input's format where we can write it; alpha needs a format that stores it.

    Otherwise ".png" is appended, not swapped in: `photo.gif` and `photo.png` in one folder must not share an
    output (`photo.gif.png` and `photo.png`).
    """
    suffix = target.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES or (has_alpha and suffix in {".jpg", ".jpeg", ".bmp"}):
        return target.with_name(target.name + ".png")
    return target


def existing_output(target: Path) -> Path | None:
    """The output already written for `target`, under either name `output_path_for` may give it."""
    for candidate in dict.fromkeys((output_path_for(target, False), output_path_for(target, True))):
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None


def writes_over_input(target: Path, inputs: set[Path]) -> bool:
    """Whether either name the output of `target` may get is one of the (resolved) input files."""
    return any(p.resolve() in inputs for p in (output_path_for(target, False), output_path_for(target, True)))


def save_image(image: Image.Image, path: Path) -> Path:
    """Encode in memory, then write atomically: no half-written outputs after a kill or a full disk."""
    fmt = {
        ".jpg": "JPEG",
        ".jpeg": "JPEG",
        ".png": "PNG",
        ".webp": "WEBP",
        ".tif": "TIFF",
        ".tiff": "TIFF",
        ".bmp": "BMP",
    }[path.suffix.lower()]
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    atomic_write_bytes(path, buffer.getvalue())
    return path
