"""Export a trained generator: a compact safetensors weights file, or ONNX with dynamic size."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from .backends import export_onnx
from .checkpoint import save_checkpoint
from .colorize import load_generator

INFERENCE_KNOBS = ("chroma_gain", "bin_temperature")  # set at export; they change no weight


def export_model(model: str | os.PathLike | None, out: str | os.PathLike, fmt: str, half: bool = False,
                 live: bool = False, knobs: dict | None = None) -> Path:
    """`live`: the weights as trained rather than their moving average (where the run keeps one).
    `knobs`: inference settings to store with the weights (`INFERENCE_KNOBS`), e.g. the chosen temperature."""
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
        from .evaluate import train_split_mean_ab

        mean = train_split_mean_ab(Path(model), None)
        if mean is not None:
            config["extra"]["mean_ab"] = [round(v, 4) for v in mean]
    out = Path(out)
    if fmt == "onnx":
        return export_onnx(generator, out, 2**cfg.resolved_depth, {"colorgan_config": json.dumps(config)})
    if fmt == "safetensors":
        if half:
            generator = generator.half()
        save_checkpoint(out, {"G": generator}, {}, config, {"exported_from": str(source)})
        return out
    raise ValueError(f"unknown export format {fmt!r}")
