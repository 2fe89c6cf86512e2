"""Checkpoints as single safetensors files: weights, optimizer moments, RNG and loop state.

Nothing is pickled, so loading a file from anywhere cannot run code. Writes are atomic (temp file, fsync,
rename), so a kill or a full disk leaves the previous checkpoint intact. A generator-only file (the shipped
default model, `colorgan export --format safetensors`) uses the same format with fewer keys.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from .atomic import atomic_write_bytes, read_regular_file
from .user_json import load_json

FORMAT = "colorgan/1"
LATEST = "latest.safetensors"
MAX_CHECKPOINT_BYTES = 8 * 2**30  # the recipe at 256 px with both Adam states is about 0.9 GB


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: not safetensors, not ours, or weights that do not fit the model."""


@dataclass
class Checkpoint:
    tensors: dict[str, torch.Tensor]
    config: dict[str, Any]
    state: dict[str, Any]

    def module_state(self, prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) + 1 :]: v for k, v in self.tensors.items() if k.startswith(prefix + "/")}


def _unwrap(module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)  # DDP and torch.compile wrap the real module


def _optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    sd = optimizer.state_dict()
    tensors = {}
    for index, slots in sd["state"].items():
        for slot, value in slots.items():
            tensors[f"{prefix}/{index}/{slot}"] = torch.as_tensor(value).detach().cpu().clone().contiguous()
    return tensors, sd["param_groups"]


def _restore_optimizer(prefix: str, optimizer: torch.optim.Optimizer, ckpt: Checkpoint) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in ckpt.module_state(prefix).items():
        index, slot = key.split("/", 1)
        state.setdefault(int(index), {})[slot] = value
    groups = ckpt.state[f"{prefix}_groups"]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    # Moments come back contiguous; give them their parameter's layout (channels_last convolutions), as fresh
    # ones have. The fused kernel walks a parameter and its moments as flat memory, so a layout mismatch would
    # pair the wrong elements.
    for group in optimizer.param_groups:
        for param in group["params"]:
            slots = optimizer.state.get(param, {})
            for slot, value in slots.items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    slots[slot] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def save_checkpoint(
    path: str | os.PathLike,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    config: dict[str, Any],
    state: dict[str, Any],
) -> None:
    """Atomically write modules' weights, optimizers' state and `state` (JSON-able) to one file."""
    tensors: dict[str, torch.Tensor] = {}
    state = dict(state)
    for name, module in modules.items():
        for key, value in _unwrap(module).state_dict().items():
            tensors[f"{name}/{key}"] = value.detach().cpu().clone().contiguous()
    for name, optimizer in optimizers.items():
        opt_tensors, groups = _optimizer_tensors(name, optimizer)
        tensors.update(opt_tensors)
        state[f"{name}_groups"] = groups
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    metadata = {"format": FORMAT, "config": json.dumps(config), "state": json.dumps(state)}
    atomic_write_bytes(path, save_safetensors(tensors, metadata=metadata))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint without unpickling anything; raise CheckpointError naming the file and problem."""
    path = resolve_model_path(path)
    try:
        raw = read_regular_file(path, MAX_CHECKPOINT_BYTES)
        tensors = load_safetensors(raw)
        metadata = _read_metadata(raw)
    except (SafetensorError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a colorgan checkpoint (format {metadata.get('format')!r})")
    try:
        config, state = load_json(metadata["config"]), load_json(metadata.get("state", "{}"))
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged metadata ({exc})") from None
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{path}: damaged metadata (config and state must be JSON objects)")
    return Checkpoint(tensors, config, state)


def _read_metadata(raw: bytes) -> dict[str, str]:
    header_len = int.from_bytes(raw[:8], "little")
    header = load_json(raw[8 : 8 + header_len])
    return header.get("__metadata__", {})


def load_module_state(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Strict load with an error that names the missing, unexpected and mis-shaped keys."""
    target = _unwrap(module)
    expected = target.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (e.g. {'; '.join(shapes[:3])})")
        raise CheckpointError(f"{what}: weights do not fit the model: " + "; ".join(parts))
    target.load_state_dict(state)


def restore_training(
    ckpt: Checkpoint, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer], what: str
) -> None:
    for name, module in modules.items():
        load_module_state(module, ckpt.module_state(name), f"{what} [{name}]")
    try:
        for name, optimizer in optimizers.items():
            _restore_optimizer(name, optimizer, ckpt)
        torch.set_rng_state(ckpt.tensors["rng/torch"])
    except KeyError as exc:
        raise CheckpointError(
            f"{what}: not a training checkpoint (no {exc}); resume needs a latest.safetensors "
            "written by `colorgan train`"
        ) from None
    except (ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{what}: optimizer or RNG state does not fit this run ({exc})") from None
    if "rng/cuda" in ckpt.tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(ckpt.tensors["rng/cuda"])


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A run folder means its latest checkpoint; anything else is taken as a file."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / LATEST
        if candidate.exists():
            return candidate
        if (path / LATEST).exists():
            return path / LATEST
        raise CheckpointError(f"{path}: no checkpoints/{LATEST} in this run folder")
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file or run folder")
    return path
