"""Hostile images: the one decoder shared by `data`, `colorize` and the server never crashes, hangs or balloons.

Every input must come back as a `LoadedImage` or raise `ImageReadError` (the "skipped: reason" users see) -
never another exception. Seeds are valid PNG, JPEG, WebP, TIFF, GIF, BMP and PPM files made here with Pillow;
hypothesis feeds random bytes, truncations and byte mutations of them.

The CI run is bounded (about 300 examples in all). For a longer run:

    COLORGAN_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_fuzz_images.py -q

Inputs that once crashed live in tests/corpus/ and are replayed by `test_corpus_replays_cleanly`.
"""

from __future__ import annotations

import faulthandler
import io
import os
import struct
import subprocess
import sys
import time
import zlib
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from colorgan.io import images
from colorgan.io.images import ImageReadError, LoadedImage, load_image

from .helpers import synthetic_photo

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::UserWarning"),
]  # Pillow warns about some corrupt metadata

CORPUS = Path(__file__).parent / "corpus"
EXAMPLES = int(os.environ.get("COLORGAN_FUZZ_EXAMPLES", "0"))  # per test; 0 = the CI budget below
SAVE_CRASHES = os.environ.get("COLORGAN_FUZZ_SAVE")  # a folder: crashing inputs are written there
HANG_S = 60  # a single decode that runs this long is a hang: dump the stacks and exit


def fuzz_settings(ci_examples: int):
    return settings(
        max_examples=EXAMPLES or ci_examples,
        deadline=2000,  # ms per example: the slowest legitimate input here decodes in a few ms
        database=None,  # no .hypothesis/ folder in the repo; a failure prints its reproducing example
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ----------------------------------------------------------------------------------------- seeds


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@cache
def seeds() -> dict[str, bytes]:
    """Small valid files covering the formats, modes and features the reader handles."""
    rgb = Image.fromarray(synthetic_photo(7, (20, 24)))
    rgba = Image.fromarray(np.dstack([synthetic_photo(8, (20, 24)), np.arange(480, dtype=np.uint8).reshape(20, 24)]))
    gray = rgb.convert("L")
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    frame2 = Image.fromarray(synthetic_photo(9, (20, 24))).convert("P")
    return {
        "png_rgb": _save(rgb, "PNG"),
        "png_rgba": _save(rgba, "PNG"),
        "png_palette_trns": _save(pal, "PNG", transparency=0),
        "png_gray16": _save(Image.fromarray(np.asarray(gray).astype(np.uint16) * 257), "PNG"),
        "png_1bit": _save(gray.convert("1"), "PNG"),
        "jpeg_rgb": _save(rgb, "JPEG", quality=80),
        "jpeg_gray": _save(gray, "JPEG"),
        "jpeg_progressive_exif": _save(rgb, "JPEG", progressive=True, exif=exif.tobytes()),
        "jpeg_cmyk": _save(rgb.convert("CMYK"), "JPEG"),
        "webp_lossy": _save(rgb, "WEBP", quality=60),
        "webp_lossless_rgba": _save(rgba, "WEBP", lossless=True),
        "tiff_rgb": _save(rgb, "TIFF"),
        "tiff_lzw_gray": _save(gray, "TIFF", compression="tiff_lzw"),
        "tiff_float": _save(Image.fromarray(np.asarray(gray, np.float32) / 255), "TIFF"),
        "gif": _save(pal, "GIF"),
        "gif_animated": _save(pal, "GIF", save_all=True, append_images=[frame2], duration=50, loop=0),
        "bmp": _save(rgb, "BMP"),
        "ppm": _save(rgb, "PPM"),
        "pgm": _save(gray, "PPM"),
    }


# ----------------------------------------------------------------------------------------- the check


def check(data: bytes) -> None:
    """The property: a LoadedImage or an ImageReadError with a reason; a hang dumps stacks and fails."""
    faulthandler.dump_traceback_later(HANG_S, exit=True)
    try:
        try:
            out = load_image(data, name="fuzz")
        except ImageReadError as err:
            assert err.reason and err.name == "fuzz"
            return
        except BaseException:
            if SAVE_CRASHES:
                folder = Path(SAVE_CRASHES)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"crash-{zlib.crc32(data):08x}.bin").write_bytes(data)
            raise
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert isinstance(out, LoadedImage)
    assert out.rgb.dtype == np.uint8 and out.rgb.ndim == 3 and out.rgb.shape[2] == 3
    assert out.rgb.shape[0] * out.rgb.shape[1] > 0
    assert out.alpha is None or out.alpha.shape == out.rgb.shape[:2]


INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]


@st.composite
def mutated(draw) -> bytes:
    """A valid seed with 1-8 mutations (bit flips, interesting bytes, inserts, deletes, block copies),
    biased to the header where the parsers live."""
    data = bytearray(seeds()[draw(st.sampled_from(sorted(seeds())))])
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        head = min(len(data) - 1, 96)
        pos = draw(st.one_of(st.integers(0, head), st.integers(0, len(data) - 1)))
        op = draw(st.sampled_from(["flip", "byte", "insert", "delete", "copy", "word"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[pos] = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif op == "copy":
            src = draw(st.integers(0, len(data) - 1))
            data[pos : pos + 8] = data[src : src + 8]
        else:  # a 16- or 32-bit field set to an extreme: sizes, offsets, counts
            value = draw(st.sampled_from([0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
            fmt = draw(st.sampled_from([">H", "<H", ">I", "<I"]))
            packed = struct.pack(fmt, value & (0xFFFF if fmt.endswith("H") else 0xFFFFFFFF))
            data[pos : pos + len(packed)] = packed
    return bytes(data)


@st.composite
def truncated(draw) -> bytes:
    data = seeds()[draw(st.sampled_from(sorted(seeds())))]
    return data[: draw(st.integers(0, len(data) - 1))]


# ----------------------------------------------------------------------------------------- tests


def test_seeds_are_valid_images():
    for name, data in seeds().items():
        out = load_image(data, name=name)
        assert out.rgb.shape[:2] in ((20, 24), (24, 20)), name  # the EXIF seed is rotated


@fuzz_settings(60)
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    check(data)


@fuzz_settings(40)
@given(
    st.sampled_from(
        [
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xd8\xff",
            b"RIFF\x00\x00\x00\x00WEBPVP8 ",
            b"II*\x00",
            b"MM\x00*",
            b"GIF89a",
            b"BM",
            b"P6\n",
            b"P5\n",
        ]
    ),
    st.binary(max_size=512),
)
def test_magic_then_garbage(magic, rest):
    check(magic + rest)


@fuzz_settings(60)
@given(truncated())
def test_truncated_files(data):
    check(data)


@fuzz_settings(140)
@given(mutated())
def test_mutated_files(data):
    check(data)


# ----------------------------------------------------------------------------------------- bombs


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A few-hundred-byte PNG whose IHDR claims width x height (valid CRC), with one row of real data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    idat = zlib.compress(b"\x00" + b"\x80" * min(width, 4096), 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(seeds()["jpeg_gray"])
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(seeds()["gif"])
    data[6:10] = struct.pack("<HH", width, height)  # logical screen
    table = 3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0  # global color table
    desc = data.index(b"\x2c", 13 + table)
    data[desc + 5 : desc + 9] = struct.pack("<HH", width, height)  # image descriptor
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    image = Image.new("L", (8, 8))
    data = bytearray(_save(image, "TIFF"))
    for tag, value in ((256, width), (257, height)):
        # find the IFD entry for the tag (little-endian, type SHORT or LONG) and overwrite its value
        for kind in (3, 4):
            entry = struct.pack("<HHI", tag, kind, 1)
            at = data.find(entry)
            if at >= 0:
                data[at : at + 12] = struct.pack("<HHII", tag, 4, 1, value)
                break
        else:
            raise AssertionError(f"tag {tag} not found")
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A VP8X (extended) WebP header whose canvas claims width x height."""
    vp8x = bytes([0, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    lossless = seeds()["webp_lossless_rgba"][12:]  # the VP8L chunk of a real file
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x + lossless
    return b"RIFF" + struct.pack("<I", len(body)) + body


BOMBS = {
    "png_100000x100000": png_claiming(100_000, 100_000),
    "png_8000x8000": png_claiming(8_000, 8_000),  # 64 Mpx: over our 50 Mpx limit, under Pillow's own checks
    "png_12000x12000": png_claiming(12_000, 12_000),  # 144 Mpx: over our limit, under Pillow's own bomb error
    "jpeg_65500x65500": jpeg_claiming(65_500, 65_500),
    "gif_65535x65535": gif_claiming(65_535, 65_535),
    "tiff_100000x100000": tiff_claiming(100_000, 100_000),
    "webp_16384x16384": webp_claiming(16_384, 16_384),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_decompression_bombs_are_refused_before_decoding(name):
    data = BOMBS[name]
    assert len(data) < 10_000  # a small file claiming a huge image
    start = time.perf_counter()
    with pytest.raises(ImageReadError) as err:
        load_image(data, name=name)
    assert time.perf_counter() - start < 2.0
    assert "refused" in err.value.reason or "cannot decode" in err.value.reason


def test_pixel_limit_is_configurable():
    with pytest.raises(ImageReadError, match="exceeds the limit of 100"):
        load_image(seeds()["png_rgb"], max_pixels=100)
    assert load_image(seeds()["png_rgb"], max_pixels=480).rgb.shape == (20, 24, 3)


def test_bombs_stay_within_bounded_memory(tmp_path):
    """Under a 1 GiB address-space limit (a decoded 100000 x 100000 image would need 30 GB), every bomb is
    refused with a reason, in a fresh process that imports only the reader."""
    for name, data in BOMBS.items():
        (tmp_path / f"{name}.bin").write_bytes(data)
    script = (
        "import resource, sys, pathlib\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from colorgan.io.images import load_image, ImageReadError\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.bin')):\n"
        "    try:\n"
        "        load_image(p)\n"
        "        print('loaded', p.name)\n"
        "    except ImageReadError as e:\n"
        "        print('skipped', p.name, e.reason)\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(BOMBS), proc.stdout
    assert all(line.startswith("skipped") for line in lines), proc.stdout


# ----------------------------------------------------------------------------------------- corpus


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*") if p.is_file() and p.suffix != ".md")


def test_corpus_is_there():
    assert len(corpus_files()) >= 3


@pytest.mark.parametrize("all_decoders", [False, True], ids=["decoders", "all-pillow-decoders"])
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_replays_cleanly(path, all_decoders, monkeypatch):
    """Each input that once crashed the reader is now a clean load or a clean skip, through both the bytes path
    (server) and the file path (data, colorize); also with every Pillow decoder enabled, so the catch-all
    guards even if the decoder list grows."""
    if all_decoders:
        monkeypatch.setattr(images, "DECODERS", None)
    check(path.read_bytes())
    try:
        load_image(path)
    except ImageReadError as err:
        assert err.name == str(path)


OTHER_FORMATS = {
    "ICO": "RGB",
    "PCX": "RGB",
    "TGA": "RGB",
    "SGI": "RGB",
    "DDS": "RGBA",
    "QOI": "RGB",
    "JPEG2000": "RGB",
    "SPIDER": "F",
    "XBM": "1",
    "EPS": "RGB",
    "BLP": "P",
}


@pytest.mark.parametrize("fmt", sorted(OTHER_FORMATS))
def test_other_pillow_formats_are_refused_cleanly(fmt):
    """Only the accepted formats reach a decoder: a valid ICO, TGA, JPEG 2000, EPS (Ghostscript!) ... is a skip."""
    try:
        data = _save(Image.fromarray(synthetic_photo(1, (16, 16))).convert(OTHER_FORMATS[fmt]), fmt)
    except (OSError, KeyError, ValueError) as exc:
        pytest.skip(f"this Pillow cannot write {fmt}: {exc}")
    with pytest.raises(ImageReadError, match="unrecognized format"):
        load_image(data)
