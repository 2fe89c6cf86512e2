"""`colorgan export`: a trained generator as a compact safetensors weights file, or ONNX with dynamic size. It reads
run folders (a legacy run's training photos, for its mean chroma), so it sits here, not in infer/."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ..infer.backends import export_onnx
from ..infer.colorize import load_generator
from ..io.checkpoint import save_checkpoint

# Set at export; they change no weight.
INFERENCE_KNOBS = ("chroma_gain", "bin_temperature", "working_size")
FORMAT_SUFFIXES = {".onnx": "onnx", ".safetensors": "safetensors"}


def export_format(out: str | os.PathLike, fmt: str | None) -> str:
    """The format to write: `fmt` where given, else the one `out`'s suffix names. A suffix that names the
    other format is refused: an ONNX graph in a file called .safetensors fails far from here, much later."""
    implied = FORMAT_SUFFIXES.get(Path(out).suffix.lower())
    if fmt is None:
        if implied is None:
            raise ValueError(f"{out}: name the format with --format, or end the name in .onnx or .safetensors")
        return implied
    if implied is not None and implied != fmt:
        raise ValueError(f"{out}: the name says {implied} but --format is {fmt}")
    return fmt


def export_model(
    model: str | os.PathLike | None,
    out: str | os.PathLike,
    fmt: str | None = None,
    half: bool = False,
    live: bool = False,
    knobs: dict | None = None,
) -> Path:
    """`fmt`: onnx or safetensors; None takes it from `out`'s suffix.
    `live`: the weights as trained rather than their moving average (where the run keeps one).
    `knobs`: inference settings to store with the weights (`INFERENCE_KNOBS`), e.g. the chosen temperature."""
    fmt = export_format(out, fmt)
    if half and fmt != "safetensors":
        raise ValueError("--half applies to safetensors only (ONNX keeps fp32 weights)")
    generator, cfg, source = load_generator(model, live=live)
    knobs = {k: v for k, v in (knobs or {}).items() if v is not None}
    unknown = set(knobs) - set(INFERENCE_KNOBS)
    if unknown:
        raise ValueError(f"not an inference setting: {', '.join(sorted(unknown))}")
    cfg = dataclasses.replace(cfg, **knobs).validate()
    if "bin_temperature" in knobs and hasattr(generator, "temperature"):
        generator.temperature = knobs["bin_temperature"]  # baked into an ONNX graph
    generator.eval()
    config = cfg.to_dict()
    if "mean_ab" not in config["extra"] and model is not None and Path(model).is_dir():
        # Runs that predate storing it: the mean-chroma baseline needs the training photos' mean ab.
        from ..evaluation.evaluate import train_split_mean_ab

        mean = train_split_mean_ab(Path(model), None)
        if mean is not None:
            config["extra"]["mean_ab"] = [round(v, 4) for v in mean]
    out = Path(out)
    if fmt == "onnx":
        meta = {"colorgan_config": json.dumps(config)}
        return export_onnx(generator, out, 2**cfg.resolved_depth, meta)
    if fmt == "safetensors":
        if half:
            generator = generator.half()
        save_checkpoint(out, {"G": generator}, {}, config, {"exported_from": str(source)})
        return out
    raise ValueError(f"unknown export format {fmt!r}")
