"""Color hints: the page's update latency for a 1000x1000 photo, in Chromium, against a real server on loopback.

Each of N updates sets the one point's color (as a person with the color picker would); the page waits 150 ms
(its debounce), posts the photo with the hints and shows the answer. Timed by the page itself with
performance.now(): change -> new image shown (debounce included), and request -> new image shown.
"""

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from playwright.sync_api import sync_playwright

from colorgan import Colorizer
from colorgan.config import make_config
from colorgan.io.checkpoint import save_checkpoint
from colorgan.nets.build import build_generator, init_weights
from colorgan.serve import create_app, serve_in_thread

TINY = dict(size=32, ngf=8, ndf=8)


def main():
    preset = sys.argv[1] if len(sys.argv) > 1 else "tiny"  # tiny | default
    fmt = sys.argv[2] if len(sys.argv) > 2 else "png"
    updates = 10
    tmp = Path(tempfile.mkdtemp())

    cfg = make_config("unet-lab", **(TINY if preset == "tiny" else {}))  # any model: hints are spread after it
    torch.manual_seed(0)
    generator = build_generator(cfg)
    init_weights(generator)
    save_checkpoint(tmp / "model.safetensors", {"G": generator}, {}, cfg.to_dict(), {"step": 0})

    yy, xx = np.mgrid[0:1000, 0:1000] / 1000
    gray = 128 + 60 * np.sin(8 * xx) * np.cos(5 * yy) + np.random.default_rng(0).normal(0, 8, (1000, 1000))
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).save(tmp / "photo.png")

    colorizer = Colorizer.load(tmp / "model.safetensors", device="cpu")
    with serve_in_thread(create_app(colorizer)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(base + "/")
        page.wait_for_function("document.getElementById('limits-line').textContent.includes('up to')")
        page.select_option("#format", fmt)
        page.set_input_files("#file", str(tmp / "photo.png"))
        page.locator("#hints").wait_for(state="visible", timeout=60_000)
        box = page.locator("#result").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.3)
        page.wait_for_function("() => document.getElementById('result').dataset.hints.length > 2", timeout=60_000)
        change, request, work = [], [], []
        for i in range(updates):
            color = f"#{40 + 20 * i:02x}{200 - 15 * i:02x}5a"
            page.eval_on_selector(
                "#hint-list input[type=color]",
                """(el, c) => { el.value = c;
                el.dispatchEvent(new Event('input', {bubbles: true})); }""",
                color,
            )
            page.wait_for_function(
                "c => document.getElementById('result').dataset.hints.includes(c)", arg=color, timeout=60_000
            )
            change.append(float(page.get_attribute("#result", "data-change-ms")))
            request.append(float(page.get_attribute("#result", "data-request-ms")))
            work.append(
                page.evaluate("""() => { const e = performance.getEntriesByType('resource')
                .filter(r => r.name.endsWith('/api/colorize')).pop();
                const w = (e.serverTiming || []).find(t => t.name === 'work'); return w ? w.duration : -1; }""")
            )
        browser.close()
    print(f"{preset} model (size {cfg.size}, ngf {cfg.ngf}), 1000x1000 photo, {fmt}, {updates} updates:")
    print(
        f"  change -> new image shown (150 ms debounce included): median {statistics.median(change):.0f} ms "
        f"(min {min(change):.0f}, max {max(change):.0f})"
    )
    print(f"  request -> new image shown: median {statistics.median(request):.0f} ms")
    print(f"  server work (decode + colorize + encode, Server-Timing): median {statistics.median(work):.0f} ms")


if __name__ == "__main__":  # the server decodes in spawned processes
    main()
