"""The flags more than one `colorgan` sub-command shares: one per TrainConfig field, and the model group."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

from ..config import PRESET_ALIASES, PRESETS, TrainConfig, field_docs
from .commands import CLI_SKIPPED_FIELDS


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
    """One flag per TrainConfig field (--batch-size for batch_size ...), default None = keep the preset's; one
    --help section per concern (data, model, loss, ...), each flag with what it does and each preset's value."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(TrainConfig):
        if f.name in CLI_SKIPPED_FIELDS:
            continue
        concern, what = field_docs()[f.name]
        if concern not in groups:
            groups[concern] = parser.add_argument_group(f"{concern} (each overrides the preset)")
        group = groups[concern]
        flag = "--" + f.name.replace("_", "-")
        text = f"{what} (default: {_preset_values(f.name)})" if what else f"default: {_preset_values(f.name)}"
        kind, choices = _field_type(f.name)
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif typing.get_origin(kind) is list:
            (item,) = typing.get_args(kind)
            group.add_argument(
                flag, dest=f.name, nargs="+", type=item, metavar="DIR" if item is str else "Q", default=None, help=text
            )
        else:
            group.add_argument(flag, dest=f.name, type=kind, choices=choices, default=None, help=text)


def _preset_values(name: str) -> str:
    """What each preset really uses for a field, for --help."""
    return ", ".join(
        f"{preset} {PRESETS[preset].get(name, getattr(TrainConfig, name, None))!r}"
        for preset in PRESETS
        if preset not in PRESET_ALIASES
    )


def add_model_flags(
    p: argparse.ArgumentParser,
    runtime: bool = True,
    model_help: str = "weights file, checkpoint, run folder or .onnx (default: the shipped model)",
) -> None:
    """The flags every command that runs a model shares: which model, and (`runtime`) where and how to run it."""
    group = p.add_argument_group("model")
    group.add_argument("--model", metavar="PATH", help=model_help)
    group.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default="torch",
        help="torch (default) or onnxruntime for an .onnx export",
    )
    if runtime:
        group.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, mps")
        group.add_argument("--threads", type=int, default=None, help="CPU threads for inference (default: torch's)")
