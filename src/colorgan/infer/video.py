"""Video in, video out: decode with PyAV, colorize the frames in small batches, keep the chroma steady along
optical flow (temporal.py), encode H.264 into MP4, copy the audio packets as they are, write atomically.

Memory stays flat in the length of the video: at most `video_frames.BATCH` decoded frames (fewer when they are large,
`BATCH_PIXELS` in all) are held at a time. Each output
frame keeps the input's Y' plane (its lightness) byte for byte, and its timestamp; only Cb and Cr are new.
Nothing about the picture changes without a word: 10-bit input stays 10-bit; interlaced (or telecined) input stays
interlaced, in its field order; a rotated phone video is turned
upright (the network colors what it recognizes, and it knows things the right way up); a stream whose
resolution changes midway comes out at its first size, with a `VideoWarning` naming the frame.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from tqdm import tqdm

from ..io.atomic import atomic_output
from .temporal import TemporalSettings
from .video_frames import FramePipeline, VideoError, VideoWarning  # noqa: F401 (part of this module's API)

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".ts", ".mts", ".m2ts"})
MAX_EARLY_AUDIO = 4096  # audio packets held until the first video frame is decoded (a few seconds, normally)
ENCODER = "libx264"
ENCODER_OPTIONS = {"preset": "veryfast"}  # and "crf", per call
DEFAULT_CRF = 18  # x264's constant rate factor: 0 lossless, ~18 visually lossless, 51 worst
INSTALL_HINT = "colorizing video needs PyAV: pip install 'colorgan[video]'"


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def video_output_path(target: Path) -> Path:
    """Videos are always written as MP4; another suffix is kept and ".mp4" appended (a.mov and a.mp4 in one
    folder must not share an output)."""
    return target if target.suffix.lower() == ".mp4" else target.with_name(target.name + ".mp4")


def import_av(name: str):
    try:
        import av
    except ImportError:
        raise VideoError(name, INSTALL_HINT) from None
    return av


def colorize_video(
    colorizer,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    temporal: bool = True,
    size: int | None = None,
    progress: bool = True,
    settings: TemporalSettings | None = None,
    crf: int | None = None,
) -> Path:
    """Colorize the video `src` into the MP4 `dst` (written atomically); returns `dst`. `crf` sets the H.264
    quality (lower is better and larger; None: DEFAULT_CRF).

    Raises VideoError naming `src` for anything wrong with the input (nothing is written then), OSError when
    `dst` cannot be written.
    """
    src, dst = Path(src), Path(dst)
    name = str(src)
    crf = DEFAULT_CRF if crf is None else crf
    if not (isinstance(crf, int) and 0 <= crf <= 51):
        raise ValueError(f"crf must be an integer from 0 to 51, not {crf!r}")
    av = import_av(name)
    if not src.is_file():
        raise VideoError(name, "is a directory" if src.is_dir() else "not a regular file")
    try:
        container = av.open(name, metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoError(name, f"cannot open ({_reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise VideoError(name, "no video stream (audio or data only)")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise VideoError(name, f"invalid frame size {width}x{height}")
        if width * height > colorizer.max_pixels:
            raise VideoError(
                name,
                f"refused: {width}x{height} = {width * height:,} pixels a frame exceeds the "
                f"limit of {colorizer.max_pixels:,}",
            )
        try:
            with atomic_output(dst) as tmp:
                _transcode(
                    av,
                    colorizer,
                    container,
                    stream,
                    tmp,
                    name,
                    temporal,
                    size,
                    progress,
                    settings or TemporalSettings(),
                    crf,
                )
        except av.FFmpegError as exc:
            if isinstance(exc, OSError) and not isinstance(exc, av.error.InvalidDataError):
                raise
            raise VideoError(name, f"cannot decode ({_reason(exc)}); nothing written") from None
    return dst


def _transcode(
    av,
    colorizer,
    container,
    stream,
    tmp: Path,
    name: str,
    temporal: bool,
    size: int | None,
    progress: bool,
    settings: TemporalSettings,
    crf: int,
) -> None:
    """Demux, colorize and remux `stream` (and the audio) into `tmp` as MP4."""
    stream.thread_type = "AUTO"
    with av.open(str(tmp), "w", format="mp4") as out:
        audio = {}
        for a in container.streams.audio:
            if a.codec_context.name not in out.supported_codecs:
                raise VideoError(
                    name,
                    f"its {a.codec_context.name} audio cannot be copied into MP4 (convert the "
                    "audio to AAC first); nothing written",
                )
            audio[a.index] = out.add_stream_from_template(a)
        encoder = out.add_stream(
            ENCODER,
            rate=stream.average_rate or stream.guessed_rate or Fraction(25),
            # x264's crf 0 is lossless only at 8 bits; qp 0 is lossless at any depth
            options={**ENCODER_OPTIONS, **({"qp": "0"} if crf == 0 else {"crf": str(crf)})},
        )
        encoder.codec_context.time_base = stream.time_base
        frames: FramePipeline | None = None  # set up from the first frame: its rotation and bit depth
        bar = tqdm(total=stream.frames or None, unit="frame", desc=Path(name).name, disable=not progress)
        pending, count, span = [], 0, _Span()

        def encode(colorized):
            for frame in colorized:
                for packet in encoder.encode(frame):
                    out.mux(packet)

        early_audio = []  # muxing starts the file, which fixes the encoder's size: not before the first frame
        for packet in container.demux(stream, *container.streams.audio):
            if packet.stream.index == stream.index:
                for frame in packet.decode():
                    if frames is None:
                        field_order = getattr(stream.codec_context, "field_order", None)
                        frames = FramePipeline(colorizer, frame, name, temporal, size, settings, field_order)
                        encoder.width, encoder.height = frames.output_size
                        encoder.pix_fmt = frames.pix_fmt
                        if frames.interlaced:  # coded as it came, so players deinterlace it as they did
                            order = "tff=1" if frames.top_field_first else "bff=1"
                            encoder.codec_context.options = {
                                **encoder.codec_context.options,
                                "x264-params": f"interlaced=1:{order}",
                            }
                        for early in early_audio:
                            out.mux(early)
                        early_audio = None
                    frames.check_size(frame, count)
                    span.add(frame.time)
                    pending.append(frame)
                    count += 1
                    if len(pending) >= frames.batch:
                        encode(frames.colorize(pending))
                        bar.update(len(pending))
                        pending = []
            elif packet.dts is not None:
                packet.stream = audio[packet.stream.index]
                if early_audio is None:
                    out.mux(packet)
                elif len(early_audio) < MAX_EARLY_AUDIO:
                    early_audio.append(packet)
                else:
                    raise VideoError(name, f"more than {MAX_EARLY_AUDIO} audio packets before the first frame")
        if count == 0:
            bar.close()
            raise VideoError(name, "no frame could be decoded; nothing written")
        encode(frames.colorize(pending) + frames.finish())
        bar.update(len(pending))
        for packet in encoder.encode():
            out.mux(packet)
        bar.close()
        if stream.frames and count < stream.frames:
            raise VideoError(name, f"truncated or corrupt: {count} of {stream.frames} frames decoded; nothing written")
        declared, rate = declared_seconds(stream), float(encoder.average_rate or 25)
        # Matroska and WebM declare no frame count, only a duration: a cut file would otherwise come out shorter.
        if declared and span.seconds(rate) < declared - max(3.0 / rate, 0.2):
            raise VideoError(
                name,
                f"truncated or corrupt: frames decoded up to {span.seconds(rate):.2f} s of a declared "
                f"{declared:.2f} s; nothing written",
            )


class _Span:
    """First and last timestamp of the frames decoded, in seconds."""

    def __init__(self):
        self.first = self.last = None

    def add(self, time: float | None) -> None:
        if time is not None:
            self.first = time if self.first is None else min(self.first, time)
            self.last = time if self.last is None else max(self.last, time)

    def seconds(self, rate: float) -> float:
        """How long the decoded frames play: first to last, plus the last frame's own duration."""
        return 0.0 if self.first is None else self.last - self.first + 1.0 / rate


def declared_seconds(stream) -> float | None:
    """The video stream's own declared duration: its header's (MP4, AVI), or Matroska's DURATION tag
    ("HH:MM:SS.fffffffff"). Never the container's, which also spans the audio."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    try:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except (AttributeError, ValueError):
        return None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__
