"""Where colorized outputs go: their names and formats, what counts as already done, never over an input,
and atomic writes."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..io.atomic import atomic_write_bytes

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


@dataclass(frozen=True)
class PlannedOutput:
    source: Path
    target: Path  # a photo's output is output_path_for(target, alpha); a video's is target itself
    video: bool

    def names(self) -> tuple[Path, ...]:
        """Every name this output may be written under."""
        if self.video:
            return (self.target,)
        return tuple(dict.fromkeys((output_path_for(self.target, False), output_path_for(self.target, True))))


def plan_outputs(wanted: list[tuple[Path, Path, bool]]) -> list[PlannedOutput]:
    """(source, natural target, is video) -> one output each, no two sharing a name.

    Files, folders and videos all plan here. Inputs keep their natural target in the order given unless an
    earlier input took one of its names; then "~2", "~3", ... is added to its stem (`a.mov` and `a.mp4` ->
    `a_color.mp4` and `a_color~2.mp4`). The same inputs in the same order always get the same names, so a
    rerun finds its earlier outputs.
    """
    taken: set[Path] = set()
    plans = []
    for source, target, video in wanted:
        plan, k = PlannedOutput(source, target, video), 1
        while any(name in taken for name in plan.names()):
            k += 1
            plan = PlannedOutput(source, target.with_name(f"{target.stem}~{k}{target.suffix}"), video)
        taken.update(plan.names())
        plans.append(plan)
    return plans


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
