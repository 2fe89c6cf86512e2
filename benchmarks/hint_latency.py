"""Color hints: how long the page takes to show a hint change, in Chromium, against a real server on loopback.

Each of N updates sets the one point's color (as a person with the color picker would); the page waits 150 ms
(its debounce), then shows the change. On a photo larger than the page's 1024 px copy it shows a preview made from
the copy first, then the full-size result (the one Download saves). Timed by the page itself with
performance.now(), from the change: the preview shown (`data-preview-ms`) and the full-size result shown
(`data-change-ms`), and the full-size request alone (`data-request-ms`); the server's own work from Server-Timing.

    python benchmarks/hint_latency.py --width 4000 --height 3000 --json benchmarks/results/hint_latency_12mp.json
    python benchmarks/hint_latency.py --model tiny --width 1000 --height 1000   # the 2026-11-26 setting
"""

from __future__ import annotations

import argparse
import json
import statistics
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

SET_COLOR = """(el, c) => { el.value = c; el.dispatchEvent(new Event('input', {bubbles: true})); }"""
SERVER_WORK = """() => { const e = performance.getEntriesByType('resource')
  .filter(r => r.name.endsWith('/api/colorize')).pop();
  const w = (e.serverTiming || []).find(t => t.name === 'work'); return w ? w.duration : -1; }"""


def tiny_model(folder: Path) -> Path:
    cfg = make_config("unet-lab", size=32, ngf=8, ndf=8)  # any model: hints are spread after it
    torch.manual_seed(0)
    generator = build_generator(cfg)
    init_weights(generator)
    save_checkpoint(folder / "model.safetensors", {"G": generator}, {}, cfg.to_dict(), {"step": 0})
    return folder / "model.safetensors"


def gray_photo(path: Path, width: int, height: int) -> Path:
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    gray = 128 + 60 * np.sin(8 * xx) * np.cos(5 * yy) + np.random.default_rng(0).normal(0, 8, (height, width))
    image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    image.save(path, quality=92) if path.suffix == ".jpg" else image.save(path)
    return path


def median(values: list[float]) -> float | None:
    values = [v for v in values if v == v]
    return round(statistics.median(values), 1) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="weights or run folder (default: the shipped model; 'tiny': an untrained one)")
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--photo-format", choices=["jpg", "png"], default="jpg", help="the uploaded photo's format")
    parser.add_argument("--format", choices=["png", "jpeg"], default="png", help="the page's answer format")
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    model = tiny_model(tmp) if args.model == "tiny" else args.model
    photo = gray_photo(tmp / f"photo.{args.photo_format}", args.width, args.height)
    colorizer = Colorizer.load(model, device="cpu")
    preview, change, request, work = [], [], [], []
    with serve_in_thread(create_app(colorizer)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(base + "/")
        page.wait_for_function("document.getElementById('limits-line').textContent.includes('up to')")
        page.select_option("#format", args.format)
        page.set_input_files("#file", str(photo))
        page.locator("#hints").wait_for(state="visible", timeout=120_000)
        box = page.locator("#result").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.3)
        page.wait_for_function("() => document.getElementById('result').dataset.hints.length > 2", timeout=120_000)
        for i in range(args.updates):
            color = f"#{40 + 20 * i:02x}{200 - 15 * i:02x}5a"
            page.eval_on_selector("#hint-list input[type=color]", SET_COLOR, color)
            page.wait_for_function(
                "c => document.getElementById('result').dataset.hints.includes(c)", arg=color, timeout=120_000
            )
            shown = page.get_attribute("#result", "data-preview-hints") or ""
            preview.append(float(page.get_attribute("#result", "data-preview-ms")) if color in shown else float("nan"))
            change.append(float(page.get_attribute("#result", "data-change-ms")))
            request.append(float(page.get_attribute("#result", "data-request-ms")))
            work.append(page.evaluate(SERVER_WORK))
        browser.close()
    result = {
        "model": str(args.model or "shipped"),
        "photo": f"{args.width}x{args.height} {args.photo_format}, answers in {args.format}",
        "updates": args.updates,
        "median_ms": {
            "change_to_preview_shown": median(preview),
            "change_to_full_size_shown": median(change),
            "full_size_request_to_shown": median(request),
            "server_work_full_size": median(work),
        },
        "change_to_full_size_shown_ms": [round(v, 1) for v in change],
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":  # the server decodes in spawned processes
    main()
