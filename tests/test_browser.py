"""The page at `/` in a real browser: Playwright driving Debian's Chromium against a real server on loopback.

Playwright never downloads a browser here: `.ci/run` installs Debian's `chromium` package. Screenshots are saved
under test-artifacts/ at the repository root.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from .conftest import SlowColorizer
from .helpers import save_bins_model, synthetic_photo

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

from colorgan import Colorizer, colorspace  # noqa: E402
from colorgan.serve import ServeLimits, create_app, serve_in_thread  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
UPLOAD_LIMIT = 200_000


@pytest.fixture(scope="module")
def server(tiny_model):
    colorizer = SlowColorizer(Colorizer.load(tiny_model, device="cpu"), 0.6)
    with serve_in_thread(create_app(colorizer, ServeLimits(max_upload_bytes=UPLOAD_LIMIT))) as base:
        yield base


@pytest.fixture(scope="module")
def model_server(tiny_model):
    """A server of the tiny untrained model itself, with no stand-in in front: it takes hints, as every model does."""
    with serve_in_thread(
        create_app(Colorizer.load(tiny_model, device="cpu"), ServeLimits(max_upload_bytes=UPLOAD_LIMIT))
    ) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def photo_files(tmp_path):
    """A gray landscape PNG, a gray portrait JPEG and a noisy PNG over the upload limit."""
    landscape = tmp_path / "harbour.png"
    Image.fromarray(synthetic_photo(21, (150, 200))).convert("L").save(landscape)
    portrait = tmp_path / "grandma.jpg"
    Image.fromarray(synthetic_photo(22, (360, 270))).convert("L").save(portrait, quality=90)
    noisy = tmp_path / "huge.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(noisy)
    assert noisy.stat().st_size > UPLOAD_LIMIT
    return {"landscape": landscape, "portrait": portrait, "noisy": noisy}


def open_page(browser, base: str, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(base + "/")
    sync_api.expect(page.locator("#limits-line")).to_contain_text("up to")  # /api/info was read
    return context, page, errors


def natural_size(page, selector: str) -> tuple[int, int]:
    return tuple(page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]"))


def test_upload_colorize_compare_and_download(server, browser, photo_files):
    context, page, errors = open_page(browser, server, viewport={"width": 1280, "height": 900})
    try:
        page.set_input_files("#file", str(photo_files["landscape"]))
        sync_api.expect(page.locator("#busy")).to_be_visible()  # the busy state shows while it works
        sync_api.expect(page.locator("#busy-text")).to_contain_text("harbour.png")
        sync_api.expect(page.locator("#result-area")).to_be_visible(timeout=30_000)
        sync_api.expect(page.locator("#busy")).to_be_hidden()
        assert natural_size(page, "#result") == (200, 150)
        assert natural_size(page, "#original") == (200, 150)
        assert page.eval_on_selector("#result", "img => img.complete && img.getBoundingClientRect().width > 100")

        page.locator("#slider").fill("20")
        assert "80%" in page.eval_on_selector("#original", "img => img.style.clipPath")

        link = page.locator("#download")
        sync_api.expect(link).to_be_visible()
        assert link.get_attribute("href").startswith("blob:")
        assert link.get_attribute("download") == "harbour-colorized.png"
        with page.expect_download() as info:
            link.click()
        downloaded = Image.open(io.BytesIO(Path(info.value.path()).read_bytes()))
        assert downloaded.format == "PNG" and downloaded.size == (200, 150)

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser.png"), full_page=True)
        assert errors == []
    finally:
        context.close()


def test_readable_errors_for_a_dropped_non_image_and_a_too_large_file(server, browser, photo_files):
    context, page, _ = open_page(browser, server, viewport={"width": 1024, "height": 768})
    try:
        # Drag and drop a text file named like a photo: the server judges the content and the page says so.
        dropped = page.evaluate_handle(
            "() => { const dt = new DataTransfer();"
            " dt.items.add(new File(['just some notes'], 'notes.jpg', {type: 'image/jpeg'})); return dt; }"
        )
        page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
        error = page.locator("#error")
        sync_api.expect(error).to_be_visible(timeout=30_000)
        sync_api.expect(error).to_contain_text("Not an image")
        sync_api.expect(error).to_contain_text("notes.jpg")

        page.set_input_files("#file", str(photo_files["noisy"]))
        sync_api.expect(error).to_contain_text("File too large")
        sync_api.expect(page.locator("#result-area")).to_be_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-error.png"))
    finally:
        context.close()


def test_phone_viewport(server, browser, photo_files):
    context, page, errors = open_page(
        browser, server, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page.set_input_files("#file", str(photo_files["portrait"]))
        sync_api.expect(page.locator("#result-area")).to_be_visible(timeout=30_000)
        assert natural_size(page, "#result") == (270, 360)
        # Nothing wider than the phone: no sideways scrolling, and the result and the button fit the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = page.locator("#result").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        button = page.locator("#download").bounding_box()
        assert button["x"] + button["width"] <= 390 and button["height"] >= 40
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-phone.png"), full_page=True)
        assert errors == []
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------- color hints
READ_RESULT = """img => { const c = document.createElement("canvas"); c.width = img.naturalWidth;
  c.height = img.naturalHeight; const ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(0, 0, c.width, c.height).data); }"""
# The image shown was made with the points the page holds now, and they include `text`.
RESULT_UP_TO_DATE = """text => {
  const r = document.getElementById("result"), list = document.getElementById("hint-list");
  return r.dataset.hints === list.dataset.hints && r.dataset.hints.includes(text); }"""
SET_COLOR = """(el, color) => { el.value = color;
  el.dispatchEvent(new Event("input", {bubbles: true})); el.dispatchEvent(new Event("change", {bubbles: true})); }"""


def wait_for_result(page, text: str = "") -> str:
    page.wait_for_function(RESULT_UP_TO_DATE, arg=text, timeout=30_000)
    return page.get_attribute("#result", "data-hints")


def result_pixels(page) -> np.ndarray:
    width, height = natural_size(page, "#result")
    return np.array(page.eval_on_selector("#result", READ_RESULT), np.uint8).reshape(height, width, 4)[..., :3]


def stored_points(page) -> list[dict]:
    return [
        {"x": int(item.get_attribute("data-x")), "y": int(item.get_attribute("data-y"))}
        for item in page.locator("#hint-list li").all()
    ]


def test_place_color_drag_and_delete_a_hint(model_server, browser, photo_files):
    context, page, errors = open_page(browser, model_server, viewport={"width": 1000, "height": 900})
    try:
        page.set_input_files("#file", str(photo_files["landscape"]))  # 200 x 150
        sync_api.expect(page.locator("#hints")).to_be_visible(timeout=30_000)
        automatic = result_pixels(page).astype(int)

        # Click on the photo: a point at the photo's own pixel there, its color suggested by the automatic result.
        box = click_photo(page, 0.25, 0.4)
        scale = 200 / box["width"]
        sync_api.expect(page.locator("#hint-list li")).to_have_count(1)
        [point] = stored_points(page)
        assert abs(point["x"] - 50) <= 1 and abs(point["y"] - 60) <= 1
        picker = page.locator("#hint-list input[type=color]")
        suggested = picker.input_value()
        expected = automatic[point["y"], point["x"]]
        assert np.abs(np.array([int(suggested[i : i + 2], 16) for i in (1, 3, 5)]) - expected).max() <= 24
        sync_api.expect(page.locator(".hint-dot")).to_have_count(1)

        # A new color: the result is colorized again with the hint.
        picker.evaluate(SET_COLOR, "#1040d0")
        wait_for_result(page, "#1040d0")
        hinted = result_pixels(page).astype(int)
        assert np.abs(hinted - automatic).sum(axis=2)[point["y"], point["x"]] > 0
        assert np.abs(hinted - automatic).mean() > 0.5
        assert page.eval_on_selector(".hint-dot", "dot => getComputedStyle(dot).backgroundColor") == "rgb(16, 64, 208)"

        # Quick changes: they wait for a pause, one request at a time, and the last one wins.
        posts = []

        def count_posts(request):
            if request.url.endswith("/api/colorize"):
                posts.append(request)

        page.on("request", count_posts)
        for color in ("#20a040", "#a02040", "#d0c020"):
            picker.evaluate(SET_COLOR, color)
        wait_for_result(page, "#d0c020")
        page.remove_listener("request", count_posts)
        assert len(posts) == 1
        picker.evaluate(SET_COLOR, "#1040d0")
        wait_for_result(page, "#1040d0")
        assert np.array_equal(result_pixels(page).astype(int), hinted)  # the same hints, the same result

        # Drag the point: it moves in the photo's pixels, and the result follows.
        dot = page.locator(".hint-dot").bounding_box()
        start = (dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(start[0] + 60, start[1] + 30, steps=6)
        page.mouse.up()
        [moved] = stored_points(page)
        assert abs(moved["x"] - (point["x"] + 60 * scale)) <= 2 and abs(moved["y"] - (point["y"] + 30 * scale)) <= 2
        wait_for_result(page, f'"x":{moved["x"]},"y":{moved["y"]}')
        assert not np.array_equal(result_pixels(page).astype(int), hinted)
        assert page.locator("#hint-list li").count() == 1  # the drag added no point
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-hints.png"), full_page=True)

        # Delete it: back to the automatic result.
        page.get_by_role("button", name="Delete point 1").click()
        sync_api.expect(page.locator("#hint-list li")).to_have_count(0)
        assert wait_for_result(page) == "[]"
        assert np.abs(result_pixels(page).astype(int) - automatic).max() <= 2

        # The keyboard: a new point has the focus; arrow keys nudge it and Delete removes it.
        click_photo(page, 0.7, 0.5)
        sync_api.expect(page.locator(".hint-dot")).to_be_focused()
        [placed] = stored_points(page)
        page.keyboard.press("ArrowRight")
        assert stored_points(page) == [{"x": placed["x"] + 1, "y": placed["y"]}]
        page.keyboard.press("Delete")
        sync_api.expect(page.locator("#hint-list li")).to_have_count(0)

        # Without a mouse at all: "Add a point" (reached and pressed by keyboard) places one in the middle.
        page.locator("#add-hint").focus()
        page.keyboard.press("Enter")
        sync_api.expect(page.locator(".hint-dot")).to_be_focused()
        assert stored_points(page) == [{"x": 100, "y": 75}]
        page.keyboard.press("ArrowUp")
        assert stored_points(page) == [{"x": 100, "y": 74}]
        assert errors == []
    finally:
        context.close()


RESULT_DECODED = "() => { const r = document.getElementById('result'); return r.complete && r.naturalWidth > 0; }"
SCROLL_TO_MIDDLE = """(img, fy) => { const b = img.getBoundingClientRect();
  window.scrollBy(0, b.top + b.height * fy - innerHeight / 2); }"""


def click_photo(page, fx: float, fy: float) -> dict:
    """Click at (fx, fy) of the shown result's width and height, once it is laid out, and return its box.

    A tall photo can reach below the viewport, where a mouse click lands on nothing; the point is scrolled to the
    middle of the viewport first.
    """
    page.wait_for_function(RESULT_DECODED)
    page.locator("#result").evaluate(SCROLL_TO_MIDDLE, fy)
    box = page.locator("#result").bounding_box()
    page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    return box


def click_for_swatches(page, photo: Path, fx: float, fy: float):
    """Upload `photo`, click at (fx, fy) of the result's width and height, and wait for that point's swatches."""
    page.set_input_files("#file", str(photo))
    sync_api.expect(page.locator("#hints")).to_be_visible(timeout=30_000)
    click_photo(page, fx, fy)
    swatches = page.locator("#hint-list .palette button")
    sync_api.expect(swatches.first).to_be_visible(timeout=30_000)
    return swatches


def test_pick_a_color_from_the_palette_and_download_the_result(browser, photo_files, tmp_path):
    """A bins model whose head favours one color: a click shows its swatches, a swatch becomes the hint, and the
    downloaded photo has that color at the point."""
    model = save_bins_model(tmp_path / "bins.safetensors", preferred=(-20, 40))
    app = create_app(Colorizer.load(model, device="cpu"), ServeLimits(max_upload_bytes=UPLOAD_LIMIT))
    with serve_in_thread(app) as base:
        context, page, errors = open_page(browser, base, viewport={"width": 1000, "height": 900})
        try:
            swatches = click_for_swatches(page, photo_files["landscape"], 0.5, 0.5)  # 200 x 150
            [point] = stored_points(page)
            offered = swatches.first.get_attribute("data-color")
            swatches.first.click()
            wait_for_result(page, offered)
            with page.expect_download() as info:
                page.locator("#download").click()
            downloaded = np.asarray(Image.open(io.BytesIO(Path(info.value.path()).read_bytes())).convert("RGB"))
            at_point = colorspace.rgb_to_lab(
                torch.tensor(downloaded[point["y"], point["x"]], dtype=torch.float32).view(1, 3, 1, 1) / 255
            )[0, :, 0, 0]
            assert float(at_point[1]) < -5 and float(at_point[2]) > 10  # the favoured class (-20, 40): yellow-green
            assert errors == []
        finally:
            context.close()


@pytest.mark.parametrize("orientation", [1, 6])  # 6: a phone photo stored on its side, turned by its EXIF tag
def test_the_palette_of_a_large_photo_is_asked_on_a_small_copy(browser, tmp_path, orientation):
    """A click does not send the whole photo again: the palette request carries a copy 1024 px on its long side,
    turned as the server turns the photo, with the point scaled to it; its swatches are the full photo's."""
    photo = tmp_path / "scan.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(synthetic_photo(23, (1500, 2000))).convert("L").save(photo, quality=95, exif=exif)
    width, height = (2000, 1500) if orientation == 1 else (1500, 2000)
    colorizer = Colorizer.load(save_bins_model(tmp_path / "bins.safetensors", preferred=(30, 20)), device="cpu")
    asked = []
    full_palette = colorizer.palette

    def palette(image, x, y, count=5, size=None):  # the real palette, noting what the server was sent
        asked.append((image.rgb.shape[:2], x, y))
        return full_palette(image, x, y, count, size)

    colorizer.palette = palette
    app = create_app(colorizer, ServeLimits(max_upload_bytes=8_000_000))
    with serve_in_thread(app) as base:
        context, page, errors = open_page(browser, base, viewport={"width": 1000, "height": 900})
        try:
            swatches = click_for_swatches(page, photo, 0.3, 0.6)
            [point] = stored_points(page)
            [(shape, x, y)] = asked
            small = (768, 1024) if orientation == 1 else (1024, 768)
            assert shape == small
            assert abs(x - point["x"] * small[1] / width) <= 1 and abs(y - point["y"] * small[0] / height) <= 1
            [full] = full_palette(photo, point["x"], point["y"], count=1)
            assert np.abs(hex_rgb(swatches.first.get_attribute("data-color")) - hex_rgb(full.hex)).max() <= 4
            assert errors == []
        finally:
            context.close()


def test_a_large_photo_shows_its_hints_on_the_small_copy_first_and_downloads_them_at_full_size(browser, tmp_path):
    """A hint change on a 2000 x 1500 photo is shown first from the 1024 px copy (quick to send, colorize and
    encode), then the full-size result replaces it; Download is off in between and saves the full size."""
    photo = tmp_path / "scan.jpg"
    Image.fromarray(synthetic_photo(29, (1500, 2000))).convert("L").save(photo, quality=95)
    colorizer = Colorizer.load(save_bins_model(tmp_path / "bins.safetensors"), device="cpu")
    sizes = []  # (h, w, points) of each colorize request with hints
    colorize = colorizer.colorize

    def noting(image, size=None, hints=None):
        if hints:
            sizes.append((*image.rgb.shape[:2], len(hints)))
        return colorize(image, size, hints=hints)

    colorizer.colorize = noting
    app = create_app(colorizer, ServeLimits(max_upload_bytes=8_000_000))
    with serve_in_thread(app) as base:
        context, page, errors = open_page(browser, base, viewport={"width": 1000, "height": 900})
        try:
            page.set_input_files("#file", str(photo))
            sync_api.expect(page.locator("#hints")).to_be_visible(timeout=30_000)
            click_photo(page, 0.4, 0.5)
            [point] = stored_points(page)
            page.locator("#hint-list input[type=color]").evaluate(SET_COLOR, "#c03010")
            shown = wait_for_result(page, "#c03010")
            assert page.get_attribute("#result", "data-preview-hints") == shown  # the copy came first
            assert sizes[-2:] == [(768, 1024, 1), (1500, 2000, 1)]
            assert natural_size(page, "#result") == (2000, 1500)
            assert page.get_attribute("#download", "aria-disabled") is None
            with page.expect_download() as info:
                page.locator("#download").click()
            downloaded = np.asarray(Image.open(io.BytesIO(Path(info.value.path()).read_bytes())).convert("RGB"))
            assert downloaded.shape == (1500, 2000, 3)
            at = downloaded[point["y"], point["x"]].astype(int)
            assert at[0] > at[2] + 40  # the hint's red, at full size
            assert errors == []
        finally:
            context.close()


def test_a_hint_answer_for_the_old_photo_that_lands_during_a_new_upload_is_dropped(browser, tmp_path):
    """The server holds the hinted answer for photo A until photo B's upload is being colorized, then lets it go:
    the page must not show A's hinted result in the middle of B's upload (the page's hint path used to check only
    that A was still the photo shown, which it is until B's answer arrives), and B must then be shown, with its
    own size and a working Download."""
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    Image.fromarray(synthetic_photo(31, (150, 200))).convert("L").save(first)
    Image.fromarray(synthetic_photo(32, (240, 180))).convert("L").save(second)
    colorizer = Colorizer.load(save_bins_model(tmp_path / "bins.safetensors"), device="cpu")
    colorize = colorizer.colorize
    hinted_entered, release_hinted = threading.Event(), threading.Event()
    second_entered, release_second = threading.Event(), threading.Event()

    def held(image, size=None, hints=None):
        if hints:
            hinted_entered.set()
            release_hinted.wait(30)
        elif image.rgb.shape[:2] == (240, 180):
            second_entered.set()
            release_second.wait(30)
        return colorize(image, size, hints=hints)

    colorizer.colorize = held
    app = create_app(colorizer, ServeLimits(workers=2))
    with serve_in_thread(app) as base:
        context, page, errors = open_page(browser, base, viewport={"width": 1000, "height": 900})
        try:
            page.set_input_files("#file", str(first))
            sync_api.expect(page.locator("#hints")).to_be_visible(timeout=30_000)
            click_photo(page, 0.5, 0.5)
            assert hinted_entered.wait(30)
            page.set_input_files("#file", str(second))
            assert second_entered.wait(30)
            # B's answer is held, so the next answer from /api/colorize is A's hinted one
            with page.expect_response(lambda r: "/api/colorize" in r.url):
                release_hinted.set()
            page.wait_for_timeout(500)  # time for the page to handle the stale answer
            assert page.get_attribute("#result", "data-hints") == "[]"  # A's hinted result was not shown
            release_second.set()
            page.wait_for_function("() => document.querySelector('#result').naturalWidth === 180", timeout=30_000)
            sync_api.expect(page.locator("#busy")).to_be_hidden()
            assert natural_size(page, "#result") == (180, 240)
            assert page.get_attribute("#result", "data-hints") == "[]"
            assert page.get_attribute("#download", "aria-disabled") is None
            assert page.locator(".hint-dot").count() == 0  # B starts without A's point
            assert errors == []
        finally:
            release_hinted.set()
            release_second.set()
            context.close()


def test_an_upload_the_server_refuses_leaves_the_photo_shown_taking_hints(model_server, browser, photo_files, tmp_path):
    """A new upload makes the shown photo's pending answers stale; when the server refuses it, the photo still
    shown must take hints again, the point set during the failed upload included."""
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 20)
    context, page, errors = open_page(browser, model_server, viewport={"width": 1000, "height": 900})
    try:
        page.set_input_files("#file", str(photo_files["landscape"]))
        sync_api.expect(page.locator("#hints")).to_be_visible(timeout=30_000)
        page.set_input_files("#file", str(broken))
        sync_api.expect(page.locator("#error")).to_be_visible(timeout=30_000)
        sync_api.expect(page.locator("#busy")).to_be_hidden()
        click_photo(page, 0.5, 0.5)
        page.locator("#hint-list input[type=color]").evaluate(SET_COLOR, "#10a040")
        assert "#10a040" in wait_for_result(page, "#10a040")
        assert natural_size(page, "#result") == (200, 150)
    finally:
        context.close()


def test_a_full_size_hint_answer_that_cannot_be_shown_gives_back_the_last_result_and_its_download(browser, tmp_path):
    """On a large photo a hint change shows the 1024 px preview and turns Download off until the full size comes.
    A full-size answer the browser cannot display must bring back the last full-size result with Download on,
    and say so, instead of leaving the preview with Download off for good."""
    photo = tmp_path / "scan.jpg"
    Image.fromarray(synthetic_photo(33, (1500, 2000))).convert("L").save(photo, quality=95)
    colorizer = Colorizer.load(save_bins_model(tmp_path / "bins.safetensors"), device="cpu")
    app = create_app(colorizer, ServeLimits(max_upload_bytes=8_000_000))

    def broken_full_size(route):
        body = route.request.post_data_buffer or b""
        if b'name="hints"' in body and b'name="format"\r\n\r\npng' in body:
            route.fulfill(status=200, content_type="image/png", body=b"not a PNG at all")
        else:
            route.continue_()

    with serve_in_thread(app) as base:
        context, page, errors = open_page(browser, base, viewport={"width": 1000, "height": 900})
        try:
            page.set_input_files("#file", str(photo))
            sync_api.expect(page.locator("#hints")).to_be_visible(timeout=30_000)
            automatic = page.get_attribute("#download", "href")
            page.route("**/api/colorize", broken_full_size)
            click_photo(page, 0.4, 0.5)
            sync_api.expect(page.locator("#error")).to_contain_text("cannot display", timeout=30_000)
            assert page.get_attribute("#result", "data-preview-hints") is not None  # the preview had been shown
            assert page.get_attribute("#download", "aria-disabled") is None
            assert page.get_attribute("#download", "href") == automatic
            assert page.get_attribute("#result", "src") == automatic
            assert natural_size(page, "#result") == (2000, 1500)
        finally:
            context.close()


def hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])


def test_a_model_without_hints_says_so(server, browser, photo_files):
    context, page, errors = open_page(browser, server, viewport={"width": 1024, "height": 768})
    try:
        page.set_input_files("#file", str(photo_files["landscape"]))
        sync_api.expect(page.locator("#result-area")).to_be_visible(timeout=30_000)
        sync_api.expect(page.locator("#hints-off")).to_contain_text("not available")
        sync_api.expect(page.locator("#hints")).to_be_hidden()
        click_photo(page, 0.3, 0.5)
        assert page.locator(".hint-dot").count() == 0
        assert page.eval_on_selector("#slider", "s => s.value") == "30"  # a click still moves the before/after line
        assert errors == []
    finally:
        context.close()


def test_a_model_without_hints_says_so_when_info_did_not(server, browser, photo_files):
    """/api/info unreadable: the page offers hints, and the server's 422 turns them off with a readable note."""
    context, page, _ = open_page(browser, server, viewport={"width": 1024, "height": 768})
    try:
        page.route("**/api/info", lambda route: route.fulfill(status=404, json={"detail": "not found"}))
        page.reload()
        page.set_input_files("#file", str(photo_files["landscape"]))
        sync_api.expect(page.locator("#hints")).to_be_visible(timeout=30_000)
        click_photo(page, 0.5, 0.5)
        error = page.locator("#error")
        sync_api.expect(error).to_contain_text("These hints cannot be used", timeout=30_000)
        sync_api.expect(error).to_contain_text("takes no color hints")
        sync_api.expect(page.locator("#hints-off")).to_contain_text("not available")
        sync_api.expect(page.locator("#hints")).to_be_hidden()
        assert page.locator(".hint-dot").count() == 0
    finally:
        context.close()


def test_the_api_docs_render_with_no_network(server, browser):
    """/docs loaded Swagger UI from a CDN: blank offline. Every request off this server is refused here."""
    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(server):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", only_this_server)
    try:
        page.goto(server + "/docs")
        operations = page.locator(".opblock-summary-path")
        sync_api.expect(operations.first).to_be_visible(timeout=15_000)
        paths = operations.all_inner_texts()
        assert any("/api/colorize" in p for p in paths) and any("/api/info" in p for p in paths)
        assert outside == []
    finally:
        context.close()


def test_an_error_after_a_result_is_scrolled_into_view(server, browser, photo_files):
    """A failed second upload put its message above the old result, out of view on a small screen."""
    context, page, _ = open_page(browser, server, viewport={"width": 700, "height": 500})
    try:
        page.set_input_files("#file", str(photo_files["landscape"]))
        sync_api.expect(page.locator("#result-area")).to_be_visible(timeout=30_000)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.set_input_files("#file", str(photo_files["noisy"]))  # over the upload limit
        error = page.locator("#error")
        sync_api.expect(error).to_contain_text("File too large")
        sync_api.expect(error).to_be_in_viewport(timeout=5_000)
    finally:
        context.close()
