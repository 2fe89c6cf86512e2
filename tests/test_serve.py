"""The web service against a real uvicorn server on loopback: results, limits, errors, overload, timeouts."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import struct
import tempfile
import threading
import time
import zlib
from urllib.parse import urlsplit

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.colorspace import rgb_to_lab

from .conftest import SlowColorizer
from .helpers import synthetic_photo

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from colorgan import Colorizer  # noqa: E402
from colorgan.serve import ServeLimits, create_app, serve_in_thread  # noqa: E402

LIMITS = ServeLimits(
    max_upload_bytes=300_000,
    max_pixels=250_000,
    workers=1,
    queue=4,
    timeout=30.0,
    body_timeout=2.0,
    head_timeout=1.5,
    max_size=256,
)


def encode(array: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def decode(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def assert_json_error(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    for word in words:
        assert word in detail.lower(), detail
    return detail


@pytest.fixture(scope="module")
def server_tmp(tmp_path_factory):
    """Point Python's temp files at an empty folder for the whole module, to prove none are left behind."""
    folder = tmp_path_factory.mktemp("server-tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(folder))
        mp.setenv("TMPDIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def colorizer(tiny_model):
    return Colorizer.load(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def server(colorizer, server_tmp):
    with serve_in_thread(create_app(colorizer, LIMITS)) as base:
        yield base


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, timeout=30) as http:
        yield http


def open_trickles(base: str, count: int) -> list[socket.socket]:
    """`count` connections that have sent an upload's headers and first boundary, and then nothing."""
    address = urlsplit(base)
    trickles = []
    for _ in range(count):
        raw = socket.create_connection((address.hostname, address.port), timeout=10)
        raw.sendall(
            b"POST /api/colorize HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=zz"
            b"\r\nContent-Length: 100000\r\n\r\n--zz\r\n"
        )
        trickles.append(raw)
    return trickles


def post_image(client, data: bytes, name: str = "photo.png", **fields):
    return client.post("/api/colorize", files={"image": (name, data)}, data={k: str(v) for k, v in fields.items()})


# ---------------------------------------------------------------------------------------------- success
def test_health_and_info(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    for path in ("/", "/healthz", "/api/info"):  # uptime checkers probe with HEAD
        head = client.head(path)
        assert head.status_code == 200 and head.content == b""
    info = client.get("/api/info").json()
    assert info["train_size"] == 32 and info["model"] == "tiny.safetensors" and "/" not in info["model"]
    limits = info["limits"]
    assert limits["max_upload_bytes"] == 300_000 and limits["max_pixels"] == 250_000
    assert limits["workers"] == 1 and limits["queue"] == 4 and limits["formats"] == ["png", "jpeg", "webp"]


def test_colorize_returns_png_at_original_size(client, colorizer):
    photo = encode(synthetic_photo(1, (75, 97)), "PNG")
    response = post_image(client, photo)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    result = decode(response.content)
    assert result.format == "PNG" and result.size == (97, 75) and result.mode == "RGB"
    # The very same inference path as the library.
    expected = np.asarray(colorizer.colorize(photo))
    assert np.array_equal(np.asarray(result), expected)


@pytest.mark.parametrize(
    ("fmt", "mime", "pil_format"),
    [
        ("jpeg", "image/jpeg", "JPEG"),
        ("jpg", "image/jpeg", "JPEG"),
        ("webp", "image/webp", "WEBP"),
        ("PNG", "image/png", "PNG"),
    ],
)
def test_output_formats(client, fmt, mime, pil_format):
    response = post_image(client, encode(synthetic_photo(2, (64, 50)), "JPEG"), "old.jpg", format=fmt)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == mime
    result = decode(response.content)
    assert result.format == pil_format and result.size == (50, 64)


def test_gray_and_transparent_inputs(client):
    gray = post_image(client, encode(synthetic_photo(3, (40, 60)), "JPEG", "L"), "gray.jpg")
    assert gray.status_code == 200 and decode(gray.content).mode == "RGB"
    rgba = np.dstack([synthetic_photo(4, (40, 60)), np.full((40, 60), 200, np.uint8)])
    kept = post_image(client, encode(rgba, "PNG"), "alpha.png")
    assert kept.status_code == 200 and decode(kept.content).mode == "RGBA"
    assert np.all(np.asarray(decode(kept.content))[..., 3] == 200)
    flat = post_image(client, encode(rgba, "PNG"), "alpha.png", format="jpeg")
    assert flat.status_code == 200 and decode(flat.content).mode == "RGB"


def test_size_field(client):
    photo = encode(synthetic_photo(5, (48, 48)))
    assert post_image(client, photo, size=64).status_code == 200
    for bad in ("0", "15", "257", "-32", "abc", "1e3", "64.5"):
        assert_json_error(post_image(client, photo, size=bad), 422, "size")
    assert_json_error(post_image(client, photo, format="gif"), 422, "format")


# ---------------------------------------------------------------------------------------------- color hints
def lightness(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_lab(torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255)[0, 0].numpy()


def test_hints_change_the_colors_and_keep_the_lightness(client, colorizer):
    assert client.get("/api/info").json()["hints"] is True
    photo = encode(synthetic_photo(9, (60, 80)), "PNG", "L")
    plain = post_image(client, photo)
    assert plain.status_code == 200, plain.text
    hints = json.dumps([{"x": 20, "y": 30, "color": "#1040d0", "radius": 6}, {"x": 70.5, "y": 10, "color": "#e04010"}])
    hinted = post_image(client, photo, hints=hints)
    assert hinted.status_code == 200, hinted.text
    plain_rgb, hinted_rgb = np.asarray(decode(plain.content)), np.asarray(decode(hinted.content))
    assert hinted_rgb.shape == plain_rgb.shape == (60, 80, 3)
    assert np.abs(hinted_rgb.astype(int) - plain_rgb).sum(axis=2)[30, 20] > 0  # the photo changed at the hint
    assert float(np.abs(lightness(hinted_rgb) - lightness(plain_rgb)).mean()) < 1.5  # but kept its lightness
    # The very same path as the library, and empty hints are no hints.
    assert np.array_equal(hinted_rgb, np.asarray(colorizer.colorize(photo, hints=hints)))
    for empty in ("[]", " "):
        assert post_image(client, photo, hints=empty).content == plain.content


@pytest.mark.parametrize(
    ("hints", "words"),
    [
        ("not json", ["hints are not valid json"]),
        ('{"x": 1, "y": 2, "color": "#123456"}', ["must be a json list"]),
        (
            '[{"x": 1, "y": 2, "color": "#123456"}, {"x": 80, "y": 2, "color": "#123456"}]',
            ["hint 1", "(80, 2) is outside the 80x60 photo"],
        ),
        ('[{"x": 1, "y": 2}]', ["hint 0", "missing color"]),
        ('[{"x": 1, "y": 2, "color": "red"}]', ["hint 0", "color 'red' is not a hex color"]),
        ('[{"x": 1, "y": null, "color": "#fff"}]', ["hint 0", "y must be a number"]),
        ('[{"x": 1, "y": 2, "color": "#fff", "radius": 500}]', ["hint 0", "radius 500"]),
        ('[{"x": 1, "y": 2, "color": "#fff", "r": 5}]', ["hint 0", "unknown field(s) r"]),
        (json.dumps([{"x": 1, "y": 1, "color": "#000"}] * 65), ["too many hints: 65 (at most 64)"]),
        ('[{"x": 1' + "0" * 400 + ', "y": 2, "color": "#fff"}]', ["a number of 401 digits"]),
        ("[" * 10000, ["nested too deeply"]),
    ],
)
def test_bad_hints_are_422_naming_the_entry(client, hints, words):
    detail = assert_json_error(
        post_image(client, encode(synthetic_photo(10, (60, 80))), "p.png", hints=hints), 422, *words
    )
    assert detail.startswith("p.png: ")


def test_the_hints_field_may_be_longer_than_the_other_fields(client):
    many = json.dumps([{"x": i, "y": i % 40, "color": "#20a040", "radius": 3} for i in range(64)])
    assert 2048 < len(many) < 16 * 1024
    assert post_image(client, encode(synthetic_photo(11, (40, 64))), hints=many).status_code == 200
    assert_json_error(
        post_image(client, encode(synthetic_photo(11, (40, 64))), hints="[" + " " * 17_000 + "]"),
        422,
        "form field 'hints' is too long",
        "16384",
    )
    assert_json_error(
        post_image(client, encode(synthetic_photo(11, (40, 64))), format="p" * 1100), 422, "too long", "1024"
    )


def test_every_model_follows_hints_and_a_colorizer_that_takes_none_refuses_them(client, colorizer):
    photo = encode(synthetic_photo(12, (40, 40)))
    assert client.get("/api/info").json()["hints"] is True  # the tiny model has no hint input: hints are spread
    plain, hinted = post_image(client, photo), post_image(client, photo, hints='[{"x": 1, "y": 2, "color": "#20f"}]')
    assert plain.status_code == hinted.status_code == 200 and plain.content != hinted.content
    with (
        serve_in_thread(create_app(SlowColorizer(colorizer, 0.0), LIMITS)) as base,
        httpx.Client(base_url=base, timeout=30) as own,
    ):
        assert own.get("/api/info").json()["hints"] is False
        detail = assert_json_error(
            post_image(own, photo, hints='[{"x": 1, "y": 2, "color": "#fff"}]'), 422, "takes no color hints"
        )
        assert "/" not in detail  # the model's path on the server is not shown
        assert post_image(own, photo, hints="[]").status_code == 200


def test_the_hints_field_is_documented(client):
    schema = client.get("/openapi.json").json()["paths"]["/api/colorize"]["post"]["requestBody"]
    field = schema["content"]["multipart/form-data"]["schema"]["properties"]["hints"]
    assert field["type"] == "string" and "JSON" in field["description"] and field["maxLength"] == 16 * 1024
    example = json.loads(field["example"])
    assert example[0]["color"].startswith("#") and {"x", "y"} <= set(example[0])


# ---------------------------------------------------------------------------------------------- bad input
def test_too_large_upload_is_413(client):
    big = os.urandom(400_000)
    assert_json_error(post_image(client, big, "big.jpg"), 413, "too large")
    # Far more than the socket buffers hold: the client still reads the 413 (the server drains, then closes).
    assert_json_error(post_image(client, os.urandom(12 * 1024 * 1024), "huge.jpg"), 413, "too large")
    assert client.get("/healthz").status_code == 200


def test_too_large_chunked_upload_is_counted(client):
    """No Content-Length: the bytes are counted while they arrive."""
    head = (
        b'--bnd\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    )

    def body():
        yield head
        for _ in range(40):
            yield b"\xff" * 10_000
        yield b"\r\n--bnd--\r\n"

    response = client.post(
        "/api/colorize", content=body(), headers={"content-type": "multipart/form-data; boundary=bnd"}
    )
    assert "content-length" not in response.request.headers
    assert_json_error(response, 413, "too large")


def test_text_named_jpg_is_415(client):
    assert_json_error(post_image(client, b"hello, I am not a photo\n" * 20, "photo.jpg"), 415, "not an image")
    assert_json_error(post_image(client, b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.png"), 415, "not an image")


def test_an_animation_is_refused_by_name_not_cut_to_its_first_frame(client):
    frames = [Image.fromarray(synthetic_photo(i, (40, 48))) for i in range(3)]
    for fmt in ("GIF", "PNG", "WEBP"):
        buffer = io.BytesIO()
        frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=80)
        response = post_image(client, buffer.getvalue(), f"clip.{fmt.lower()}")
        assert_json_error(response, 422, "an animation of 3 frames")
    still = io.BytesIO()
    frames[0].save(still, format="GIF")
    assert post_image(client, still.getvalue(), "still.gif").status_code == 200


def test_damaged_and_empty_images_are_422(client):
    whole = encode(synthetic_photo(6, (64, 64)), "PNG")
    assert_json_error(post_image(client, whole[: len(whole) // 2], "cut.png"), 422)
    assert_json_error(post_image(client, b"", "empty.png"), 422, "empty")


def test_malformed_requests(client):
    photo = encode(synthetic_photo(7, (32, 32)))
    multipart = "multipart/form-data; boundary=zz"
    truncated = b'--zz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n' + photo
    assert_json_error(client.post("/api/colorize", content=truncated, headers={"content-type": multipart}), 400)
    garbage = b"this is not multipart at all"
    assert_json_error(client.post("/api/colorize", content=garbage, headers={"content-type": multipart}), 400)
    no_boundary = client.post("/api/colorize", content=b"x", headers={"content-type": "multipart/form-data"})
    assert_json_error(no_boundary, 400, "boundary")
    assert_json_error(client.post("/api/colorize", json={"image": "x"}), 415, "multipart")
    assert_json_error(client.post("/api/colorize"), 415)
    assert_json_error(client.post("/api/colorize", files={"file": ("a.png", photo)}), 422, "image")
    assert_json_error(client.post("/api/colorize", data={"size": "64"}, files={"x": ("", b"")}), 422, "image")
    two = [("image", ("a.png", photo)), ("image", ("b.png", photo))]
    assert_json_error(client.post("/api/colorize", files=two), 422, "one photo")


def test_pixel_limit(client):
    wide = encode(np.zeros((500, 600), np.uint8), "PNG")  # 300,000 pixels > 250,000
    assert_json_error(post_image(client, wide, "wide.png"), 413, "pixels")
    assert_json_error(post_image(client, forged_png(60_000, 60_000), "bomb.png"), 413, "pixels")


def forged_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb is refused before decoding."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def test_extreme_aspect_ratio_is_refused_before_inference(client):
    # 4 * 256**2 = 262,144 working pixels at most: a 2 x 200 strip at size 256 would need 256 x 25,600.
    strip = encode(np.full((2, 200), 90, np.uint8), "PNG")
    assert_json_error(post_image(client, strip, "strip.png", size=256), 422, "elongated")
    assert post_image(client, strip, "strip.png", size=16).status_code == 200


def test_no_request_can_name_a_server_path(client):
    # A file name or field that looks like a path is only ever a label; the bytes are what count.
    assert_json_error(post_image(client, b"/etc/passwd", "/etc/passwd"), 415, "not an image")
    ok = post_image(client, encode(synthetic_photo(8, (32, 32))), "../../../../etc/hostname")
    assert ok.status_code == 200
    assert "etc" not in ok.headers["content-disposition"]
    text_field = client.post(
        "/api/colorize", data={"image": "/etc/hostname"}, headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert text_field.status_code in (400, 415, 422)
    assert_json_error(client.get("/static/../../etc/passwd"), 404)


def test_unknown_routes_and_methods_are_json(client):
    assert_json_error(client.get("/nope"), 404, "not found")
    response = client.put("/api/colorize")
    assert_json_error(response, 405, "method")
    assert_json_error(client.delete("/api/info"), 405)


def test_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    for attribute in ('src="http', "src='http", 'href="http', "href='http", "@import", "//cdn"):
        assert attribute not in html
    for needed in (
        'id="file"',
        'id="drop"',
        'id="result"',
        'id="download"',
        'id="slider"',
        'id="busy"',
        'id="error"',
        'name="viewport"',
    ):
        assert needed in html
    assert client.get("/openapi.json").json()["paths"]["/api/colorize"]["post"]["requestBody"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text


# ---------------------------------------------------------------------------------------------- load and time
@pytest.mark.slow
def test_a_slow_upload_times_out_without_blocking_others(server, client):
    address = urlsplit(server)
    raw = socket.create_connection((address.hostname, address.port), timeout=10)
    try:
        raw.sendall(
            b"POST /api/colorize HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
            b"Content-Length: 5000\r\n\r\n--zz\r\n"
        )
        started = time.monotonic()
        other = post_image(client, encode(synthetic_photo(9, (32, 32))))
        assert other.status_code == 200
        assert time.monotonic() - started < LIMITS.body_timeout
        answer = b""
        while chunk := raw.recv(65536):  # the server answers, then closes the connection
            answer += chunk
        assert time.monotonic() - started < LIMITS.body_timeout + 2
    finally:
        raw.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"detail"' in answer and b"application/json" in answer and b"connection: close" in answer.lower()


@pytest.mark.slow
def test_a_connection_that_never_finishes_its_headers_is_closed(server, client):
    address = urlsplit(server)
    idle = socket.create_connection((address.hostname, address.port), timeout=10)
    trickle = socket.create_connection((address.hostname, address.port), timeout=10)
    try:
        started = time.monotonic()
        trickle.sendall(b"POST /api/colorize HTTP/1.1\r\nHost: test\r\n")
        assert client.get("/healthz").status_code == 200  # others are served meanwhile
        assert idle.recv(1024) == b"" and trickle.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < LIMITS.head_timeout + 3
    finally:
        idle.close()
        trickle.close()


def _post_together(base: str, count: int, photo: bytes) -> list[httpx.Response]:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def send(i: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            barrier.wait()
            results[i] = post_image(http, photo)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.slow
def test_overload_answers_503_with_retry_after(colorizer, server_tmp):
    photo = encode(synthetic_photo(10, (40, 40)))
    limits = ServeLimits(workers=1, queue=1, timeout=30.0)
    with serve_in_thread(create_app(SlowColorizer(colorizer, 1.0), limits)) as base:
        responses = _post_together(base, 5, photo)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 503, 503, 503], [r.text for r in responses]
        for r in responses:
            if r.status_code == 503:
                assert_json_error(r, 503, "busy")
                assert int(r.headers["retry-after"]) >= 1
            else:
                assert decode(r.content).size == (40, 40)
        health = httpx.get(f"{base}/healthz").json()
        assert health["running"] == 0 and health["waiting"] == 0 and health["refused"] == 3
        with httpx.Client(base_url=base, timeout=30) as http:
            assert post_image(http, photo).status_code == 200


@pytest.mark.slow
def test_waiting_too_long_answers_503(colorizer, server_tmp):
    photo = encode(synthetic_photo(11, (40, 40)))
    limits = ServeLimits(workers=1, queue=2, timeout=0.5)
    with serve_in_thread(create_app(SlowColorizer(colorizer, 1.2), limits)) as base:
        responses = _post_together(base, 2, photo)
        assert [r.status_code for r in responses] == [503, 503]
        assert all(int(r.headers["retry-after"]) >= 1 for r in responses)
        time.sleep(2.0)  # the running inference finishes and gives its worker back
        health = httpx.get(f"{base}/healthz").json()
        assert health["running"] == 0 and health["waiting"] == 0


def test_server_still_up_and_no_temp_files(client, server_tmp):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["served"] > 5
    assert post_image(client, encode(synthetic_photo(12, (33, 47)))).status_code == 200
    assert list(server_tmp.iterdir()) == []


@pytest.mark.slow
def test_trickling_uploads_are_cut_off_and_a_normal_upload_gets_through(colorizer):
    """40 connections sending a byte a second once held every upload slot for the whole body timeout."""
    limits = ServeLimits(
        max_upload_bytes=300_000,
        workers=1,
        queue=4,
        timeout=30.0,
        body_timeout=60.0,
        head_timeout=5.0,
        max_size=256,
        upload_grace=1.0,
        min_upload_rate=2000,
    )
    with serve_in_thread(create_app(colorizer, limits)) as base:
        trickles = open_trickles(base, 40)
        started = time.monotonic()
        try:
            for _ in range(3):  # keep trickling for a while: a byte every half second
                for raw in trickles:
                    with contextlib.suppress(OSError):
                        raw.sendall(b"x")
                time.sleep(0.5)
            with httpx.Client(base_url=base, timeout=30) as http:  # a normal client, retrying a 503 as told
                answer = post_image(http, encode(synthetic_photo(5, (32, 32))))
                while answer.status_code == 503 and time.monotonic() - started < 10:
                    time.sleep(0.5)
                    answer = post_image(http, encode(synthetic_photo(5, (32, 32))))
            assert answer.status_code == 200 and time.monotonic() - started < 10
            statuses = []
            for raw in trickles:
                raw.settimeout(5)
                statuses.append(raw.recv(4096)[:12])
            # those that got an upload slot are cut off as too slow; the rest were refused a slot at once
            assert statuses.count(b"HTTP/1.1 408") == limits.upload_slots
            assert set(statuses) == {b"HTTP/1.1 408", b"HTTP/1.1 503"}
        finally:
            for raw in trickles:
                raw.close()


def slow_legal_jpeg() -> bytes:
    """A 49-megapixel progressive JPEG: within every limit, about a second to decode here (and seconds more
    to colorize)."""
    small = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((7000, 7000)).save(buffer, format="JPEG", progressive=True, quality=50)
    return buffer.getvalue()


@pytest.mark.slow
def test_a_request_that_times_out_while_decoding_frees_its_worker_at_once(colorizer):
    """A thread cannot be stopped: the worker stayed busy with the decode (and the colorizing after it) long
    after the client's 503, and every upload meanwhile got 503 too."""
    limits = ServeLimits(max_upload_bytes=20_000_000, workers=1, queue=4, timeout=0.5, max_size=256)
    slow = slow_legal_jpeg()
    with serve_in_thread(create_app(colorizer, limits)) as base, httpx.Client(base_url=base, timeout=30) as http:
        assert post_image(http, encode(synthetic_photo(5, (32, 32)))).status_code == 200  # decoders started
        started = time.monotonic()
        answer = post_image(http, slow, "slow.jpg")
        assert answer.status_code == 503 and "took longer" in answer.json()["detail"]
        assert time.monotonic() - started < 2
        time.sleep(0.1)  # the killed decode hands its worker back through the event loop
        assert post_image(http, encode(synthetic_photo(6, (40, 40)))).status_code == 200
        assert http.get("/healthz").json()["running"] == 0


def test_the_decoder_pool_reports_bad_files_and_replaces_a_dead_decoder():
    from colorgan.io.images import ImageReadError
    from colorgan.serve.decoders import DecoderPool

    pool = DecoderPool(1, 10_000_000)
    try:
        loaded = pool.decode(encode(synthetic_photo(3, (30, 50))), "ok.png", 30)
        assert loaded.rgb.shape == (30, 50, 3) and loaded.is_gray
        with pytest.raises(ImageReadError, match="not an image"):
            pool.decode(b"not an image at all", "bad.png", 30)
        (decoder,) = pool._idle
        decoder.process.kill()  # as a codec crash would end it
        decoder.process.join()
        assert pool.decode(encode(synthetic_photo(4, (8, 8))), "next.png", 30).rgb.shape == (8, 8, 3)
    finally:
        pool.close()


@pytest.mark.slow
def test_a_normal_upload_gets_through_while_a_scan_bomb_a_slow_decode_and_40_trickles_are_in_flight(colorizer):
    """Issue #13's whole scenario at once, with one worker: nothing of it may hold the server for long."""
    limits = ServeLimits(
        max_upload_bytes=20_000_000,
        workers=1,
        queue=4,
        timeout=2.0,
        max_size=256,
        upload_grace=1.0,
        min_upload_rate=2000,
    )
    small = io.BytesIO()
    Image.fromarray(synthetic_photo(0, (700, 700))).save(small, format="JPEG", progressive=True)
    bomb = small.getvalue()[:-2] + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" * 3000 + b"\xff\xd9"
    slow = slow_legal_jpeg()
    with serve_in_thread(create_app(colorizer, limits)) as base:
        trickles = open_trickles(base, 40)
        answers: dict[str, int] = {}

        def attack(name: str, data: bytes) -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                answers[name] = post_image(http, data, f"{name}.jpg").status_code

        attackers = [threading.Thread(target=attack, args=(n, d)) for n, d in (("bomb", bomb), ("slow", slow))]
        try:
            for thread in attackers:
                thread.start()
            time.sleep(0.3)
            started = time.monotonic()
            with httpx.Client(base_url=base, timeout=30) as http:  # a normal client, retrying a 503 as told
                answer = post_image(http, encode(synthetic_photo(5, (32, 32))))
                while answer.status_code == 503 and time.monotonic() - started < 8:
                    for raw in trickles:
                        with contextlib.suppress(OSError):
                            raw.sendall(b"x")
                    time.sleep(0.5)
                    answer = post_image(http, encode(synthetic_photo(5, (32, 32))))
            assert answer.status_code == 200 and time.monotonic() - started < 8
            for thread in attackers:
                thread.join(timeout=30)
            assert answers["bomb"] in (422, 503) and answers["slow"] in (200, 503)  # refused, never served
        finally:
            for raw in trickles:
                raw.close()
