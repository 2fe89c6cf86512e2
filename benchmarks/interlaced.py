"""Interlaced video: does colorizing field by field keep each field's colors where things move?

Builds a clip with a known answer from a real color photo: a camera panning fast over it (`--speed` px a field),
50 fields a second woven into 25 interlaced frames (top field first), the gray clip coded losslessly twice with
the same pixels: flagged interlaced (colorized field by field) and flagged progressive (colorized as whole frames,
what the product did before). Each output is read back field by field (an interlaced 4:2:0 frame's chroma rows
alternate between its fields; a progressive frame's do not) and each field is compared with the truth at its own
time: mean CIEDE2000 over the whole field, and over the moving edges, where the two fields of a frame differ.

    PYTHONPATH=src .venv/bin/python benchmarks/interlaced.py --photo ../shared/data/realval/PHOTO \\
        --json benchmarks/results/interlaced.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from colorgan import Colorizer
from colorgan.infer.video_frames import plane
from colorgan.io.images import load_image, rgb_to_gray_u8

EDGE = 12  # gray levels between a frame's two fields at a pixel that make it a moving edge


def field_truths(photo: np.ndarray, fields: int, size: tuple[int, int], speed: float) -> list[np.ndarray]:
    """The true color frame at each field's time (a pan `speed` px a field)."""
    h, w = size
    scale = max(h / photo.shape[0], (w + speed * fields) / photo.shape[1])
    wide = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return [
        cv2.warpAffine(wide, np.float32([[1, 0, speed * t], [0, 1, 0]]), (w, h), flags=cv2.INTER_LINEAR)
        for t in range(fields)
    ]


def weave(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A frame whose even rows (the top field) come from `first` and odd rows from `second`."""
    frame = first.copy()
    frame[1::2] = second[1::2]
    return frame


def write_gray(frames: list[np.ndarray], path: Path, interlaced: bool) -> Path:
    with av.open(str(path), "w") as out:
        options = {"qp": "0", "preset": "veryfast"}
        if interlaced:
            options["x264-params"] = "interlaced=1:tff=1"
        stream = out.add_stream("libx264", rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for gray in frames:
            frame = av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, axis=2), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def fields_of(path: Path, interlaced: bool) -> list[tuple[int, np.ndarray]]:
    """The output's fields, in shooting order, as (parity, RGB rows of that field), converted by FFmpeg as a
    player would show them: an interlaced frame's field with its own chroma rows (row r belongs to field r % 2),
    a progressive frame's rows as they are."""
    result = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            for parity in (0, 1):
                if not interlaced:
                    result.append((parity, rgb[parity::2]))
                    continue
                y, cb, cr = (plane(frame, i)[parity::2] for i in range(3))
                field = av.VideoFrame(y.shape[1], y.shape[0], "yuv420p")
                for i, rows in enumerate((y, cb, cr)):
                    plane(field, i)[:] = rows
                field.color_range, field.colorspace = frame.color_range, frame.colorspace
                result.append((parity, field.to_ndarray(format="rgb24")))
    return result


def score(fields: list[tuple[int, np.ndarray]], truths: list[np.ndarray], moving: list[np.ndarray]) -> dict:
    whole, edges = [], []
    for (parity, out), truth, mask in zip(fields, truths, moving):
        truth, mask = truth[parity::2], mask[parity::2]
        error = deltaE_ciede2000(rgb2lab(truth), rgb2lab(out))
        whole.append(float(error.mean()))
        if mask.any():
            edges.append(float(error[mask].mean()))
    return {"ciede2000": round(float(np.mean(whole)), 3), "ciede2000_moving_edges": round(float(np.mean(edges)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", required=True)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--speed", type=float, default=8.0, help="pan, px a field")
    parser.add_argument("--model", help="default: the shipped model")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    photo = load_image(args.photo).rgb
    truths = field_truths(photo, 2 * args.frames, (args.height, args.width), args.speed)
    grays = [rgb_to_gray_u8(t) for t in truths]
    woven = [weave(grays[2 * i], grays[2 * i + 1]) for i in range(args.frames)]
    moving = []
    for i in range(args.frames):
        differs = cv2.absdiff(grays[2 * i], grays[2 * i + 1]) > EDGE
        moving += [differs, differs]
    colorizer = Colorizer.load(args.model)
    result = {
        "photo": Path(args.photo).name,
        "frames": args.frames,
        "size": [args.width, args.height],
        "speed_px_per_field": args.speed,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, interlaced in (("field_by_field", True), ("whole_frames", False)):
            src = write_gray(woven, Path(tmp) / f"{name}.mp4", interlaced)
            t0 = time.perf_counter()
            out = colorizer.colorize_video(src, Path(tmp) / f"{name}_color.mp4", progress=False, crf=0)
            seconds = time.perf_counter() - t0
            result[name] = {**score(fields_of(out, interlaced), truths, moving), "fps": round(args.frames / seconds, 1)}
            print(name, result[name], flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
