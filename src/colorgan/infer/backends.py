"""Inference backends: the generator in PyTorch, or an exported ONNX graph in onnxruntime.

Both take the network input (N, 1, h, w) float32 in [-1, 1] and return the raw network output.
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..extras import import_extra
from ..io.atomic import atomic_write_bytes
from ..nets.build import fold_batch_norm


class TorchBackend:
    """The generator in eval mode. With a low-precision dtype the weights are cast once at load time, which is
    faster than autocast re-casting 13-54 M weights on every call (256 px, batch 1: 58 vs 69 ms here);
    batch norm is folded into the convolutions."""

    name = "torch"

    def __init__(self, generator: nn.Module, device: torch.device, dtype: torch.dtype | None):
        self.device, self.dtype = device, dtype or torch.float32
        self.memory_format = torch.channels_last
        generator = fold_batch_norm(generator.eval())
        self.generator = generator.to(device, dtype=self.dtype, memory_format=self.memory_format)

        self._fp32_generator: nn.Module | None = None

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.generator(x.to(self.device, dtype=self.dtype).contiguous(memory_format=self.memory_format))
        out = out.float().cpu()
        if self.dtype != torch.float32 and not torch.isfinite(out).all():
            # oneDNN's bf16 convolution (torch 2.13, CPU) now and then returns NaN where a level's output is one
            # pixel wide and taller than that (a tall photo's deepest levels); the same weights in fp32 do not
            if self._fp32_generator is None:
                self._fp32_generator = copy.deepcopy(self.generator).float()
            out = self._fp32_generator(x.to(self.device, torch.float32).contiguous(memory_format=self.memory_format))
            out = out.cpu()
        return out


class OnnxBackend:
    name = "onnx"

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        ort = import_extra("onnxruntime", "onnx", "the onnx backend")

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        (out,) = self.session.run(None, {self.input_name: np.ascontiguousarray(x.numpy(), dtype=np.float32)})
        return torch.from_numpy(out)


def export_onnx(generator: nn.Module, out_path: str | os.PathLike, multiple: int, metadata: dict[str, str]) -> Path:
    """Export the generator (gray in) with dynamic batch, height and width (sides must stay multiples of
    `multiple`)."""
    onnx = import_extra("onnx", "onnx", "ONNX export")

    generator = generator.eval().float()
    example = torch.zeros(1, 1, multiple, multiple)
    out_path = Path(out_path)
    graph = io.BytesIO()  # built in memory, then written atomically: never a torn model under the final name
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but exports dynamic H/W cleanly
        warnings.simplefilter("ignore")
        torch.onnx.export(
            generator,
            (example,),
            graph,
            input_names=["gray"],
            output_names=["color"],
            dynamic_axes={"gray": axes, "color": axes},
            opset_version=17,
            dynamo=False,
        )
    model = onnx.load_model_from_string(graph.getvalue())
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write_bytes(out_path, model.SerializeToString())
    return out_path
