"""Export a trained generator: a compact safetensors weights file, or ONNX with dynamic size."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .backends import export_onnx
from .checkpoint import save_checkpoint
from .colorize import load_generator


def export_model(model: str | os.PathLike | None, out: str | os.PathLike, fmt: str, half: bool = False,
                 live: bool = False) -> Path:
    """`live`: the weights as trained rather than their moving average (where the run keeps one)."""
    generator, cfg, source = load_generator(model, live=live)
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
