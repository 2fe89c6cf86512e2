"""Decoded video frames -> colorized frames: the network in batches, the chroma steadied along the flow, each frame
composed with the stream's own lightness (video.py demuxes and encodes around it)."""

from __future__ import annotations

import warnings

import numpy as np

from ..io.images import ImageReadError
from .temporal import Stabilizer, TemporalSettings
from .ycbcr import chroma_planes, gray_from_luma

BATCH = 8  # frames per network call: batching is most of the model's speed on CPU
BATCH_PIXELS = 16_000_000  # ... but a batch of 8K frames would hold gigabytes: large frames go fewer at a time
# FFmpeg's AVFieldOrder, as PyAV gives it (a number, or its name in some versions)
FIELD_ORDERS = {0: "unknown", 1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
BOTTOM_FIRST = {"bb", "bt"}  # bottom field shown first (coded first: the second letter)


class VideoWarning(UserWarning):
    """Something about a video that the output cannot keep as it was (said once per video)."""


class VideoError(ImageReadError):
    """A video that cannot be colorized. An `ImageReadError`, so every caller that skips unreadable inputs by
    name (folder runs, the CLI) skips a bad video the same way."""


class FramePipeline:
    """Decoded frames -> colorized frames, in order; holds the temporal state between batches.

    Set up from the first frame: every frame is brought to its size and bit depth, and turned upright by its
    rotation; an interlaced stream stays interlaced (`interlaced`, `top_field_first`). The output keeps the stream's
    lightness exactly, at 8 or 10 bits. `field_order` is the decoder's (its codec context's), read after the first
    frame: a stream may say it is interlaced there while its first frame does not (a progressive opening).
    """

    def __init__(
        self,
        colorizer,
        first,
        name: str,
        temporal: bool,
        size: int | None,
        settings: TemporalSettings,
        field_order: int | str | None = None,
    ):
        self.colorizer, self.name, self.size = colorizer, name, size
        self.settings = settings if temporal else TemporalSettings(carry=0.0)
        self.stabilizer = Stabilizer(self.settings)  # holds a few frames back, to mend a flash between them
        self.last_pts: int | None = None
        self.index = 0  # frames seen so far
        self.width, self.height = first.width, first.height
        self.max_pixels = colorizer.max_pixels
        self.check_size(first, 0)
        self.batch = max(1, min(BATCH, BATCH_PIXELS // (self.width * self.height)))
        bits = max(c.bits for c in first.format.components)
        self.bits = 10 if bits > 8 else 8
        if bits > 10:
            warnings.warn(f"{name}: {bits}-bit video is written as 10-bit (H.264's deepest)", VideoWarning, 2)
        # H.264 4:2:0 needs even sides; 4:4:4 (High 4:4:4 profile) keeps an odd size exactly.
        even = self.width % 2 == 0 and self.height % 2 == 0
        self.pix_fmt = ("yuv420p" if even else "yuv444p") + ("10le" if self.bits == 10 else "")
        self.turns = _quarter_turns(first, name)
        # Coded interlaced again, in its field order, so a player deinterlaces the output as it did the input. The
        # frames are colorized whole: field by field lost on real photos (docs/experiments.md).
        order = FIELD_ORDERS.get(field_order, str(field_order).lower() if field_order is not None else "unknown")
        self.interlaced = bool(first.interlaced_frame) or order in ("tt", "bb", "tb", "bt")
        self.top_field_first = order not in BOTTOM_FIRST
        # x264 codes interlaced 4:2:0 only at heights that are multiples of 4 (4:4:4: even heights).
        multiple = 4 if self.pix_fmt.startswith("yuv420") else 2
        if self.interlaced and self.height % multiple:
            warnings.warn(
                f"{name}: interlaced, but H.264 codes interlaced {self.pix_fmt[:7]} only at heights that are multiples "
                f"of {multiple} (this is {self.height}); coded progressive",
                VideoWarning,
                2,
            )
            self.interlaced = False
        elif self.interlaced and self.turns:
            warnings.warn(f"{name}: interlaced and rotated; turned upright and coded progressive", VideoWarning, 2)
            self.interlaced = False
        elif self.interlaced and order not in ("tt", "bb", "tb", "bt"):
            warnings.warn(f"{name}: interlaced, its field order not given; coded top field first", VideoWarning, 2)
        self.resized = False  # warned of a resolution change
        self.last_size = (self.width, self.height)

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the encoded frames: upright."""
        return (self.height, self.width) if self.turns % 2 else (self.width, self.height)

    def check_size(self, frame, index: int) -> None:
        """A frame's real size may differ from the header's, which was checked before decoding."""
        if frame.width * frame.height > self.max_pixels:
            raise VideoError(
                self.name,
                f"refused: frame {index} is {frame.width}x{frame.height} = {frame.width * frame.height:,} pixels, "
                f"over the limit of {self.max_pixels:,}; nothing written",
            )

    def colorize(self, frames: list) -> list:
        if not frames:
            return []
        full = [f.color_range == 2 or f.format.name.startswith("yuvj") for f in frames]
        sizes = [(f.width, f.height) for f in frames]
        changed = next((i for i, wh in enumerate(sizes) if wh != (self.width, self.height)), None)
        if changed is not None and not self.resized:
            w, h = sizes[changed]
            warnings.warn(
                f"{self.name}: the resolution changes at frame {self.index + changed} ({self.width}x{self.height}"
                f" -> {w}x{h}); the output keeps {self.width}x{self.height} and scales those frames to it",
                VideoWarning,
                2,
            )
            self.resized = True
        frames = [
            f.reformat(width=self.width, height=self.height, format=self.pix_fmt, src_color_range=r, dst_color_range=r)
            for f, r in zip(frames, ["JPEG" if x else "MPEG" for x in full])
        ]
        lumas = [np.ascontiguousarray(np.rot90(plane(f, 0), self.turns)) for f in frames]
        grays = [gray_from_luma(y, x, self.bits) for y, x in zip(lumas, full)]
        small, predicted = self.colorizer.predict_chroma(grays, self.size)
        outputs = []
        for frame, wh, luma, gray, is_full, small_gray, ab in zip(frames, sizes, lumas, grays, full, small, predicted):
            if wh != self.last_size:  # rescaled from here on, or back: nothing to follow along the flow
                outputs += self.finish()
            self.last_size = wh
            outputs += self._compose(self.stabilizer.push(small_gray, ab, (frame, luma, gray, is_full)))
        self.index += len(frames)
        return outputs

    def finish(self) -> list:
        """The frames the temporal filter still holds, colorized; the next frame starts afresh."""
        return self._compose(self.stabilizer.flush())

    def _compose(self, released: list) -> list:
        return [self._frame(frame, luma, gray, ab, is_full) for (frame, luma, gray, is_full), ab in released]

    def _frame(self, source, luma: np.ndarray, gray: np.ndarray, ab: np.ndarray, full_range: bool):
        import av

        matrix = "bt709" if source.colorspace == 1 else "bt601"
        width, height = self.output_size
        out = av.VideoFrame(width, height, self.pix_fmt)
        plane(out, 0)[:] = luma
        cb, cr = chroma_planes(gray, ab, plane(out, 1).shape, matrix, full_range, self.bits)
        plane(out, 1)[:] = cb
        plane(out, 2)[:] = cr
        out.color_range = 2 if full_range else 1
        out.colorspace = 1 if matrix == "bt709" else 6
        # Timestamps are kept; a missing or repeated one (broken files) follows the last by one tick.
        pts = source.pts
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            pts = 0 if self.last_pts is None else self.last_pts + 1
        out.pts, out.time_base, self.last_pts = pts, source.time_base, pts
        return out


def _quarter_turns(frame, name: str) -> int:
    """How many quarter turns counterclockwise (np.rot90's k) stand the frame upright, from its display
    matrix; a rotation that is not a multiple of 90 degrees is kept as it was, with a warning."""
    degrees = frame.rotation or 0
    if degrees % 90:
        warnings.warn(f"{name}: a rotation of {degrees} degrees is not a quarter turn; left as stored", VideoWarning, 3)
        return 0
    return (degrees // 90) % 4


def plane(frame, index: int) -> np.ndarray:
    """A (height, width) view of one plane of a frame (its padding to the line size cut off): uint8, or
    uint16 for the 10-bit formats."""
    plane = frame.planes[index]
    dtype = np.uint16 if frame.format.name.endswith("10le") else np.uint8
    item = np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // item)[:, : plane.width]
