"""One self-contained HTML report of an evaluation: every image and plot is embedded, nothing is fetched."""

from __future__ import annotations

import html
import io
from pathlib import Path

import cv2
import numpy as np

from ..io.atomic import atomic_write_text
from ..train.report import data_uri, jpeg_data_uri, sample_grid

TILE = 160  # px height of each picture in the grids

ROWS = [  # (key, label, better, format)
    ("ciede2000", "CIEDE2000 (mean ΔE00)", "lower", "{:.2f}"),
    ("psnr", "PSNR (dB, RGB)", "higher", "{:.2f}"),
    ("ssim", "SSIM (RGB, Gaussian σ 1.5)", "higher", "{:.4f}"),
    ("colorfulness", "Colorfulness (H&S 2003)", "closer to truth", "{:.1f}"),
    ("delta_colorfulness", "ΔCF vs truth", "closer to 0", "{:+.1f}"),
]


def _tile(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * TILE / h)), TILE), interpolation=cv2.INTER_AREA)


def triple_tiles(gray: np.ndarray, truth: np.ndarray, prediction: np.ndarray) -> list[np.ndarray]:
    """Report-sized tiles of one photo (gray | truth | ours): all the report keeps of it."""
    return [_tile(np.repeat(gray[..., None], 3, axis=2)), _tile(truth), _tile(prediction)]


def _triples(shown: list[tuple[str, list[np.ndarray]]]) -> str:
    """Gray | truth | ours rows for the chosen photos, as one embedded picture."""
    rows = []
    for _, tiles in shown:
        width = min(t.shape[1] for t in tiles)
        rows.append([t[:, :width] for t in tiles])
    if not rows:
        return "<p>(none)</p>"
    width = min(r[0].shape[1] for r in rows)
    stack = [np.stack([t[:, :width] for t in r]) for r in rows]
    grid = sample_grid(*(np.stack([s[j] for s in stack]) for j in range(3)))
    names = ", ".join(html.escape(name) for name, _ in shown)
    return f'<img src="{jpeg_data_uri(grid)}" alt="gray | truth | ours"><p class="names">{names}</p>'


def _hist_plot(hists: dict[str, np.ndarray]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    for ax, key in zip(axes, ("truth", "model", "gray", "mean_chroma")):
        ax.imshow(
            np.log10(hists[key].T + 1e-6),
            origin="lower",
            extent=(-110, 110, -110, 110),
            cmap="magma",
            vmin=-6,
            vmax=-0.5,
        )
        ax.set(title={"truth": "ground truth", "mean_chroma": "mean chroma"}.get(key, key), xlabel="a", ylabel="b")
    fig.suptitle("Lab ab histograms, log10 share of pixels (a desaturated model collapses to the centre)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return data_uri(buffer.getvalue(), "image/png")


def _cell(stats: dict, fmt: str) -> str:
    return f"{fmt.format(stats['mean'])}<small> [{fmt.format(stats['ci_low'])}, {fmt.format(stats['ci_high'])}]</small>"


def _table(summary: dict) -> str:
    cols = ("model", "gray", "mean_chroma")
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cols)
    body = []
    for key, label, better, fmt in ROWS:
        cells = "".join(f"<td>{_cell(summary[c][key], fmt)}</td>" for c in cols)
        body.append(f"<tr><th>{label}<br><small>{better} is better</small></th>{cells}</tr>")
    if "lpips" in summary["model"]:
        cells = "".join(f"<td>{_cell(summary[c]['lpips'], '{:.3f}')}</td>" for c in cols)
        body.append(f"<tr><th>LPIPS (AlexNet)<br><small>lower is better</small></th>{cells}</tr>")
    ratio = "".join(f"<td>{summary[c]['colorfulness_ratio']:.2f}</td>" for c in cols)
    body.append(f"<tr><th>Colorfulness / truth<br><small>1.0 is right</small></th>{ratio}</tr>")
    if "chroma_hist_distance" in summary["model"]:
        dist = "".join(f"<td>{summary[c]['chroma_hist_distance']:.3f}</td>" for c in cols)
        body.append(f"<tr><th>Chroma histogram distance (JS)<br><small>lower is better</small></th>{dist}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(body)}</table>"


def _paired_table(summary: dict) -> str:
    """Model minus each baseline, per photo: the verdict's evidence."""
    body = []
    for key, label, _, fmt in ROWS:
        if key not in summary["model_minus"]["gray"]:
            continue
        cells = "".join(
            f"<td>{_cell(summary['model_minus'][b][key], fmt.replace('{:', '{:+'))}</td>"
            for b in ("gray", "mean_chroma")
        )
        body.append(f"<tr><th>{label}</th>{cells}</tr>")
    return (
        "<p class='note'>Model minus baseline on the same photos (paired), 95 % bootstrap intervals; "
        "the model is better only where the interval excludes zero.</p>"
        f"<table><tr><th></th><th>model − gray</th><th>model − mean chroma</th></tr>{''.join(body)}</table>"
    )


def _folder_tables(summary: dict) -> list[str]:
    sections = []
    for folder, part in summary.get("per_folder", {}).items():
        sections += [f"<h3>{html.escape(folder)} ({part['images']} photos)</h3>", _table(part), _paired_table(part)]
    return ["<h2>Per data folder</h2>", *sections] if sections else []


def write_report(path: Path, summary: dict, gallery: dict[str, list], hists, loss_png, skipped, title: str) -> None:
    """`gallery`: "first", "best" and "worst" lists of (name, tiles) from `triple_tiles`."""
    beats = summary["beats_baselines"]
    verdict = (
        "beats both baselines"
        if beats["ciede2000"]
        else "does NOT beat both baselines (paired 95 % interval of the difference)"
    )
    sections = [
        f"<h1>colorgan evaluation</h1><p class='sub'>{html.escape(title)} · {summary['images']} images · "
        f"model: {html.escape(str(summary['model_info'].get('model', '')))}</p>",
        f"<p class='verdict {'good' if beats['ciede2000'] else 'bad'}'>On mean CIEDE2000 the model {verdict}. "
        f"PSNR: {'better' if beats['psnr'] else 'not better'} than both; "
        f"colorfulness {summary['model']['colorfulness_ratio']:.0%} of the truth's.</p>",
        "<h2>Model vs baselines</h2>",
        _table(summary),
        _paired_table(summary),
        *_folder_tables(summary),
        "<p class='note'>Means with 95 % bootstrap intervals. <b>gray</b>: no color. <b>mean chroma</b>: every "
        f"pixel gets the mean ab ({summary['mean_ab_baseline']['source']}). Colorfulness: Hasler &amp; Süsstrunk "
        "2003 (signed-mean variant). FID and LPIPS: skipped (they need pretrained networks, never downloaded).</p>",
    ]
    if loss_png is not None:
        losses_uri = data_uri(loss_png.read_bytes(), "image/png")
        sections += ["<h2>Training losses</h2>", f'<img src="{losses_uri}" alt="loss graphs">']
    sections += [
        "<h2>Samples</h2><p class='note'>gray input | ground truth | ours</p>",
        _triples(gallery["first"]),
        "<h2>Best 8 by CIEDE2000</h2>",
        _triples(gallery["best"]),
        "<h2>Worst 8 by CIEDE2000</h2>",
        _triples(gallery["worst"]),
        "<h2>Chroma distribution</h2>",
        f'<img src="{_hist_plot(hists)}" alt="ab histograms">',
    ]
    if skipped:
        items = "".join(f"<li>{html.escape(p)}: {html.escape(r)}</li>" for p, r in skipped[:50])
        sections.append(f"<h2>Skipped ({len(skipped)})</h2><ul>{items}</ul>")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>colorgan evaluation</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
h1 {{ margin-bottom: 0; }} .sub, .note, .names {{ color: #666; font-size: 13px; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border-bottom: 1px solid #ddd; padding: 6px 12px; }}
td {{ text-align: right; font-variant-numeric: tabular-nums; }} th {{ text-align: left; }} small {{ color: #888; }}
.verdict {{ padding: .6em 1em; border-radius: 6px; }} .good {{ background: #e6f4ea; }} .bad {{ background: #fdecea; }}
img {{ max-width: 100%; }}
</style></head><body>{"".join(sections)}</body></html>"""
    atomic_write_text(path, page)
