"""The `colorgan` command: train, evaluate, colorize, export, serve, bench, demo."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from pathlib import Path

from .config import PRESET_ALIASES, PRESETS, TrainConfig, make_config

_SKIP_FIELDS = {"extra"}


def _field_type(annotation) -> tuple[type, list | None]:
    """The argparse type (and choices) for a TrainConfig field annotation."""
    hints = typing.get_type_hints(TrainConfig)
    annotation = hints[annotation] if isinstance(annotation, str) else annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return str, list(typing.get_args(annotation))
    return annotation, None


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (--batch-size for batch_size ...), default None = keep the preset's."""
    group = parser.add_argument_group("training config (each overrides the preset)")
    for f in dataclasses.fields(TrainConfig):
        if f.name in _SKIP_FIELDS:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind, choices = _field_type(f.name)
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        elif typing.get_origin(kind) is list:
            group.add_argument(flag, dest=f.name, nargs="+", metavar="DIR", default=None,
                               help="one or more folders of photos; one split covers all of them")
        else:
            group.add_argument(flag, dest=f.name, type=kind, choices=choices, default=None,
                               help=f"default: {_preset_values(f.name)}")


def _preset_values(name: str) -> str:
    """What each preset really uses for a field, for --help."""
    return ", ".join(f"{preset} {PRESETS[preset].get(name, getattr(TrainConfig, name, None))!r}"
                     for preset in PRESETS if preset not in PRESET_ALIASES)


def config_overrides(args: argparse.Namespace) -> dict:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
            if f.name not in _SKIP_FIELDS and getattr(args, f.name, None) is not None}


def _train(args: argparse.Namespace) -> int:
    from .data import DataError
    from .trainer import TrainingError, train

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


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="colorgan", description=__doc__)
    parser.add_argument("--version", action="version", version=f"colorgan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a colorizer (pix2pix: U-Net + PatchGAN)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="pix2pix (alias seed) = the recipe exactly (RGB, 256, batch 64, 50 epochs); default = our "
                   "CPU recipe; both are YAML files in colorgan/presets/")
    p.add_argument("--config", metavar="FILE", help="start from this YAML config (a preset's or a run's "
                   "config.yaml format) instead of a preset; flags still override it")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR (or --run-dir) exactly where its last checkpoint stopped")
    p.set_defaults(default_data=None)
    add_config_flags(p)
    p.set_defaults(func=_train)

    from . import commands

    commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # File names that are not valid UTF-8 must not crash a summary printed after the work is done.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
