"""Colorizing video: frames, timing, size, audio and lightness kept; temporal consistency; bad files; the CLI."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from colorgan import Colorizer
from colorgan.cli.main import main
from colorgan.infer import temporal, video_frames
from colorgan.infer import video as videomod
from colorgan.infer.temporal import (
    Stabilizer,
    TemporalSettings,
    estimate_flow,
    flow_trust,
    normalize_gray,
    stabilize,
    warp,
)
from colorgan.infer.video import VideoError

from .clips import RATE, SAMPLE_RATE, pan_frames, read_clip, write_clip
from .helpers import synthetic_photo

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def colorizer(tiny_model):
    return Colorizer.load(tiny_model)


# ------------------------------------------------------------------ what a video keeps


def test_frames_rate_timestamps_size_audio_and_lightness_are_kept(colorizer, tmp_path):
    src = write_clip(tmp_path / "pan.mp4", pan_frames(12))
    out = colorizer.colorize_video(src, tmp_path / "pan_color.mp4", progress=False)
    before, after = read_clip(src), read_clip(out)
    assert len(after["times"]) == 12 and after["times"] == before["times"]
    assert after["rate"] == RATE and after["size"] == (64, 48)
    assert after["audio"] and after["audio"] == before["audio"]  # the same AAC packets, not re-encoded
    for y_in, y_out in zip(before["luma"], after["luma"]):  # Y' is copied; only the encoder's loss remains
        assert np.abs(y_in - y_out).mean() < 1.5


def test_crf_sets_the_quality_and_crf_0_keeps_the_lightness_exactly(colorizer, tmp_path, capsys):
    src = write_clip(tmp_path / "pan.mp4", pan_frames(12), audio=False)
    lossless = colorizer.colorize_video(src, tmp_path / "crf0.mp4", progress=False, crf=0)
    small = colorizer.colorize_video(src, tmp_path / "crf40.mp4", progress=False, crf=40)
    assert lossless.stat().st_size > 3 * small.stat().st_size
    before = read_clip(src)["luma"]
    assert all(np.array_equal(y_in, y_out) for y_in, y_out in zip(before, read_clip(lossless)["luma"]))
    with pytest.raises(ValueError, match="crf must be an integer from 0 to 51, not 52"):
        colorizer.colorize_video(src, tmp_path / "bad.mp4", progress=False, crf=52)
    assert not (tmp_path / "bad.mp4").exists()
    with pytest.raises(SystemExit):
        main(["colorize", str(src), "--crf", "52"])
    assert "--crf" in capsys.readouterr().err


def test_variable_frame_rate_keeps_every_timestamp(colorizer, tmp_path):
    pts = [0, 40, 80, 200, 240, 400, 440, 480]
    src = write_clip(tmp_path / "vfr.mp4", pan_frames(len(pts)), pts=pts, audio=False, time_base=Fraction(1, 1000))
    out = colorizer.colorize_video(src, tmp_path / "out.mp4", progress=False)
    assert read_clip(out)["times"] == [p / 1000 for p in pts]


def test_odd_size_is_kept_with_444_chroma(colorizer, tmp_path):
    src = write_clip(tmp_path / "odd.mp4", pan_frames(4, (17, 33)), audio=False)
    out = colorizer.colorize_video(src, tmp_path / "odd_color.mp4", progress=False)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (33, 17)
        assert stream.codec_context.pix_fmt == "yuv444p" and stream.frames == 4


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_interlaced_video_stays_interlaced_in_its_field_order_with_its_lightness_exact(colorizer, tmp_path, order):
    """Coded progressive, an interlaced output would be shown combed: players deinterlace only what says it is."""
    frames = pan_frames(4, step=6)
    src = write_clip(tmp_path / "tape.mp4", frames, audio=False, interlaced=order)
    out = colorizer.colorize_video(src, tmp_path / "tape_color.mp4", progress=False, crf=0)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert a.streams.video[0].codec_context.field_order == (2 if order == "tff" else 3)  # TT, BB
        assert b.streams.video[0].codec_context.field_order == a.streams.video[0].codec_context.field_order
        pairs = list(zip(a.decode(video=0), b.decode(video=0)))
        assert len(pairs) == 4
        for before, after in pairs:
            assert after.interlaced_frame
            assert np.array_equal(video_frames.plane(before, 0), video_frames.plane(after, 0))


def test_interlaced_video_at_a_height_h264_cannot_code_interlaced_says_so_and_comes_out_progressive(
    colorizer, tmp_path
):
    """4:4:4 interlaced at 64 x 50 comes out 4:2:0, where x264 codes interlaced only at heights that are multiples
    of 4: coded progressive, and one warning says so (it used to change without a word)."""
    src = write_clip(
        tmp_path / "tape.mp4", pan_frames(3, size=(50, 64)), audio=False, interlaced="bff", pix_fmt="yuv444p"
    )
    with pytest.warns(videomod.VideoWarning, match=r"tape.mp4: interlaced, but .* multiples of 4 \(this is 50\)"):
        out = colorizer.colorize_video(src, tmp_path / "tape_color.mp4", progress=False)
    with av.open(str(out)) as b:
        stream = b.streams.video[0]
        frames = list(b.decode(video=0))
        assert (stream.codec_context.height, stream.codec_context.pix_fmt) == (50, "yuv420p")
        assert len(frames) == 3 and not any(f.interlaced_frame for f in frames)


def test_a_stream_whose_decoder_says_bottom_field_first_is_coded_so_though_its_first_frame_is_not_flagged(
    colorizer, tmp_path, monkeypatch
):
    """The field order comes from the decoder, not only from the first frame's flag."""
    src = write_clip(tmp_path / "tape.mp4", pan_frames(3), audio=False)  # progressive, flagged nowhere
    real = video_frames.FramePipeline.__init__

    def told_bottom_first(self, *args):
        real(self, *args[:6], field_order=3)  # what the decoder of a DV or PAL tape says: BB

    monkeypatch.setattr(video_frames.FramePipeline, "__init__", told_bottom_first)
    out = colorizer.colorize_video(src, tmp_path / "tape_color.mp4", progress=False)
    with av.open(str(out)) as b:
        assert b.streams.video[0].codec_context.field_order == 3
        assert all(f.interlaced_frame for f in b.decode(video=0))


def test_10_bit_video_stays_10_bit_with_its_lightness_exact(colorizer, tmp_path):
    src = write_clip(tmp_path / "deep.mp4", pan_frames(4), audio=False, pix_fmt="yuv420p10le")
    out = colorizer.colorize_video(src, tmp_path / "deep_color.mp4", progress=False, crf=0)
    src8 = write_clip(tmp_path / "flat.mp4", pan_frames(4), audio=False)
    out8 = colorizer.colorize_video(src8, tmp_path / "flat_color.mp4", progress=False, crf=0)
    with av.open(str(src)) as a, av.open(str(out)) as b, av.open(str(out8)) as c:
        assert b.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
        for before, after, eight in zip(a.decode(video=0), b.decode(video=0), c.decode(video=0)):
            y_in, y_out = (video_frames.plane(f, 0) for f in (before, after))
            assert y_out.dtype == np.uint16 and y_out.max() > 255
            assert np.abs(y_in.astype(int) - y_out).max() <= 4  # all 10 bits kept, to the encoder's loss
            for i in (1, 2):  # the same colors as from the 8-bit clip, on the 10-bit scale
                chroma10, chroma8 = video_frames.plane(after, i).astype(float), video_frames.plane(eight, i)
                assert chroma10.max() > 255 and np.abs(chroma10 / 4 - chroma8).mean() < 1.0


def with_rotation(path: Path, degrees_clockwise: int) -> Path:
    """The MP4 with its track's display matrix set as a phone sets it (a 90 degree turn clockwise)."""
    import struct

    assert degrees_clockwise == 90
    raw = bytearray(path.read_bytes())
    at = raw.find(b"tkhd")
    version = raw[at + 4]
    matrix = at + 8 + (32 if version == 1 else 20) + 16  # type, version+flags, times..duration, reserved..volume
    assert struct.unpack(">9i", raw[matrix : matrix + 36]) == (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)
    raw[matrix : matrix + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    path.write_bytes(raw)
    return path


def test_a_rotated_phone_video_comes_out_upright(colorizer, tmp_path):
    frames = pan_frames(4)
    src = with_rotation(write_clip(tmp_path / "phone.mp4", frames, audio=False), 90)
    with av.open(str(src)) as container:
        assert next(container.decode(video=0)).rotation == -90  # what a player turns it by
    out = colorizer.colorize_video(src, tmp_path / "phone_color.mp4", progress=False, crf=0)
    after = read_clip(out)
    assert after["size"] == (48, 64)  # width and height swapped: stored upright, no rotation left to apply
    with av.open(str(out)) as container:
        assert next(container.decode(video=0)).rotation == 0
    for y_in, y_out in zip(read_clip(src)["luma"], after["luma"]):
        assert np.array_equal(np.rot90(y_in, -1), y_out)  # turned a quarter clockwise, bytes unchanged


def test_a_resolution_change_midway_says_so_and_keeps_every_frame(colorizer, tmp_path):
    first = write_clip(tmp_path / "a.ts", pan_frames(5), audio=False)
    second = write_clip(tmp_path / "b.ts", pan_frames(4, (32, 40), seed=3), audio=False)
    src = tmp_path / "broadcast.ts"  # a capture whose stream switches resolution: two streams back to back
    src.write_bytes(first.read_bytes() + second.read_bytes())
    with pytest.warns(
        videomod.VideoWarning, match=r"broadcast.ts: the resolution changes at frame 5 \(64x48 -> 40x32\)"
    ):
        out = colorizer.colorize_video(src, tmp_path / "out.mp4", progress=False)
    after = read_clip(out)
    assert after["size"] == (64, 48) and len(after["rgb"]) == 9
    assert all(f.shape == (48, 64, 3) for f in after["rgb"])
    scaled = cv2.resize(read_clip(second)["luma"][0], (64, 48), interpolation=cv2.INTER_LINEAR)
    assert np.abs(after["luma"][5] - scaled).mean() < 6  # the later frames are the same picture, scaled


def test_cuts_reset_the_temporal_state_and_no_temporal_never_carries(colorizer, tmp_path, monkeypatch):
    scenes = pan_frames(6, seed=1, step=1) + pan_frames(6, seed=7, step=1)
    src = write_clip(tmp_path / "cut.mp4", scenes, audio=False)
    resets = []

    def recording(state, *args):
        ab, new = stabilize(state, *args)
        resets.append(new.reset)
        return ab, new

    monkeypatch.setattr(temporal, "stabilize", recording)
    colorizer.colorize_video(src, tmp_path / "cut_color.mp4", size=64, progress=False)
    assert resets[0] and resets[6]  # the first frame and the cut start afresh
    assert not any(resets[1:6]) and not any(resets[7:])  # the pans are carried along
    resets.clear()
    colorizer.colorize_video(src, tmp_path / "flat.mp4", temporal=False, size=64, progress=False)
    assert all(resets) and len(resets) == 12


# ------------------------------------------------------------------ bad input


def test_truncated_file_is_a_clear_error_and_leaves_nothing(colorizer, tmp_path):
    src = write_clip(tmp_path / "cut_short.mp4", pan_frames(12))
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(VideoError, match="cut_short.mp4: cannot open"):
        colorizer.colorize_video(src, tmp_path / "out.mp4", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut_short.mp4"]


@pytest.mark.parametrize(  # where the cut loses video frames
    "suffix, audio, kept", [("mkv", True, 0.5), ("mkv", False, 0.8), ("avi", True, 0.5), ("avi", False, 0.8)]
)
def test_a_cut_matroska_or_avi_file_that_still_opens_is_a_clear_error_and_a_whole_one_works(
    colorizer, tmp_path, suffix, audio, kept
):
    # Matroska declares no frame count, only a duration; an AVI's index is at its end. Either decoder reads a cut
    # file's first part happily.
    whole = write_clip(tmp_path / f"whole.{suffix}", pan_frames(24), audio=audio)
    colorizer.colorize_video(whole, tmp_path / "whole_color.mp4", size=64, progress=False)
    assert len(read_clip(tmp_path / "whole_color.mp4")["times"]) == 24
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * kept)])
    # AVI declares its frame count; Matroska only a duration
    why = r"\d+ of 24 frames decoded" if suffix == "avi" else r"frames decoded up to .* of a declared"
    with pytest.raises(VideoError, match=rf"cut.{suffix}: truncated or corrupt: {why}"):
        colorizer.colorize_video(cut, tmp_path / "cut_color.mp4", size=64, progress=False)
    assert not (tmp_path / "cut_color.mp4").exists()


def test_a_disk_that_fills_while_encoding_leaves_no_partial_video_and_a_rerun_finishes(tiny_model, tmp_path, capsys):
    from .test_reliability import file_size_limit, temp_files

    folder = tmp_path / "films"
    folder.mkdir()
    write_clip(folder / "long.mp4", pan_frames(40, (96, 128)), audio=False)  # ~100 kB out: does not fit
    write_clip(folder / "short.mp4", pan_frames(2, (16, 16)), audio=False)  # a few kB: fits
    with file_size_limit(20_000):
        code = main(["colorize", str(folder), "--quiet", "--model", str(tiny_model), "--crf", "0"])
    out = tmp_path / "films_color"
    printed = capsys.readouterr()
    assert code == 0 and "Traceback" not in printed.err and "skipped 1" in printed.out
    assert "long.mp4,cannot write (File too large)" in (out / "skipped.csv").read_text()
    assert not temp_files(out) and not (out / "long.mp4").exists()
    assert len(read_clip(out / "short.mp4")["times"]) == 2
    assert main(["colorize", str(folder), "--quiet", "--model", str(tiny_model), "--crf", "0"]) == 0
    assert len(read_clip(out / "long.mp4")["times"]) == 40


def test_garbage_and_audio_only_files_are_clear_errors(colorizer, tmp_path):
    garbage = tmp_path / "noise.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(VideoError, match="noise.mp4: cannot open"):
        colorizer.colorize_video(garbage, tmp_path / "a.mp4", progress=False)
    sound = tmp_path / "sound.mp4"
    with av.open(str(sound), "w") as container:
        stream = container.add_stream("aac", rate=SAMPLE_RATE)
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="flt", layout="mono")
        chunk.sample_rate, chunk.pts = SAMPLE_RATE, 0
        for packet in [*stream.encode(chunk), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(VideoError, match="sound.mp4: no video stream"):
        colorizer.colorize_video(sound, tmp_path / "b.mp4", progress=False)
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "b.mp4").exists()


def test_frames_over_the_pixel_limit_are_refused(tiny_model, tmp_path):
    src = write_clip(tmp_path / "big.mp4", pan_frames(2), audio=False)
    with pytest.raises(VideoError, match=r"big.mp4: refused: 64x48 = 3,072 pixels a frame exceeds"):
        Colorizer.load(tiny_model, max_pixels=3000).colorize_video(src, tmp_path / "out.mp4", progress=False)


def test_a_stream_that_grows_past_the_pixel_limit_midway_is_refused_by_frame(tiny_model, tmp_path):
    first = write_clip(tmp_path / "a.ts", pan_frames(3, (16, 16)), audio=False)
    second = write_clip(tmp_path / "b.ts", pan_frames(3, (64, 96)), audio=False)
    src = tmp_path / "grows.ts"  # its header says 16x16, under the limit
    src.write_bytes(first.read_bytes() + second.read_bytes())
    with pytest.raises(
        VideoError, match=r"grows.ts: refused: frame 3 is 96x64 = 6,144 pixels, over the limit of 1,000"
    ):
        Colorizer.load(tiny_model, max_pixels=1000).colorize_video(src, tmp_path / "out.mp4", progress=False)
    assert not (tmp_path / "out.mp4").exists()


def test_gray_input_frames_work(colorizer, tmp_path):
    gray = [np.repeat(f.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2) for f in pan_frames(3)]
    src = write_clip(tmp_path / "gray.mp4", gray, audio=False)
    assert len(read_clip(colorizer.colorize_video(src, tmp_path / "o.mp4", progress=False))["times"]) == 3


# ------------------------------------------------------------------ the command line


def test_cli_colorizes_a_video_beside_it_and_in_a_folder_with_photos(tiny_model, tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.mp4", pan_frames(4), audio=False)
    assert main(["colorize", str(clip), "--quiet", "--model", str(tiny_model)]) == 0
    assert len(read_clip(tmp_path / "clip_color.mp4")["times"]) == 4
    assert (
        main(
            [
                "colorize",
                str(clip),
                "--quiet",
                "--model",
                str(tiny_model),
                "--no-temporal",
                "--out",
                str(tmp_path / "flat"),
            ]
        )
        == 0
    )
    assert (tmp_path / "flat" / "clip_color.mp4").is_file()

    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(synthetic_photo(2)).save(folder / "photo.jpg")
    write_clip(folder / "film.mov", pan_frames(3), audio=False)
    assert main(["colorize", str(folder), "--quiet", "--model", str(tiny_model)]) == 0
    done = tmp_path / "mixed_color"
    assert (done / "photo.jpg").is_file() and len(read_clip(done / "film.mov.mp4")["times"]) == 3
    assert main(["colorize", str(folder), "--quiet", "--model", str(tiny_model)]) == 0  # a rerun: all there
    assert "colorized 0, already there 2" in capsys.readouterr().out


def test_cli_says_in_one_line_what_a_video_could_not_keep(tiny_model, tmp_path, capsys):
    first = write_clip(tmp_path / "a.ts", pan_frames(3), audio=False)
    second = write_clip(tmp_path / "b.ts", pan_frames(3, (32, 40)), audio=False)
    src = tmp_path / "capture.ts"
    src.write_bytes(first.read_bytes() + second.read_bytes())
    assert main(["colorize", str(src), "--quiet", "--model", str(tiny_model)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"warning: {src}: the resolution changes at frame 3 (64x48 -> 40x32); the output keeps 64x48 "
        "and scales those frames to it"
    ]
    assert len(read_clip(tmp_path / "capture_color.mp4")["times"]) == 6


def test_cli_without_pyav_says_how_to_install_it(tiny_model, tmp_path, monkeypatch, capsys):
    clip = write_clip(tmp_path / "clip.mp4", pan_frames(2), audio=False)
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    assert main(["colorize", str(clip), "--quiet", "--model", str(tiny_model)]) == 2
    err = capsys.readouterr().err
    assert "clip.mp4" in err and "pip install 'colorgan[video]'" in err and err.count("\n") == 1
    assert not (tmp_path / "clip_color.mp4").exists()


# ------------------------------------------------------------------ the temporal functions


def textured(seed: int = 0, size: tuple[int, int] = (64, 80)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (size[0] // 4, size[1] // 4)).astype(np.float32)
    return np.clip(np.kron(noise, np.ones((4, 4), np.float32)), 0, 255).astype(np.uint8)


def test_a_known_translation_is_recovered():
    scene = cv2.GaussianBlur(textured(), (0, 0), 1.5)
    previous, frame = scene[:, 3:-3], scene[:, 5:-1]  # the camera moved 2 px right: content moves 2 px left
    flow = estimate_flow(frame, previous)
    inner = flow[8:-8, 8:-8]
    assert np.allclose(np.median(inner[..., 0]), 2.0, atol=0.25) and abs(np.median(inner[..., 1])) < 0.25
    warped = warp(previous.astype(np.float32), flow)
    assert np.abs(warped[8:-8, 8:-8] - frame[8:-8, 8:-8]).mean() < 4


def test_stabilize_carries_chroma_where_trusted_and_falls_back_where_not():
    settings = TemporalSettings(carry=0.8)
    scene = cv2.GaussianBlur(textured(1), (0, 0), 1.5)
    old_ab, new_ab = np.full((64, 80, 2), 20.0, np.float32), np.full((64, 80, 2), -20.0, np.float32)
    _, state = stabilize(None, scene, old_ab, settings)
    assert state.reset
    # The same frame again: everything is trusted, the output is the carry-weighted blend.
    ab, same = stabilize(state, scene, new_ab, settings)
    assert not same.reset and same.trusted > 0.95
    assert np.allclose(ab[10:-10, 10:-10], 0.8 * 20 - 0.2 * 20, atol=0.5)
    # A block that changed (an occlusion): its chroma is the new prediction, the rest is still carried.
    occluded = scene.copy()
    occluded[20:44, 25:55] = textured(9)[20:44, 25:55]
    ab, part = stabilize(state, occluded, new_ab, settings)
    assert not part.reset
    assert np.allclose(ab[28:36, 33:47], -20.0, atol=1.0)
    assert np.allclose(ab[2:10, 2:10], 12.0, atol=1.0)
    # A different picture altogether: a cut, the prediction as it is.
    ab, cut = stabilize(state, textured(5), new_ab, settings)
    assert cut.reset and np.array_equal(ab, new_ab)


def test_trust_is_low_where_forward_and_backward_flow_disagree():
    frame = normalize_gray(textured(2))
    zero = np.zeros((64, 80, 2), np.float32)
    disagree = zero.copy()
    disagree[:32] = 3.0  # the forward flow says the top half moved 3 px; the backward flow says it did not
    trust = flow_trust(frame, frame, zero, disagree, TemporalSettings())
    assert trust[40:].min() == 1.0 and trust[:28].max() == 0.0


def test_brightness_flicker_is_not_a_cut_or_a_mismatch():
    scene = textured(3)
    brighter = np.clip(scene.astype(int) * 1.15 + 10, 0, 255).astype(np.uint8)
    ab = np.zeros((64, 80, 2), np.float32)
    _, state = stabilize(None, scene, ab)
    _, after = stabilize(state, brighter, ab)
    assert not after.reset and after.trusted > 0.9


def overexposed(frame: np.ndarray) -> np.ndarray:
    """A flash frame: three times as bright, most of it clipped to white."""
    return np.clip(frame.astype(np.float32) * 3.0, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("flashes", [1, 2])
def test_a_flash_is_bridged_the_chroma_before_it_carries_on_after_it(flashes):
    frames = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in pan_frames(5 + flashes, (64, 80), seed=4, step=1)]
    settings = TemporalSettings(carry=1.0)
    before, flash, after = (np.full((64, 80, 2), v, np.float32) for v in (20.0, -30.0, -20.0))
    state = None
    for gray in frames[:3]:
        ab, state = stabilize(state, gray, before, settings)
    for gray in frames[3 : 3 + flashes]:
        ab, state = stabilize(state, overexposed(gray), flash, settings)
    assert np.allclose(ab, flash)  # the flash frames themselves cannot be matched to what came before
    ab, state = stabilize(state, frames[3 + flashes], after, settings)
    assert not state.reset and state.bridged and state.trusted > 0.5
    assert np.allclose(ab[16:-16, 16:-16], 20.0, atol=1.0)  # the chroma from before the flash, not the new guess
    ab, state = stabilize(state, frames[4 + flashes], after, settings)
    assert not state.reset and not state.bridged and np.allclose(ab[16:-16, 16:-16], 20.0, atol=1.0)


@pytest.mark.parametrize("flashes", [1, 2])
def test_the_flash_frames_themselves_take_the_shots_chroma_and_a_cut_away_keeps_its_own(flashes):
    """The stream filter holds frames back as long as a gap may last: flash frames between two frames of one shot
    come out with the shot's chroma; frames of another picture in the same place keep their own; every frame comes
    out once, in order."""
    frames = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in pan_frames(5 + flashes, (64, 80), seed=4, step=1)]
    settings = TemporalSettings(carry=1.0)
    before, flash, after = (np.full((64, 80, 2), v, np.float32) for v in (20.0, -30.0, -20.0))
    for fault in (overexposed, damaged):
        out = run_stabilizer(frames, flashes, fault, settings, before, flash, after)
        assert [index for index, _ in out] == list(range(len(frames)))
        for index, ab in out[3 : 3 + flashes]:
            assert np.allclose(ab[16:-16, 16:-16], 20.0, atol=1.0), (fault.__name__, index)
    cut_away = run_stabilizer(frames, flashes, lambda g: textured(7 + flashes), settings, before, flash, after)
    assert all(np.array_equal(ab, flash) for _, ab in cut_away[3 : 3 + flashes])
    assert np.allclose(cut_away[3 + flashes][1][16:-16, 16:-16], 20.0, atol=1.0)  # still bridged after it


def damaged(frame: np.ndarray) -> np.ndarray:
    """A frame blotched all over (mould, a bad scan): the picture still shows, but too changed to follow."""
    blotches = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 20, frame.shape), (0, 0), 1.0) * 2
    return np.clip(frame + blotches, 0, 255).astype(np.uint8)


def run_stabilizer(frames, flashes, fault, settings, before, flash, after) -> list:
    """Frames 3 .. 3 + flashes faulted, with their own guess `flash`; (index, chroma) as the filter lets them out."""
    stabilizer, out = Stabilizer(settings), []
    for index, gray in enumerate(frames):
        faulted = 3 <= index < 3 + flashes
        guess = flash if faulted else before if index < 3 else after
        out += stabilizer.push(fault(gray) if faulted else gray, guess, index)
        assert len(out) == max(0, index + 1 - settings.bridge_frames)  # held back by bridge_frames, no more
    return out + stabilizer.flush()


def test_without_temporal_smoothing_nothing_is_held_back():
    stabilizer = Stabilizer(TemporalSettings(carry=0.0))
    ab = np.full((64, 80, 2), 5.0, np.float32)
    for index in range(3):
        [(item, out)] = stabilizer.push(textured(index), ab, index)
        assert item == index and np.array_equal(out, ab)
    assert stabilizer.flush() == []


@pytest.mark.parametrize("gap, bridged", [(2, True), (3, False)])
def test_a_cut_is_not_bridged_and_a_gap_longer_than_bridge_frames_starts_afresh(gap, bridged):
    settings = TemporalSettings(carry=1.0, bridge_frames=2)
    one, two = np.full((64, 80, 2), 20.0, np.float32), np.full((64, 80, 2), -20.0, np.float32)
    scene, other = cv2.GaussianBlur(textured(1), (0, 0), 1.5), cv2.GaussianBlur(textured(6), (0, 0), 1.5)
    _, state = stabilize(None, scene, one, settings)
    _, state = stabilize(state, scene, one, settings)
    # A new shot that stays: its second frame follows its own first frame, not the shot before.
    ab, cut = stabilize(state, other, two, settings)
    assert cut.reset and np.array_equal(ab, two)
    ab, kept = stabilize(cut, other, one, settings)
    assert not kept.reset and not kept.bridged and np.allclose(ab, -20.0, atol=0.5)
    # Frames that match nothing, then the shot again: bridged across a gap of bridge_frames, not one longer.
    state = kept
    for seed in range(7, 7 + gap):
        _, state = stabilize(state, textured(seed), one, settings)
        assert state.reset
    ab, back = stabilize(state, other, one, settings)
    assert back.bridged is bridged and back.reset is not bridged
    assert np.allclose(ab, -20.0 if bridged else 20.0, atol=0.5)
