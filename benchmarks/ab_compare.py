"""Train the same steps from the same seed under two settings; compare loss curves and validation metrics.

Used for "bf16 does not hurt training" and "one shared D(fake) forward keeps the dynamics" (the reference
3-forward step it was compared with was deleted in issue #33):

    python benchmarks/ab_compare.py --data ../shared/data/landscapes --a precision=fp32 --b precision=bf16 \\
        --steps 300 --size 64 --out docs/img/precision.png --json benchmarks/results/precision.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from colorgan.config import make_config  # noqa: E402
from colorgan.evaluation.evaluate import evaluate_run  # noqa: E402
from colorgan.train.report import read_log  # noqa: E402
from colorgan.train.trainer import train  # noqa: E402


def parse_setting(text: str) -> dict:
    key, value = text.split("=", 1)
    for cast in (int, float):
        try:
            return {key: cast(value)}
        except ValueError:
            pass
    return {key: {"true": True, "false": False}.get(value.lower(), value)}


def run_one(args, setting: dict, root: Path) -> dict:
    name = ",".join(f"{k}={v}" for k, v in setting.items())
    cfg = make_config(
        "unet-lab",
        data=args.data,
        size=args.size,
        batch_size=args.batch_size,
        epochs=1000,
        max_steps=args.steps,
        pretrain_steps=args.pretrain_steps,
        limit=args.limit,
        run_dir=str(root / name.replace("=", "_")),
        save_every=10**9,
        **setting,
    )
    t0 = time.perf_counter()
    run = train(cfg, progress=False)
    seconds = time.perf_counter() - t0
    summary = evaluate_run(run, out_dir=run / "eval", limit=args.eval_images, progress=False)
    log = read_log(run / "log.csv")
    return {
        "name": name,
        "seconds": seconds,
        "img_per_s": args.steps * args.batch_size / seconds,
        "log": log,
        "val": figures(summary),
        "val_per_folder": {f: figures(part) for f, part in summary.get("per_folder", {}).items()},
    }


def figures(summary: dict) -> dict:
    """The validation means a comparison reads (and colorfulness against the truth's)."""
    means = {k: summary["model"][k]["mean"] for k in ("psnr", "ssim", "ciede2000")}
    return means | {"colorfulness_ratio": summary["model"]["colorfulness_ratio"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, nargs="+", help="one or more folders (one split over all)")
    parser.add_argument("--a", required=True, help="key=value for run A, e.g. precision=fp32")
    parser.add_argument("--b", required=True, help="key=value for run B")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--pretrain-steps", type=int, default=0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--eval-images", type=int, default=200)
    parser.add_argument("--out", required=True, help="PNG of both runs' loss curves")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_one(args, parse_setting(s), Path(tmp)) for s in (args.a, args.b)]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    window = 15
    for res in results:
        log = res["log"]
        for ax, key in zip(axes, ("G_l1", "G_gan", "D_real")):
            values = np.convolve(np.nan_to_num(log[key]), np.ones(window) / window, mode="valid")
            ax.plot(log["step"][window - 1 :], values, label=res["name"])
            ax.set(title=f"{key} ({window}-step mean)", xlabel="step")
    axes[0].legend()
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    table = [{k: v for k, v in r.items() if k != "log"} for r in results]
    for row, res in zip(table, results):
        log = res["log"]
        row["final_G_l1_mean50"] = float(np.nanmean(log["G_l1"][-50:]))
        row["final_D_mean50"] = float(np.nanmean(log["D_real"][-50:] + log["D_fake"][-50:]))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(table, indent=2))
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
