"""Sub-commands other than train; each imports its heavy modules only when it runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import CheckpointError
    from .data import DataError
    from .evaluation.evaluate import evaluate_model, evaluate_run

    try:
        if args.run:
            summary = evaluate_run(args.run, args.out, args.data, args.limit, args.size,
                                   lpips_weights=args.lpips_weights, model=args.model)
            out = Path(args.out or args.run)
        elif args.data:
            if not args.out:
                return _fail("--model/--data evaluation needs --out DIR")
            summary = evaluate_model(args.model, args.data, args.out, args.limit, args.size, backend=args.backend,
                                     lpips_weights=args.lpips_weights)
            out = Path(args.out)
        else:
            return _fail("pass --run RUN_DIR, or --data DIR --out DIR [--model PATH]")
    except (CheckpointError, DataError, FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))
    print(format_summary(summary))
    print(f"wrote {out / 'metrics.json'}, {out / 'per_image.csv'}, {out / 'report.html'}")
    return 0


def format_summary(summary: dict) -> str:
    lines = [f"{'':14}{'PSNR':>8}{'SSIM':>8}{'CIEDE2000':>11}{'CF/truth':>10}{'hist JS':>9}"]
    for key in ("model", "gray", "mean_chroma"):
        s = summary[key]
        lines.append(f"{key:14}{s['psnr']['mean']:8.2f}{s['ssim']['mean']:8.4f}{s['ciede2000']['mean']:11.2f}"
                     f"{s['colorfulness_ratio']:10.2f}{s['chroma_hist_distance']:9.3f}")
    lines.append(_paired_line("all", summary))
    for folder, part in summary.get("per_folder", {}).items():
        lines.append(f"{folder} ({part['images']} photos):  model CIEDE2000 {part['model']['ciede2000']['mean']:.2f}"
                     f"  PSNR {part['model']['psnr']['mean']:.2f}  CF/truth {part['model']['colorfulness_ratio']:.2f}")
        lines.append(_paired_line(folder, part))
    return "\n".join(lines)


def _paired_line(label: str, summary: dict) -> str:
    """Model minus gray, per photo, with its 95 % interval: the figure the verdict rests on."""
    parts = []
    for metric in ("ciede2000", "psnr"):
        d = summary["model_minus"]["gray"][metric]
        parts.append(f"{metric} {d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]")
    return f"  {label}: model - gray (paired, 95 %): " + ", ".join(parts)


def _colorize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .atomic import read_regular_file
    from .checkpoint import CheckpointError
    from .colorize import (
        Colorizer,
        FolderReport,
        existing_output,
        output_path_for,
        writes_over_input,
    )
    from .data import folder_labels
    from .hints import HintError
    from .images import ImageReadError, write_skipped_csv
    from .video import VideoError, import_av, is_video_path

    inputs = [Path(i) for i in args.inputs]
    hints = None
    if args.hints:
        if len(inputs) != 1 or inputs[0].is_dir() or is_video_path(inputs[0]):
            return _fail("--hints applies to one photo (its points are in that photo's pixels)")
        try:
            hints = read_regular_file(Path(args.hints), 1 << 20)
        except OSError as exc:
            return _fail(f"{args.hints}: cannot read the hints ({exc.strerror or exc})")
    first_video = next((p for p in inputs if not p.is_dir() and is_video_path(p)), None)
    if first_video is not None:
        try:
            import_av(str(first_video))
        except VideoError as err:
            return _fail(str(err))
    try:
        colorizer = Colorizer.load(args.model, device=args.device, backend=args.backend, max_pixels=args.max_pixels,
                                   threads=args.threads)
    except (CheckpointError, ValueError, OSError) as exc:
        return _fail(str(exc))
    report = FolderReport()
    out = Path(args.out) if args.out else None
    protected = {p.resolve() for p in inputs if not p.is_dir()}  # never written over, whatever the flags
    files = [p for p in inputs if not p.is_dir()]
    # Two input folders with the same name get distinct outputs under --out (photos, photos~2).
    folders = [p for p in inputs if p.is_dir()]
    labels = dict(zip(folders, folder_labels([str(p) for p in folders])))
    # A shell glob of files gets a bar as a folder does (folders show their own).
    bar = tqdm(total=len(files), unit="img", desc="colorizing", disable=args.quiet or len(files) < 2)
    for item in inputs:
        if not item.is_dir():
            bar.update(1)
        if item.is_dir():
            if out is None:  # resolved first: ".", ".." and "/" have no name of their own
                dst = item.resolve().with_name(labels[item] + "_color")
            else:
                dst = out / labels[item] if len(inputs) > 1 else out
            try:
                sub = colorizer.colorize_folder(item, dst, args.size, args.overwrite, progress=not args.quiet,
                                                temporal=not args.no_temporal)
            except ValueError as exc:
                return _fail(str(exc))
            report.done += sub.done
            report.existing += sub.existing
            report.skipped += sub.skipped
            continue
        if is_video_path(item):
            _colorize_video(colorizer, item, out, protected, args, report)
            continue
        target = (out / f"{item.stem}_color{item.suffix}") if out else item.with_name(f"{item.stem}_color{item.suffix}")
        if writes_over_input(target, protected):
            report.skipped.append((str(item), f"its output {target} would replace an input photo; not written"))
            continue
        existing = existing_output(target)
        if existing is not None and not args.overwrite:
            report.existing.append(existing)
            continue
        try:
            report.done.append(colorizer.colorize_file(item, target, args.size, hints))
        except HintError as err:
            return _fail(f"{args.hints}: {err}")
        except ImageReadError as err:
            report.skipped.append((str(item), err.reason))
        except OSError as exc:
            report.skipped.append((str(output_path_for(target, False)), f"cannot write ({exc.strerror or exc})"))
    bar.close()
    print(report.summary())
    if report.skipped and out is not None and not any(Path(i).is_dir() for i in args.inputs):
        try:
            write_skipped_csv(out / "skipped.csv", report.skipped)
        except OSError as exc:  # the summary above already lists them
            print(f"warning: {out / 'skipped.csv'}: cannot write ({exc.strerror or exc})", file=sys.stderr)
    if len(report.done) == 1 and not report.existing:
        print(f"wrote {report.done[0]}")
    return 0 if (report.done or report.existing) else 1


def _colorize_video(colorizer, item: Path, out: Path | None, protected: set[Path], args: argparse.Namespace,
                    report) -> None:
    """One video file: NAME_color.mp4 beside it or under --out, like a photo."""
    from .images import ImageReadError

    target = (out or item.parent) / f"{item.stem}_color.mp4"
    if target.resolve() in protected:
        report.skipped.append((str(item), f"its output {target} would replace an input; not written"))
    elif target.is_file() and target.stat().st_size > 0 and not args.overwrite:
        report.existing.append(target)
    else:
        try:
            report.done.append(colorizer.colorize_video(item, target, not args.no_temporal, args.size,
                                                        progress=not args.quiet))
        except ImageReadError as err:
            report.skipped.append((str(item), err.reason))
        except OSError as exc:
            report.skipped.append((str(target), f"cannot write ({exc.strerror or exc})"))


def _export(args: argparse.Namespace) -> int:
    from .checkpoint import CheckpointError
    from .export import export_model

    try:
        path = export_model(args.model, args.out, args.format, half=args.half, live=args.live_weights,
                            knobs={"chroma_gain": args.chroma_gain, "bin_temperature": args.bin_temperature})
    except (CheckpointError, ValueError) as exc:
        return _fail(str(exc))
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    result = run_bench(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.out), train_seconds=args.train_seconds, model=args.model)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the non-training sub-commands to the `colorgan` parser."""
    p = sub.add_parser("evaluate", help="score a model against gray and mean-chroma baselines; HTML report")
    p.add_argument("--run", help="run folder: evaluate its latest checkpoint on its validation split")
    p.add_argument("--model", help="weights file, checkpoint or run folder (default: the shipped model; with "
                   "--run: that run's own checkpoint)")
    p.add_argument("--data", help="folder of color photos (or color/ + gray/) to evaluate on")
    p.add_argument("--out", help="output folder (default: the run folder)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images")
    p.add_argument("--size", type=int, help="network working size (default: the training size)")
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    p.add_argument("--lpips-weights", metavar="ALEX[,LIN]",
                   help="also report LPIPS, from local AlexNet + LPIPS-lin weights files (never downloaded)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("colorize", help="colorize photos or folders at their own resolution")
    p.add_argument("inputs", nargs="+", help="image or video files and/or folders (searched recursively)")
    p.add_argument("--out", help="output folder (default: NAME_color.EXT beside each file, FOLDER_color/)")
    p.add_argument("--model", help="weights file, checkpoint, run folder or .onnx (default: the shipped model)")
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    p.add_argument("--size", type=int, help="network working size (default: the model's training size)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--max-pixels", type=int, default=50_000_000, help="refuse larger images (decompression bombs)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--hints", metavar="FILE.json",
                   help='color hints for one photo: [{"x": 120, "y": 340, "color": "#b03020"}] in its pixels '
                        "(a model trained with --hints, such as the shipped one)")
    p.add_argument("--no-temporal", action="store_true",
                   help="videos: colorize each frame on its own (no chroma carried along optical flow)")
    p.set_defaults(func=_colorize)

    p = sub.add_parser("export", help="export the generator to ONNX or a compact safetensors file")
    p.add_argument("--model", help="run folder, checkpoint or weights file (default: the shipped model)")
    p.add_argument("--format", choices=["onnx", "safetensors"],
                   help="default: the one --out's suffix names (.onnx or .safetensors)")
    p.add_argument("--out", required=True)
    p.add_argument("--half", action="store_true", help="safetensors: store weights as fp16 (half the size)")
    p.add_argument("--chroma-gain", type=float, help="store this inference chroma gain with the weights")
    p.add_argument("--bin-temperature", type=float, help="bins head: store this annealed-mean temperature")
    p.add_argument("--live-weights", action="store_true",
                   help="export G as trained, not the moving average of its weights (runs with --ema-decay)")
    p.set_defaults(func=_export)

    p = sub.add_parser("bench", help="measure training/inference speed or the data pipeline")
    p.add_argument("what", choices=["train", "infer", "data", "colorize"])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--color-space", choices=["rgb", "lab"], default="rgb")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--no-shared-d-forward", action="store_true", help="train: the reference 3-forward step")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--chroma-head", choices=["regression", "bins"], default="regression",
                   help="train/infer: the generator's output head (bins needs --color-space lab)")
    p.add_argument("--no-gan", action="store_true", help="train: the step without D (the default recipe)")
    p.add_argument("--ema-decay", type=float, default=0.0, help="train: also update a moving average of G")
    p.add_argument("--data", help="data: the folder to read")
    p.add_argument("--model", help="colorize: model to time")
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    p.add_argument("--json", help="also write the result to this JSON file")
    p.set_defaults(func=_bench)

    p = sub.add_parser("demo", help="colorize the sample photos shipped with scikit-image and scikit-learn")
    p.add_argument("--out", default="demo_out")
    p.add_argument("--train-seconds", type=float, default=60.0,
                   help="when no default model is installed: how long to train a small one first")
    p.add_argument("--model", help="run folder or weights file to show (default: the shipped model)")
    p.set_defaults(func=_demo)

    from .serve import cli as serve_cli

    serve_cli.register(sub)
