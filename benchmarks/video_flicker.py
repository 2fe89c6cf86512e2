"""Does the temporal method remove flicker without losing fidelity, and is video colorizing fast enough?

Builds a test clip with a known answer from real color photos: per photo one shot of a camera panning (a few px a
frame) or zooming over it, cuts between shots, and film-like grain and brightness flicker added to each gray
input frame. The gray clip is encoded as H.264 and colorized end to end (`Colorizer.colorize_video`) twice:
per frame (`temporal=False`) and with the temporal method. Reported, from the decoded outputs:

- flicker: the warping error. Output frame t-1 is warped onto frame t with the KNOWN motion and compared with
  output frame t (mean CIEDE2000, `colorgan.evaluation.metrics.ciede2000`), 16 px away from the borders, never across a
  cut; also for the true color frames (its floor). `flicker_chroma` is the same with both frames given frame t's
  lightness: the part the colorizer controls (the grain in the input's lightness is kept by design).
  `truth_encoded` is the truth through the output's H.264 settings: the floor for an encoded output.
- above the floor: the chroma flicker an output adds over `truth_encoded`'s, temporal as a share of per frame's.
- CDC: color distribution consistency (`colorgan.evaluation.video_metrics`), never across a cut.
- fidelity: mean CIEDE2000 against the true color frames.
- fps: frames per second end to end (decode, network, flow, encode), after a warm-up run.

    PYTHONPATH=src .venv/bin/python benchmarks/video_flicker.py --photos ../shared/data/landscapes/color \\
        --json benchmarks/results/video_flicker.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from colorgan import Colorizer
from colorgan.evaluation.metrics import ciede2000
from colorgan.evaluation.video_metrics import color_distribution_consistency
from colorgan.infer.temporal import TemporalSettings
from colorgan.infer.video import DEFAULT_CRF, ENCODER_OPTIONS, colorize_video
from colorgan.io.images import load_image, rgb_to_gray_u8

MARGIN = 16


def shot_motion(kind: str, count: int, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """(scale, x offset, y offset) per frame: frame pixel (x, y) shows photo pixel scale * (x, y) + offset."""
    dx, dy = rng.uniform(2, 4) * rng.choice([-1, 1]), rng.uniform(0, 1.5) * rng.choice([-1, 1])
    motion = []
    for t in range(count):
        scale = 1.0 + 0.004 * t if kind == "zoom" else 1.0  # zooming out: 0.4 % a frame
        moving = kind == "pan"
        motion.append((scale, 256 + dx * t * moving, 192 + dy * t * moving))  # the photo has ~0.8 frames to spare
    return motion


def render(photo: np.ndarray, motion: tuple[float, float, float], size: tuple[int, int]) -> np.ndarray:
    scale, ox, oy = motion
    matrix = np.array([[scale, 0, ox], [0, scale, oy]], np.float32)
    return cv2.warpAffine(
        photo, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )


def warp_previous(image: np.ndarray, before: tuple, now: tuple) -> np.ndarray:
    """Frame t-1's pixels moved to where frame t shows the same scene point (the known motion)."""
    (s0, x0, y0), (s1, x1, y1) = before, now
    matrix = np.array([[s1 / s0, 0, (x1 - x0) / s0], [0, s1 / s0, (y1 - y0) / s0]], np.float32)
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def film_faults(gray: np.ndarray, t: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """Old film's faults on frame t of a shot of `frames`: dust (specks, white and black) and a scratch on every
    frame, a flash frame (one overexposed frame) a third of the way in and a fade to black over the last sixth."""
    h, w = gray.shape
    out = gray.copy()
    for _ in range(int(rng.integers(3, 9))):  # dust: a few specks of 2-6 px, a new place every frame
        y, x, r = int(rng.integers(0, h)), int(rng.integers(0, w)), int(rng.integers(1, 4))
        out[max(0, y - r) : y + r, max(0, x - r) : x + r] = 255.0 if rng.random() < 0.5 else 0.0
    x = int(w * (0.3 + 0.02 * np.sin(t / 3)))  # a scratch that wanders a little, as a worn print's does
    out[:, x : x + 2] = np.clip(out[:, x : x + 2] + 60.0, 0, 255)
    if t == frames // 3:
        out = np.clip(out * 1.7 + 40.0, 0, 255)
    fade_start = frames - frames // 6
    if t >= fade_start:
        out = out * (1 - (t - fade_start + 1) / (frames // 6 + 1))
    return out


def build_clip(
    photos: list[Path],
    path: Path,
    frames: int,
    size: tuple[int, int],
    grain: float,
    flicker: float,
    seed: int,
    faults: bool = False,
) -> tuple[list[np.ndarray], list[tuple], list[bool]]:
    """Write the gray clip to `path`; return the true color frames, their motion and which frames start a shot."""
    import av

    rng = np.random.default_rng(seed)
    truths, motions, starts = [], [], []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={"crf": "12", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i, photo_path in enumerate(photos):
            rgb = load_image(photo_path).rgb
            fit = 1.8 * max(size[0] / rgb.shape[1], size[1] / rgb.shape[0])  # room for the motion
            photo = cv2.resize(rgb, None, fx=fit, fy=fit, interpolation=cv2.INTER_AREA if fit < 1 else cv2.INTER_CUBIC)
            for t, motion in enumerate(shot_motion("pan" if i % 2 == 0 else "zoom", frames, rng)):
                truth = render(photo, motion, size)
                gray = rgb_to_gray_u8(truth).astype(np.float32) * (1 + rng.uniform(-flicker, flicker))
                gray = np.clip(gray + rng.normal(0, grain, gray.shape), 0, 255)
                if faults:
                    gray = film_faults(gray, t, frames, rng)
                gray = gray.astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(gray, format="gray")
                frame.pts = len(truths)
                for packet in stream.encode(frame):
                    container.mux(packet)
                truths.append(truth)
                motions.append(motion)
                starts.append(t == 0)
        for packet in stream.encode():
            container.mux(packet)
    return truths, motions, starts


def through_encoder(frames: list[np.ndarray], path: Path, crf: int) -> list[np.ndarray]:
    """The frames after the output's own H.264 settings: the floor any encoded output can reach."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={**ENCODER_OPTIONS, "crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return decode(path)


def decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def chroma_difference(previous: np.ndarray, current: np.ndarray) -> float:
    """CIEDE2000 with both frames given the current frame's lightness: a change of color alone."""
    lab_prev, lab_now = rgb2lab(previous), rgb2lab(current)
    lab_prev[..., 0] = lab_now[..., 0]
    return float(deltaE_ciede2000(lab_now, lab_prev, channel_axis=-1).mean())


def score(frames: list[np.ndarray], truths: list[np.ndarray], motions: list, starts: list[bool]) -> dict:
    inner = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    flicker, flicker_chroma = [], []
    for t in range(1, len(frames)):
        if starts[t]:
            continue  # never across a cut
        warped = warp_previous(frames[t - 1], motions[t - 1], motions[t])[inner]
        flicker.append(ciede2000(warped, frames[t][inner]))
        flicker_chroma.append(chroma_difference(warped, frames[t][inner]))
    result = {
        "flicker": float(np.mean(flicker)),
        "flicker_chroma": float(np.mean(flicker_chroma)),
        "cdc": color_distribution_consistency(frames, starts),
    }
    if any(f is not t for f, t in zip(frames, truths)):
        result["fidelity"] = float(np.mean([ciede2000(f, t) for f, t in zip(frames, truths)]))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, help="folder of color photos (the first --shots are used)")
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--frames", type=int, default=36, help="frames per shot")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--grain", type=float, default=4.0, help="std of the gray grain, in gray levels")
    parser.add_argument("--flicker", type=float, default=0.04, help="brightness flicker, +- this fraction")
    parser.add_argument("--faults", action="store_true", help="add dust, a scratch, a flash frame and a fade per shot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="default: the shipped model")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--carry", type=float, default=TemporalSettings.carry, help="temporal: weight of the carry")
    parser.add_argument(
        "--bridge-frames", type=int, default=TemporalSettings.bridge_frames, help="temporal: longest gap bridged"
    )
    parser.add_argument("--crf", type=int, default=DEFAULT_CRF, help="the output's H.264 quality (0 = lossless)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    photos = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    photos = photos[: args.shots]
    colorizer = Colorizer.load(args.model, threads=args.threads)
    size = (args.width, args.height)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        truths, motions, starts = build_clip(
            photos, clip, args.frames, size, args.grain, args.flicker, args.seed, args.faults
        )
        colorizer.colorize_video(clip, Path(tmp) / "warmup.mp4", progress=False)  # oneDNN's first-call costs
        results = {
            "truth": score(truths, truths, motions, starts),
            "truth_encoded": score(through_encoder(truths, Path(tmp) / "truth.mp4", args.crf), truths, motions, starts),
        }
        for name, temporal in (("per_frame", False), ("temporal", True)):
            out = Path(tmp) / f"{name}.mp4"
            start = time.perf_counter()
            colorize_video(
                colorizer,
                clip,
                out,
                temporal=temporal,
                progress=False,
                settings=TemporalSettings(carry=args.carry, bridge_frames=args.bridge_frames),
                crf=args.crf,
            )
            elapsed = time.perf_counter() - start
            results[name] = {**score(decode(out), truths, motions, starts), "fps": len(truths) / elapsed}

    def above_floor(name: str) -> float:
        return results[name]["flicker_chroma"] - results["truth_encoded"]["flicker_chroma"]

    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
        f"{__import__('torch').get_num_threads()}",
        "clip": {
            "photos": [p.name for p in photos],
            "frames": len(truths),
            "size": list(size),
            "output_crf": args.crf,
            "grain": args.grain,
            "flicker": args.flicker,
            "faults": args.faults,
            "shots": "pan, zoom alternating; a cut between shots",
        },
        **results,
        "flicker_ratio": results["temporal"]["flicker"] / results["per_frame"]["flicker"],
        "flicker_chroma_ratio": results["temporal"]["flicker_chroma"] / results["per_frame"]["flicker_chroma"],
        # The part of the chroma flicker the colorizer adds above what encoding the true colors leaves (#32).
        "above_floor_ratio": above_floor("temporal") / above_floor("per_frame"),
        "cdc_ratio": results["temporal"]["cdc"] / results["per_frame"]["cdc"],
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
