"""The one typed training config, its presets, and its round trip through YAML.

`seed` is the user's recipe exactly as written; `default` is our best recipe for a CPU budget. Values given
on the command line override the preset's; the resolved config is saved into every run folder.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

ColorSpace = Literal["rgb", "lab"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
GanMode = Literal["vanilla", "lsgan"]
Generator = Literal["unet", "efficientnet-lite0"]
ChromaHead = Literal["regression", "bins"]

# Fields of experiments that lost and were deleted (docs/experiments.md): field -> (its default, (what, why)).
# Files written before hold every field: one at its default is dropped, one set to anything else refused.
_SCENE_GAIN = ("the per-scene gain", "it lost on real photos")
_CHROMA_HEAD = ("the chroma head", "its |ab| channels lost to the plain regression")
_POOLED_D = ("the discriminator on the pooled pair", "it changed nothing measured and the blotches stayed")
_WEAKER_D = ("the weaker discriminator", "it bought no more color than a gain and blotched")
_THREE_FORWARD = ("the reference 3-forward discriminator step", "it trained as the shared forward does, 5 % slower")
_LEARNED_HINTS = ("the learned hint input", "hints spread over any model's output follow the user far better")
REMOVED_FIELDS: dict[str, tuple[Any, tuple[str, str]]] = {
    "scene_gains": ([], _SCENE_GAIN),
    "scene_kinds": ([], _SCENE_GAIN),
    "chroma_only": (False, _CHROMA_HEAD),
    "chroma_teacher": (None, _CHROMA_HEAD),
    "chroma_quantiles": ([0.5], _CHROMA_HEAD),
    "chroma_branch": (0, _CHROMA_HEAD),
    "chroma_error": ("magnitude", _CHROMA_HEAD),
    "chroma_max_gain": (3.0, _CHROMA_HEAD),
    "chroma_quantile": (0.5, _CHROMA_HEAD),
    "d_downsample": (1, _POOLED_D),
    "d_lr_scale": (1.0, _WEAKER_D),
    "real_label": (1.0, _WEAKER_D),
    "shared_d_forward": (True, _THREE_FORWARD),
    "hints": (False, _LEARNED_HINTS),
}
REMOVED_VALUES = {("chroma_head", "chroma"): _CHROMA_HEAD}  # a value of a field that stays


@dataclass
class TrainConfig:
    """Every training choice, grouped by concern. Each field's comment is its --help text, and the `# --` line
    above a group is its --help section (`field_docs`)."""

    # -- data
    data: list[str] | None = None  # folders of color photos (or color/ + gray/ pairs); one split over all
    size: int = 256  # the side photos are trained at (square crops)
    val_fraction: float = 0.1  # the share of photos held out to watch training
    limit: int | None = None  # use only the first N photos
    flip: bool = True  # mirror a random half of the photos left to right
    cache_dir: str | None = None  # decoded pixels kept between runs (None: $COLORGAN_CACHE or ~/.cache/colorgan)
    # -- model
    generator: Generator = "unet"  # unet: the recipe's U-Net; efficientnet-lite0: on an ImageNet encoder (Lab)
    color_space: ColorSpace = "rgb"  # rgb: the recipe's RGB output; lab: ab only, the lightness is the input's
    depth: int | None = None  # the U-Net's stride-2 levels (None: log2(size), down to 1x1)
    ngf: int = 64  # the U-Net's channels at its first level
    ndf: int = 64  # the PatchGAN's channels at its first level
    d_layers: int = 3  # the PatchGAN's stride-2 layers (3: the 70x70 receptive field)
    dropout: float = 0.5  # in the U-Net's innermost decoder levels, as pix2pix
    chroma_head: ChromaHead = "regression"  # bins: ab as classes (Zhang et al. 2016); lab only
    init_from: str | None = None  # start G from these weights (a new run; from the other chroma head, its trunk)
    # -- loss
    l1_weight: float = 100.0  # lambda: the weight of L1 against the adversarial loss
    gan_weight: float = 1.0  # the adversarial loss's weight (0: no discriminator at all, pixel losses only)
    gan_mode: GanMode = "vanilla"  # vanilla: BCE, as the recipe; lsgan: least squares
    bin_weight: float = 1.0  # bins head: weight of the cross-entropy over ab classes
    bin_rebalance: bool = False  # bins head: weight rare colors up (Zhang et al. 2016)
    bin_prior_mix: float = 0.5  # --bin-rebalance: the uniform share mixed into the color prior (0.5: Zhang's; 1: none)
    real_saturation: float = 1.0  # D's real pairs with their ab times this (1.2: DDColor, BigColor): dull loses to D
    # -- optimizer
    lr: float = 2e-4  # Adam's learning rate, G's and D's
    beta1: float = 0.5  # Adam's beta1
    beta2: float = 0.999  # Adam's beta2
    ema_decay: float = 0.0  # > 0: keep an exponential moving average of G's weights, used for samples and export
    fused_adam: bool = True  # Adam's fused kernel (CPU, CUDA); --no-fused-adam: the per-tensor loop
    # -- schedule
    batch_size: int = 64  # photos per step
    epochs: int = 50  # passes over the training photos
    max_steps: int | None = None  # stop early after this many steps in total
    lr_decay: float = 0.0  # the last fraction of all steps over which lr falls linearly to 0 (pix2pix's decay)
    pretrain_epochs: float = 0.0  # L1-only epochs before the adversarial phase (any dataset size)
    pretrain_steps: int = 0  # the same in steps; where both are set the warm-up is the longer
    max_nonfinite: int = 20  # consecutive non-finite steps before training stops
    # -- inference (stored with the weights)
    bin_temperature: float = 0.38  # bins head: annealed-mean temperature (1 = the mean, towards 0 = the mode)
    chroma_gain: float = 1.0  # predicted ab is multiplied by this (1: as the model predicts)
    working_size: int | None = None  # the short side the network sees (None: the training size)
    # -- runtime
    precision: Precision = "auto"  # auto: bf16 where the CPU or GPU has it, else fp32
    channels_last: bool = True  # NHWC tensors (faster convolutions on CPU and tensor cores)
    compile: bool = False  # torch.compile the step
    threads: int | None = None  # CPU threads (None: torch's choice, one per physical core)
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    sync_bn: bool = False  # torchrun: batch-norm statistics over all ranks
    # -- bookkeeping
    run_dir: str = "runs/default"  # where checkpoints, logs, plots and samples go
    seed: int = 0  # seeds the split, the initial weights and the batches
    save_every: int = 500  # steps between checkpoints (and at every epoch's end)
    tensorboard: bool = False  # also log losses, lr, img/s and sample grids for TensorBoard (RUN/tensorboard/)
    keep_every_epochs: int = 10  # keep a checkpoint file of every Nth epoch
    samples: int = 6  # validation photos in each sample grid
    extra: dict[str, Any] = field(default_factory=dict)  # what training derived and resume needs (the ab prior)

    @property
    def resolved_depth(self) -> int:
        """The generator's number of stride-2 levels: input sides are multiples of 2**depth."""
        if self.generator == "efficientnet-lite0":
            return 5
        return self.depth if self.depth is not None else int(math.log2(self.size))

    def validate(self) -> TrainConfig:
        """Check everything that can be checked before training starts, so nothing fails hours in."""
        self._check_types()
        if self.generator == "efficientnet-lite0" and self.color_space != "lab":
            raise ValueError("--generator efficientnet-lite0 predicts Lab ab by regression or bins: --color-space lab")
        if self.pretrain_epochs < 0 or self.pretrain_steps < 0:
            raise ValueError("--pretrain-epochs and --pretrain-steps must be >= 0")
        if not 8 <= self.size <= 4096:
            raise ValueError(f"--size must be in [8, 4096], got {self.size}")
        if not 2 <= self.resolved_depth <= 12:
            raise ValueError(f"--depth must be in [2, 12], got {self.resolved_depth}")
        for name, value, high in (("ngf", self.ngf, 512), ("ndf", self.ndf, 512), ("d-layers", self.d_layers, 8)):
            if not 1 <= value <= high:
                raise ValueError(f"--{name} must be in [1, {high}], got {value}")
        multiple = 2**self.resolved_depth
        if self.gan_weight > 0 and self.size // 2**self.d_layers < 3:
            raise ValueError(
                f"--size {self.size} is too small for a discriminator with --d-layers {self.d_layers} "
                f"(it needs size >= {3 * 2**self.d_layers}); use fewer layers or --gan-weight 0"
            )
        if not (
            self.lr > 0
            and 0 <= self.dropout < 1
            and self.l1_weight >= 0
            and self.gan_weight >= 0
            and self.bin_weight >= 0
        ):
            raise ValueError("--lr must be positive, --dropout in [0, 1), and loss weights non-negative")
        if self.size % multiple:
            raise ValueError(f"--size {self.size} must be a multiple of 2**depth = {multiple}")
        if self.color_space not in ("rgb", "lab"):
            raise ValueError(f"--color-space must be rgb or lab, got {self.color_space!r}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError("--batch-size and --epochs must be at least 1")
        if self.chroma_head != "regression" and self.color_space != "lab":
            raise ValueError(f"--chroma-head {self.chroma_head} predicts Lab chroma: use it with --color-space lab")
        if not 0.0 < self.bin_temperature <= 10.0:
            raise ValueError(f"--bin-temperature must be in (0, 10], got {self.bin_temperature}")
        if self.working_size is not None and not 32 <= self.working_size <= 4096:
            raise ValueError(f"--working-size must be in [32, 4096], got {self.working_size}")
        if not 0.0 < self.chroma_gain <= 4.0:
            raise ValueError(f"--chroma-gain must be in (0, 4], got {self.chroma_gain}")
        if not 0.0 <= self.lr_decay <= 1.0:
            raise ValueError(f"--lr-decay must be in [0, 1], got {self.lr_decay}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if not 1.0 <= self.real_saturation <= 2.0:
            raise ValueError(f"--real-saturation must be in [1, 2], got {self.real_saturation}")
        if self.real_saturation != 1.0 and self.color_space != "lab":
            raise ValueError("--real-saturation scales the real photos' ab: use it with --color-space lab")
        if self.bin_rebalance and self.chroma_head != "bins":
            raise ValueError("--bin-rebalance weights the bins head's classes: use it with --chroma-head bins")
        if not 0.0 < self.bin_prior_mix <= 1.0:
            raise ValueError(f"--bin-prior-mix must be in (0, 1], got {self.bin_prior_mix}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        return self

    def _check_types(self) -> None:
        """A config read from a file (a checkpoint, a YAML) can hold anything: name the field that is wrong."""
        hints = typing.get_type_hints(TrainConfig)
        for f in fields(self):
            value, hint = getattr(self, f.name), hints[f.name]
            allowed = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
            if not any(_matches(value, t) for t in allowed):
                raise ValueError(f"config field {f.name!r} has an invalid value {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        for key, (default, experiment) in REMOVED_FIELDS.items():
            value = values.pop(key, default)
            if value != default:
                raise _removed(key, value, experiment)
        for (key, value), experiment in REMOVED_VALUES.items():
            if values.get(key) == value:
                raise _removed(key, value, experiment)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        if isinstance(values.get("data"), str):  # runs written before --data took several folders
            values["data"] = [values["data"]]
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})


def _removed(key: str, value: Any, experiment: tuple[str, str]) -> ValueError:
    what, why = experiment
    return ValueError(
        f"{key} is set to {value!r}, but {what} was removed from colorgan ({why}, docs/experiments.md): "
        "use a model without it"
    )


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


PRESET_DIR = Path(__file__).parent / "presets"
PRESET_ALIASES = {"seed": "pix2pix"}  # the recipe's first name, kept for scripts that use it


def _load_presets() -> dict[str, dict[str, Any]]:
    """Presets are YAML files in the same format as a run's config.yaml (only the fields they set)."""
    presets = {p.stem: yaml.safe_load(p.read_text()) or {} for p in sorted(PRESET_DIR.glob("*.yaml"))}
    presets.update({alias: presets[name] for alias, name in PRESET_ALIASES.items()})
    return presets


PRESETS: dict[str, dict[str, Any]] = _load_presets()


def make_config(preset: str = "default", config_file: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A preset, or a YAML config file (a preset's or a run's format), with the given overrides on top (None
    values are ignored, so unset CLI flags keep the base's)."""
    if config_file is not None:
        try:
            base = yaml.safe_load(Path(config_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{config_file}: cannot read the config file ({exc})") from None
        if not isinstance(base, dict):
            raise ValueError(f"{config_file}: a config file is a YAML mapping of field: value")
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    values = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig.from_dict(values).validate()


@functools.cache
def field_docs() -> dict[str, tuple[str, str]]:
    """field name -> (its concern, its one-line description), read from TrainConfig's own source, where each
    field's comment says what it does: one place for the documentation, tested to cover every field."""
    docs, concern = {}, ""
    for line in inspect.getsource(TrainConfig).splitlines():
        header = re.fullmatch(r"\s*# -- (.+)", line)
        if header:
            concern = header.group(1)
            continue
        match = re.fullmatch(r"    (\w+): [^#]+?(?:  # (.*))?", line)
        if match and concern:
            docs[match.group(1)] = (concern, match.group(2) or "")
    return docs
