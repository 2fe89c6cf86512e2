"""The page at `/` in a real browser: Playwright driving Debian's Chromium against a real server on loopback.

Playwright never downloads a browser here: `.ci/run` installs Debian's `chromium` package. Screenshots are saved
under test-artifacts/ at the repository root.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import SlowColorizer
from .helpers import synthetic_photo

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

from colorgan import Colorizer  # noqa: E402
from colorgan.serve import ServeLimits, create_app, serve_in_thread  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
UPLOAD_LIMIT = 200_000



@pytest.fixture(scope="module")
def server(tiny_model):
    colorizer = SlowColorizer(Colorizer.load(tiny_model, device="cpu"), 0.6)
    with serve_in_thread(create_app(colorizer, ServeLimits(max_upload_bytes=UPLOAD_LIMIT))) as base:
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
            " dt.items.add(new File(['just some notes'], 'notes.jpg', {type: 'image/jpeg'})); return dt; }")
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
    context, page, errors = open_page(browser, server, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                      is_mobile=True, has_touch=True)
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
