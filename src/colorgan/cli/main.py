"""The `colorgan` command: train, evaluate, colorize, export, serve, bench, demo."""

from __future__ import annotations

import argparse
import sys
import warnings

from ..config import PRESETS
from . import commands
from .flags import add_config_flags, add_model_flags


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="colorgan", description=__doc__)
    parser.add_argument("--version", action="version", version=f"colorgan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a colorizer (pix2pix: U-Net + PatchGAN)")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="default = the shipped model's recipe (recipes/efficientnet.yaml without its data); pix2pix "
        "(alias seed) = the recipe exactly (RGB, 256, batch 64, 50 epochs), as python train.py; unet-lab = a small "
        "Lab U-Net, quick to train from scratch; YAML files in colorgan/presets/",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="start from this YAML config (a preset's or a run's "
        "config.yaml format) instead of a preset; flags still override it",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR (or --run-dir) exactly where its last checkpoint stopped",
    )
    p.set_defaults(default_data=None)
    add_config_flags(p)
    p.set_defaults(func=commands.train_command)
    _add_other_commands(sub)
    return parser


def _add_other_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a model against gray and mean-chroma baselines; HTML report")
    p.add_argument("--run", help="run folder: evaluate its latest checkpoint on its validation split")
    add_model_flags(
        p,
        runtime=False,
        model_help="weights file, checkpoint or run folder (default: the shipped "
        "model; with --run: that run's own checkpoint)",
    )
    p.add_argument("--data", help="folder of color photos (or color/ + gray/) to evaluate on")
    p.add_argument("--out", help="output folder (default: the run folder)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images")
    p.add_argument("--size", type=int, help="network working size (default: the training size)")
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write the summary as TensorBoard scalars (OUT/tensorboard, beside a run's curves)",
    )
    p.add_argument(
        "--lpips-weights",
        metavar="ALEX[,LIN]",
        help="also report LPIPS, from local AlexNet + LPIPS-lin weights files (never downloaded)",
    )
    p.set_defaults(func=commands.evaluate_command)

    p = sub.add_parser("colorize", help="colorize photos or folders at their own resolution")
    p.add_argument("inputs", nargs="+", help="image or video files and/or folders (searched recursively)")
    p.add_argument("--out", help="output folder (default: NAME_color.EXT beside each file, FOLDER_color/)")
    add_model_flags(p)
    p.add_argument("--size", type=int, help="network working size (default: the model's training size)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    p.add_argument("--max-pixels", type=int, default=50_000_000, help="refuse larger images (decompression bombs)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--chroma-gain",
        type=float,
        metavar="G",
        help="the predicted chroma times G (default: the model's own setting; the shipped model's is 1, the colors "
        "as it predicts them). Above 1 is more vivid and, on real photos, less faithful",
    )
    p.add_argument(
        "--hints",
        metavar="FILE.json",
        help='color hints for one photo: [{"x": 120, "y": 340, "color": "#b03020"}] in its pixels; any model '
        "follows them (each hint's color is set at its point and spread over its region)",
    )
    p.add_argument(
        "--no-temporal",
        action="store_true",
        help="videos: colorize each frame on its own (no chroma carried along optical flow)",
    )
    p.add_argument(
        "--crf",
        type=int,
        choices=range(52),
        metavar="0-51",
        help="videos: H.264 quality, 0 lossless to 51 worst (default 18, visually lossless; lower = larger file)",
    )
    cluster = p.add_argument_group(
        "on a Ray cluster (pip install 'colorgan[cluster]'; inputs, --out and --model on storage every node sees)"
    )
    cluster.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="colorize one folder, file list (.txt) or CSV manifest (a 'path' column) on the Ray cluster at "
        "ADDRESS: 'auto' (the running one), HOST:PORT, or 'local' (start one here for a trial)",
    )
    cluster.add_argument("--workers", type=int, help="actors, each holding a model (default: the cluster's CPUs)")
    cluster.add_argument("--worker-threads", type=int, default=1, help="CPU threads per actor (default 1)")
    cluster.add_argument("--worker-gpus", type=float, default=0.0, help="GPUs per actor (default 0)")
    cluster.add_argument("--limit", type=int, help="only the first N photos and videos still to do (a trial run)")
    p.set_defaults(func=commands.colorize_command)

    p = sub.add_parser("export", help="export the generator to ONNX or a compact safetensors file")
    p.add_argument("--model", help="run folder, checkpoint or weights file (default: the shipped model)")
    p.add_argument(
        "--format",
        choices=["onnx", "safetensors"],
        help="default: the one --out's suffix names (.onnx or .safetensors)",
    )
    p.add_argument("--out", required=True, help="the file to write (.onnx or .safetensors)")
    p.add_argument("--half", action="store_true", help="safetensors: store weights as fp16 (half the size)")
    p.add_argument("--chroma-gain", type=float, help="store this inference chroma gain with the weights")
    p.add_argument("--bin-temperature", type=float, help="bins head: store this annealed-mean temperature")
    p.add_argument(
        "--working-size", type=int, help="store the short side photos are colorized at (default: the training size)"
    )
    p.add_argument(
        "--live-weights",
        action="store_true",
        help="export G as trained, not the moving average of its weights (runs with --ema-decay)",
    )
    p.set_defaults(func=commands.export_command)

    p = sub.add_parser("bench", help="measure training/inference speed or the data pipeline")
    p.add_argument("what", choices=["train", "infer", "data", "colorize"], help="what to time")
    p.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    p.add_argument("--batch-size", type=int, default=16, help="images per step (default 16)")
    p.add_argument("--steps", type=int, default=6, help="timed steps; the median is reported (default 6)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--ngf", type=int, default=64, help="generator width (default 64, the recipe's)")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width (default 64)")
    p.add_argument("--color-space", choices=["rgb", "lab"], default="rgb", help="default rgb (the recipe's)")
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="auto (default): bf16 where the hardware has it",
    )
    p.add_argument("--no-channels-last", action="store_true", help="keep PyTorch's default memory layout")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks first")
    p.add_argument("--no-fused-adam", action="store_true", help="train: Adam's per-tensor loop, not its fused kernel")
    p.add_argument(
        "--default-malloc", action="store_true", help="train: leave malloc as it is (training keeps freed memory)"
    )
    p.add_argument(
        "--chroma-head",
        choices=["regression", "bins"],
        default="regression",
        help="train/infer: the generator's output head (bins needs --color-space lab)",
    )
    p.add_argument("--no-gan", action="store_true", help="train: the step without D (the default recipe)")
    p.add_argument("--ema-decay", type=float, default=0.0, help="train: also update a moving average of G")
    p.add_argument("--data", help="data: the folder to read")
    p.add_argument("--model", help="colorize: model to time")
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch", help="colorize: torch or onnxruntime")
    p.add_argument("--json", help="also write the result to this JSON file")
    p.set_defaults(func=commands.bench_command)

    p = sub.add_parser("demo", help="colorize the sample photos shipped with scikit-image and scikit-learn")
    p.add_argument("--out", default="demo_out", help="folder for the page and images (default demo_out)")
    p.add_argument(
        "--train-seconds",
        type=float,
        default=60.0,
        help="when no default model is installed: how long to train a small one first",
    )
    p.add_argument("--model", help="run folder or weights file to show (default: the shipped model)")
    p.set_defaults(func=commands.demo_command)

    from . import serve

    serve.register(sub)


def main(argv: list[str] | None = None) -> int:
    # File names that are not valid UTF-8 must not crash a summary printed after the work is done.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args) or 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning is for the user, not a traceback: `warning: <what>`, naming the file where it has one."""
    print(f"warning: {message}", file=file or sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
