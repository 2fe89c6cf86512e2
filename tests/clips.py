"""Short synthetic clips for the video and cluster tests: a pan with known motion, written as H.264 with a tone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from .helpers import synthetic_photo

av = pytest.importorskip("av")

RATE = 25
SAMPLE_RATE = 16000


def pan_frames(count: int, size: tuple[int, int] = (48, 64), seed: int = 0, step: int = 2) -> list[np.ndarray]:
    """A camera panning right over a colorful picture, `step` px a frame: (H, W, 3) uint8 frames."""
    h, w = size
    scene = synthetic_photo(seed, (h, w + step * count))
    texture = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 30, scene.shape[:2]), (0, 0), 1.0)
    scene = np.clip(scene + texture[..., None], 0, 255).astype(np.uint8)  # detail for the flow to follow
    return [scene[:, i * step : i * step + w] for i in range(count)]


def write_clip(
    path: Path,
    frames: list[np.ndarray],
    pts: list[int] | None = None,
    audio: bool = True,
    time_base: Fraction = Fraction(1, RATE),
    pix_fmt: str | None = None,
    interlaced: str | None = None,
) -> Path:
    """An H.264 MP4 (or MPEG-TS, by the suffix) of the frames (4:4:4 for odd sizes, or `pix_fmt`), with a 440 Hz
    AAC tone as long as the video; `interlaced` "tff" or "bff" codes it interlaced, in that field order."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="mpegts" if path.suffix == ".ts" else None) as container:
        options = {"x264-params": f"interlaced=1:{interlaced}=1", "qp": "0"} if interlaced else {}
        stream = container.add_stream("libx264", rate=RATE, options=options)
        stream.width, stream.height = w, h
        stream.pix_fmt = pix_fmt or ("yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p")
        stream.codec_context.time_base = time_base
        sound = container.add_stream("aac", rate=SAMPLE_RATE) if audio else None
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = (pts[i] if pts else i), time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            t = np.arange(SAMPLE_RATE * len(frames) // RATE) / SAMPLE_RATE
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            chunk = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = SAMPLE_RATE, 0
            for packet in [*sound.encode(chunk), *sound.encode()]:
                container.mux(packet)
    return path


def read_clip(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        info = {
            "times": [round(float(f.time), 4) for f in frames],
            "rate": stream.average_rate,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "luma": [np.asarray(f.reformat(format="gray").to_ndarray(), np.float32) for f in frames],
            "rgb": [f.to_ndarray(format="rgb24") for f in frames],
        }
        container.seek(0)
        info["audio"] = [bytes(p) for p in container.demux(audio=0) if p.size] if container.streams.audio else []
    return info
