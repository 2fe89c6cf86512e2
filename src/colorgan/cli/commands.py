"""What each `colorgan` sub-command does (their flags are in main.py and flags.py); each imports its heavy modules only
when it runs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from ..config import TrainConfig, make_config

CLI_SKIPPED_FIELDS = {"extra"}  # TrainConfig fields with no flag


def config_overrides(args: argparse.Namespace) -> dict:
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name not in CLI_SKIPPED_FIELDS and getattr(args, f.name, None) is not None
    }


def train_command(args: argparse.Namespace) -> int:
    from ..train.data import DataError
    from ..train.trainer import TrainingError, TrainingStopped, train

    overrides = config_overrides(args)
    try:
        if args.resume:
            run_dir = Path(args.resume if isinstance(args.resume, str) else overrides.get("run_dir", ""))
            if not (run_dir / "config.yaml").exists():
                print(f"error: {run_dir}: no config.yaml to resume from (pass --resume RUN_DIR)", file=sys.stderr)
                return 2
            values = TrainConfig.from_yaml(run_dir / "config.yaml").to_dict()
            values.update(overrides, run_dir=str(run_dir))
            cfg = TrainConfig.from_dict(values).validate()
        else:
            if overrides.get("data") is None and args.default_data:
                overrides["data"] = args.default_data
            cfg = make_config(args.preset, config_file=args.config, **overrides)
    except ValueError as exc:  # a bad flag: one line, before anything starts
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    try:
        run_dir = train(cfg, resume=bool(args.resume))
    except TrainingStopped as exc:
        print(str(exc), file=sys.stderr)
        return 128 + exc.signum
    except (DataError, TrainingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. a full disk while writing logs or samples (all writes are atomic)
        resumable = (Path(cfg.run_dir) / "checkpoints" / "latest.safetensors").exists()
        hint = f"; resume with --resume {cfg.run_dir}" if resumable else ""
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}{hint}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one line from rank 0 only
        print(f"run folder: {run_dir}")
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def evaluate_command(args: argparse.Namespace) -> int:
    from ..evaluation.evaluate import evaluate_model, evaluate_run
    from ..evaluation.tensorboard import write_tensorboard
    from ..io.checkpoint import CheckpointError
    from ..train.data import DataError

    try:
        if args.run:
            summary = evaluate_run(
                args.run, args.out, args.data, args.limit, args.size, lpips_weights=args.lpips_weights, model=args.model
            )
            out = Path(args.out or args.run)
        elif args.data:
            if not args.out:
                return _fail("--model/--data evaluation needs --out DIR")
            summary = evaluate_model(
                args.model,
                args.data,
                args.out,
                args.limit,
                args.size,
                backend=args.backend,
                lpips_weights=args.lpips_weights,
            )
            out = Path(args.out)
        else:
            return _fail("pass --run RUN_DIR, or --data DIR --out DIR [--model PATH]")
        if args.tensorboard:  # beside a run's training curves, at its last logged step
            write_tensorboard(summary, out / "tensorboard", _last_logged_step(Path(args.run)) if args.run else 0)
    except (CheckpointError, DataError, FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))
    print(format_summary(summary))
    print(f"wrote {out / 'metrics.json'}, {out / 'per_image.csv'}, {out / 'report.html'}")
    return 0


def _last_logged_step(run_dir: Path) -> int:
    try:
        last = (run_dir / "log.csv").read_text().strip().splitlines()[-1].split(",")[0]
    except (OSError, IndexError):
        return 0
    return int(last) if last.isdigit() else 0


def format_summary(summary: dict) -> str:
    lines = [f"{'':14}{'PSNR':>8}{'SSIM':>8}{'CIEDE2000':>11}{'CF/truth':>10}{'hist JS':>9}"]
    for key in ("model", "gray", "mean_chroma"):
        s = summary[key]
        lines.append(
            f"{key:14}{s['psnr']['mean']:8.2f}{s['ssim']['mean']:8.4f}{s['ciede2000']['mean']:11.2f}"
            f"{s['colorfulness_ratio']:10.2f}{s['chroma_hist_distance']:9.3f}"
        )
    lines.append(_paired_line("all", summary))
    for folder, part in summary.get("per_folder", {}).items():
        lines.append(
            f"{folder} ({part['images']} photos):  model CIEDE2000 {part['model']['ciede2000']['mean']:.2f}"
            f"  PSNR {part['model']['psnr']['mean']:.2f}  CF/truth {part['model']['colorfulness_ratio']:.2f}"
        )
        lines.append(_paired_line(folder, part))
    return "\n".join(lines)


def _paired_line(label: str, summary: dict) -> str:
    """Model minus each baseline, per photo, with its 95 % interval and what it says."""
    lines = []
    for baseline in ("gray", "mean_chroma"):
        parts = []
        for metric in ("ciede2000", "psnr"):
            d = summary["model_minus"][baseline][metric]
            parts.append(f"{metric} {d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] {d['verdict']}")
        lines.append(f"  {label}: model - {baseline} (paired, 95 %): " + ", ".join(parts))
    if "against_gray" in summary:
        better, spoiled = summary["against_gray"]["better"], summary["against_gray"]["spoiled"]
        lines.append(
            f"  {label}: better than gray on {better['share']:.0%} [{better['ci_low']:.0%}, {better['ci_high']:.0%}]"
            f" of photos, spoiled (CIEDE2000 > gray's + 3) on {spoiled['share']:.0%}"
            f" [{spoiled['ci_low']:.0%}, {spoiled['ci_high']:.0%}]"
        )
    return "\n".join(lines)


def set_chroma_gain(colorizer, gain: float | None) -> None:
    """`--chroma-gain G` of colorize and serve: how vivid, in place of the model's own gain (None keeps it).
    Raises ValueError outside the bounds that training and export use."""
    if gain is not None:
        colorizer.config = dataclasses.replace(colorizer.config, chroma_gain=gain).validate()


def colorize_command(args: argparse.Namespace) -> int:
    from ..infer.stopping import ExitOnSigterm

    try:
        with ExitOnSigterm():
            if args.cluster or args.limit is not None:
                return _colorize_on_cluster(args)
            return _colorize_inputs(args)
    except KeyboardInterrupt:
        print("interrupted: what was finished is kept; run the same command again to do the rest", file=sys.stderr)
        return 130


def _colorize_on_cluster(args: argparse.Namespace) -> int:
    from ..extras import MissingExtra
    from ..infer.cluster import ClusterError, ClusterSettings, colorize_on_cluster

    if not args.cluster:
        return _fail("--limit is for a trial run on a cluster: add --cluster ADDRESS (or --cluster local)")
    if len(args.inputs) != 1 or not args.out:
        return _fail("--cluster takes one folder, file list or CSV manifest, and --out FOLDER")
    if args.hints or args.backend != "torch" or args.chroma_gain is not None:
        return _fail("--cluster colorizes with the model as it is: no --hints, --backend or --chroma-gain")
    for name in ("workers", "worker_threads", "limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            return _fail(f"--{name.replace('_', '-')} must be at least 1")
    settings = ClusterSettings(
        address=args.cluster,
        workers=args.workers,
        threads=args.worker_threads,
        gpus=args.worker_gpus,
        model=str(Path(args.model).resolve()) if args.model else None,
        max_pixels=args.max_pixels,
    )
    try:
        report = colorize_on_cluster(
            args.inputs[0],
            args.out,
            settings,
            size=args.size,
            overwrite=args.overwrite,
            temporal=not args.no_temporal,
            crf=args.crf,
            limit=args.limit,
            progress=not args.quiet,
        )
    except (ClusterError, MissingExtra, ValueError) as exc:
        return _fail(str(exc))
    print(report.summary())
    return 0 if (report.done or report.existing) else 1


def _colorize_inputs(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..infer.colorize import Colorizer
    from ..infer.hints import HintError
    from ..infer.outputs import FolderReport, existing_output, output_path_for, plan_outputs, writes_over_input
    from ..infer.video import VideoError, import_av, is_video_path
    from ..io.atomic import read_regular_file, remove_stale_temps_of
    from ..io.checkpoint import CheckpointError
    from ..io.images import ImageReadError, write_skipped_csv
    from ..train.data import folder_labels

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
        colorizer = Colorizer.load(
            args.model, device=args.device, backend=args.backend, max_pixels=args.max_pixels, threads=args.threads
        )
        set_chroma_gain(colorizer, args.chroma_gain)
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
    wanted = []
    for item in dict.fromkeys(files):  # a file named twice is one input
        video = is_video_path(item)
        name = f"{item.stem}_color{'.mp4' if video else item.suffix}"
        wanted.append((item, (out or item.parent) / name, video))
    planned = {plan.source: plan for plan in plan_outputs(wanted)}  # no two inputs share an output
    for item in inputs:
        if not item.is_dir():
            bar.update(1)
        if item.is_dir():
            if out is None:  # resolved first: ".", ".." and "/" have no name of their own
                dst = item.resolve().with_name(labels[item] + "_color")
            else:
                dst = out / labels[item] if len(inputs) > 1 else out
            try:
                sub = colorizer.colorize_folder(
                    item,
                    dst,
                    args.size,
                    args.overwrite,
                    progress=not args.quiet,
                    temporal=not args.no_temporal,
                    crf=args.crf,
                )
            except ValueError as exc:
                return _fail(str(exc))
            report.done += sub.done
            report.existing += sub.existing
            report.skipped += sub.skipped
            continue
        target = planned[item].target
        for name in planned[item].names():
            remove_stale_temps_of(name)  # left by a run that was killed mid-write
        if is_video_path(item):
            _colorize_video(colorizer, item, target, protected, args, report)
            continue
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


def _colorize_video(
    colorizer, item: Path, target: Path, protected: set[Path], args: argparse.Namespace, report
) -> None:
    """One video file to `target` (NAME_color.mp4 beside it or under --out, like a photo)."""
    from ..io.images import ImageReadError

    if target.resolve() in protected:
        report.skipped.append((str(item), f"its output {target} would replace an input; not written"))
    elif target.is_file() and target.stat().st_size > 0 and not args.overwrite:
        report.existing.append(target)
    else:
        try:
            report.done.append(
                colorizer.colorize_video(
                    item, target, not args.no_temporal, args.size, progress=not args.quiet, crf=args.crf
                )
            )
        except ImageReadError as err:
            report.skipped.append((str(item), err.reason))
        except OSError as exc:
            report.skipped.append((str(target), f"cannot write ({exc.strerror or exc})"))


def export_command(args: argparse.Namespace) -> int:
    from ..io.checkpoint import CheckpointError
    from .export import export_model

    try:
        path = export_model(
            args.model,
            args.out,
            args.format,
            half=args.half,
            live=args.live_weights,
            knobs={
                "chroma_gain": args.chroma_gain,
                "working_size": args.working_size,
                "bin_temperature": args.bin_temperature,
            },
        )
    except (CheckpointError, ValueError) as exc:
        return _fail(str(exc))
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    from .bench import run_bench

    try:
        result = run_bench(args)
    except ValueError as exc:  # a setting the config refuses, e.g. bins with RGB
        return _fail(str(exc))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.out), train_seconds=args.train_seconds, model=args.model)
