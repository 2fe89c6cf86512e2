"""`colorgan demo`: colorize real photos that ship inside installed packages, offline, into one HTML page.

The photos are scikit-image's and scikit-learn's color samples, turned gray first, so the page shows
gray input | colorgan | the original side by side.
"""

from __future__ import annotations

import html
import time
from importlib import util
from pathlib import Path

import numpy as np
from PIL import Image

from ..infer.colorize import Colorizer, default_weights_path
from ..io.atomic import atomic_write_text
from ..io.images import load_image, rgb_to_gray_u8
from ..train.report import jpeg_data_uri, sample_grid, save_png

SKIMAGE_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
SKLEARN_PHOTOS = ["china.jpg", "flower.jpg"]


def package_photos() -> list[Path]:
    """Color sample photos shipped inside scikit-image and scikit-learn (no download)."""
    found = []
    for package, sub, names in (("skimage", "data", SKIMAGE_PHOTOS), ("sklearn", "datasets/images", SKLEARN_PHOTOS)):
        spec = util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(list(spec.submodule_search_locations)[0]) / sub
        found += [folder / n for n in names if (folder / n).exists()]
    return found


def _train_fallback(photos: list[Path], out: Path, seconds: float) -> Path:
    """No shipped model: train a small one on the sample photos for about `seconds`."""
    from ..config import make_config
    from ..train.trainer import train

    data = out / "train_photos"
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for p in photos:  # 16 random crops per photo, so an epoch is more than one batch
        rgb = load_image(p).rgb
        h, w = rgb.shape[:2]
        for k in range(16):
            side = int(min(h, w) * rng.uniform(0.4, 1.0))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            Image.fromarray(rgb[top : top + side, left : left + side]).save(data / f"{p.stem}_{k:02d}.png")
    steps = max(20, int(seconds * 4))  # about 4 steps/s at this size on 2 cores
    cfg = make_config(
        "unet-lab",
        data=str(data),
        size=64,
        ngf=32,
        ndf=32,
        batch_size=16,
        epochs=10_000,
        max_steps=steps,
        pretrain_steps=steps // 2,
        val_fraction=0.05,
        run_dir=str(out / "run"),
        save_every=10_000,
        keep_every_epochs=10_000,
        cache_dir=str(out / "cache"),
    )
    print(f"no default model installed: training a small one on {len(photos)} photos ({steps} steps)")
    return train(cfg, progress=True)


def run_demo(out: Path, train_seconds: float = 60.0, model: str | None = None) -> int:
    photos = package_photos()
    if not photos:
        print("error: no sample photos found (install scikit-image)")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if model is None and not default_weights_path().exists():
        model = _train_fallback(photos, out, train_seconds)
    colorizer = Colorizer.load(model)
    rows, grays, truths, ours = [], [], [], []
    for path in photos:
        truth = load_image(path).rgb
        gray = rgb_to_gray_u8(truth)
        result = colorizer.colorize_array(gray)
        Image.fromarray(gray).save(out / f"{path.stem}_gray.png")
        Image.fromarray(result).save(out / f"{path.stem}_color.png")
        cells = "".join(
            f'<td><img src="{jpeg_data_uri(pixels, 480)}"></td>'
            for pixels in (np.repeat(gray[..., None], 3, 2), result, truth)
        )
        rows.append(
            f"<tr><td>{html.escape(path.name)}<br><small>{truth.shape[1]}x{truth.shape[0]}</small></td>{cells}</tr>"
        )
        square = [
            np.asarray(Image.fromarray(a).resize((192, 192), Image.LANCZOS))
            for a in (np.repeat(gray[..., None], 3, 2), truth, result)
        ]
        grays.append(square[0])
        truths.append(square[1])
        ours.append(square[2])
    save_png(sample_grid(np.stack(grays), np.stack(truths), np.stack(ours)), out / "sheet.png")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>colorgan demo</title>
<style>body {{ font: 15px system-ui, sans-serif; margin: 2em; }}
table {{ width: 100%; table-layout: fixed; }} th:first-child {{ width: 9em; }} img {{ width: 100%; }}
td {{ padding: 4px; vertical-align: top; }} th {{ text-align: left; }}</style></head><body>
<h1>colorgan demo</h1><p>Model: {html.escape(colorizer.source)}. Each photo was turned gray, then colorized at
its own resolution.</p><table><tr><th>photo</th><th>gray input</th><th>colorgan</th><th>original</th></tr>
{"".join(rows)}</table></body></html>"""
    atomic_write_text(out / "index.html", page)
    print(f"colorized {len(photos)} sample photos in {time.perf_counter() - t0:.0f} s with {colorizer.source}")
    print(f"open {(out / 'index.html').resolve()}")
    return 0
