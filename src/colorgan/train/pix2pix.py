"""The pix2pix model: G, D, their optimizers and one training step (Isola et al. 2017).

`Pix2Pix.step` is the recipe, top to bottom: G's forward, D's loss on real and fake pairs, G's loss
(adversarial + lambda * L1), both backward passes, both optimizer steps. Everything around it (data, logging,
checkpoints, the run folder) is the trainer's job; benchmarks drive this object directly.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import colorspace
from ..config import TrainConfig
from ..devices import autocast, pick_precision
from ..nets.build import build_discriminator, build_generator, init_weights, load_start_weights
from ..nets.efficient_unet import EfficientUNet
from ..nets.efficientnet import load_pretrained
from ..nets.unet import upsample2x
from .distributed import Dist, all_ranks_agree_on_device

LOSS_NAMES = ("G_gan", "G_l1", "D_real", "D_fake", "G_bins")


@dataclass(frozen=True)
class StepLosses:
    """One step's losses, left on the device: reading one waits for the step to finish (on a GPU, a
    synchronization), so the trainer reads many steps' `values` at once.

    values: (6,) float32, the LOSS_NAMES then 1.0 if the step was taken, 0.0 if it was skipped (a loss was not
    finite: nothing was updated). G_gan, D_real and D_fake are nan while there is no discriminator (L1
    warm-up, or --gan-weight 0); G_bins is the bins head's cross-entropy (0 for the regression head).
    """

    values: torch.Tensor

    def __getattr__(self, name: str) -> float:
        if name in LOSS_NAMES:
            return float(self.values[LOSS_NAMES.index(name)])
        raise AttributeError(name)

    @property
    def finite(self) -> bool:
        return bool(self.values[len(LOSS_NAMES)])


def adversarial_loss(logits: torch.Tensor, real: bool, mode: str) -> torch.Tensor:
    """BCE on D's patch logits (the recipe), or least squares (`lsgan`)."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if mode == "lsgan":
        return F.mse_loss(logits.float(), target.float())
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


class Pix2Pix:
    def __init__(self, cfg: TrainConfig, device: torch.device, dist: Dist | None = None):
        self.cfg, self.device, self.dist = cfg, device, dist or Dist()
        self.amp_dtype = pick_precision(cfg.precision, device)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        torch.manual_seed(cfg.seed)
        self.G, self.D = build_generator(cfg), build_discriminator(cfg)
        init_weights(self.G)
        init_weights(self.D)
        if isinstance(self.G, EfficientUNet):  # the point of this generator: an encoder that knows things
            load_pretrained(self.G.encoder)
        if cfg.sync_bn and self.dist.enabled:
            self.G = nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
            self.D = nn.SyncBatchNorm.convert_sync_batchnorm(self.D)
        self.G.to(device, memory_format=self.memory_format)
        self.D.to(device, memory_format=self.memory_format)
        # One fused kernel per optimizer instead of a loop over tensors (CPU and CUDA), the same update.
        adam = dict(betas=(cfg.beta1, cfg.beta2), fused=device.type in ("cpu", "cuda") and cfg.fused_adam)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, **adam)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, **adam)
        # A moving average of G's weights, for samples and export (--ema-decay).
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if cfg.ema_decay > 0 else None
        self.class_weights = None  # bins head with --bin-rebalance: rare colors weigh more
        if cfg.bin_rebalance and "ab_prior" in cfg.extra:
            self.class_weights = colorspace.rebalancing_weights(
                torch.tensor(cfg.extra["ab_prior"]), mix=cfg.bin_prior_mix
            )
        self.warmup_steps = cfg.pretrain_steps  # L1 only before this step; the trainer adds --pretrain-epochs
        # What the step calls: G and D, wrapped for DDP and torch.compile where asked.
        self.G_run, self.D_run = self._wrap(self.G), self._wrap(self.D)

    @torch.no_grad()
    def start_from(self, path: str) -> None:
        """Start G (and its average) from trained weights. From a model with the other chroma head (a regression
        model to start a bins run) the trunk is loaded and the head starts fresh."""
        from ..infer.colorize import load_generator

        source, source_cfg, _ = load_generator(path)
        mismatch = [
            k
            for k in ("generator", "ngf", "resolved_depth", "color_space")
            if getattr(source_cfg, k) != getattr(self.cfg, k)
        ]
        if mismatch:
            raise ValueError(
                f"--init-from {path}: its {', '.join(mismatch)} differ from this run's; set them to the same values"
            )
        load_start_weights(self.G, source.state_dict(), new_head=source_cfg.chroma_head != self.cfg.chroma_head)
        if self.G_ema is not None:
            self.G_ema.load_state_dict(self.G.state_dict())

    def _wrap(self, module: nn.Module) -> nn.Module:
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        if self.cfg.compile:
            module = torch.compile(module)
        return module

    # ------------------------------------------------------------------ what a checkpoint holds
    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D} | ({"G_ema": self.G_ema} if self.G_ema is not None else {})

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    def shipped_generator(self) -> nn.Module:
        """The generator export ships: the moving average where the run keeps one."""
        return self.G_ema if self.G_ema is not None else self.G

    def set_lr(self, lr: float) -> None:
        for optimizer in (self.opt_G, self.opt_D):
            for group in optimizer.param_groups:
                group["lr"] = lr

    def buffers(self) -> list[torch.Tensor]:
        return [*self.G.buffers(), *self.D.buffers()]

    # ------------------------------------------------------------------ the step
    def step(self, x: torch.Tensor, y: torch.Tensor, index: int) -> StepLosses:
        """One training step on gray input `x` and target chroma `y`; `index` is the run's step number.

        A step whose loss is not finite is skipped and leaves no trace: weights, optimizer moments and
        batch-norm statistics stay as they were. With the fused Adam that holds without waiting for the
        device: the decision is a tensor the optimizers read (`found_inf`, as in mixed-precision scaling).
        """
        cfg, mode = self.cfg, self.cfg.gan_mode
        warm_up = index < self.warmup_steps or cfg.gan_weight == 0  # no discriminator (yet)
        saved_buffers = [b.clone() for b in self.buffers()]  # batch-norm statistics, restored if skipped

        # G: the fake, and the pixel loss against the truth
        fake, g_l1, g_bins = self._generate(x, y, index, warm_up)
        g_pixel = cfg.l1_weight * g_l1 + cfg.bin_weight * g_bins
        nan = torch.full((), math.nan, device=g_l1.device)
        real = y if cfg.real_saturation == 1.0 else (y * cfg.real_saturation).clamp(-1.0, 1.0)  # what D calls real
        if warm_up:
            taken = self._backward_and_step(None, g_pixel, retain=False)
            losses = (nan, g_l1, nan, nan, g_bins)
        else:
            # D on real and fake pairs, once: D's loss reaches only D's weights, G's loss only G's,
            # as if D had been frozen for it (the TF recipe).
            with autocast(self.device, self.amp_dtype):
                d_real, d_fake = self.D_run(x, real), self.D_run(x, fake)
            d_loss_real = adversarial_loss(d_real, True, mode)
            d_loss_fake = adversarial_loss(d_fake, False, mode)
            g_gan = adversarial_loss(d_fake, True, mode)
            taken = self._backward_and_step(d_loss_real + d_loss_fake, cfg.gan_weight * g_gan + g_pixel, True)
            losses = (g_gan, g_l1, d_loss_real, d_loss_fake, g_bins)
        with torch.no_grad():
            for buffer, saved in zip(self.buffers(), saved_buffers):
                torch.where(taken, buffer, saved, out=buffer)
            values = torch.stack([v.detach().float() for v in losses] + [taken.float()])
        return StepLosses(values)

    def _generate(self, x: torch.Tensor, y: torch.Tensor, index: int, warm_up: bool):
        """-> (what D sees, L1 loss, the head's own loss). The bins head scores at half resolution."""
        if self.cfg.chroma_head != "bins":
            with autocast(self.device, self.amp_dtype):
                fake = self.G_run(x)
            return fake, F.l1_loss(fake.float(), y.float()), torch.zeros((), device=y.device)
        # Cross-entropy on the class distribution, L1 on its mean. Without D only every other
        # half-resolution position is scored, cycling through the four offsets; D needs them all.
        stride, offset = (2, index % 4) if warm_up else (1, 0)
        dy, dx = divmod(offset, 2)
        with autocast(self.device, self.amp_dtype):
            logits = self.G_run(x, logits_at=(stride, dy, dx))
        log_p = colorspace.bin_log_probs(logits)
        y_half = F.avg_pool2d(y.float(), 2)[:, :, dy::stride, dx::stride]
        g_bins = colorspace.bin_cross_entropy(log_p, y_half, self.class_weights)
        g_l1 = F.l1_loss(colorspace.ab_from_bin_probs(log_p.exp()).float(), y_half)
        # D sees the annealed mean at full size, as users get it
        fake = None if warm_up else upsample2x(colorspace.ab_from_bin_logits(logits, self.cfg.bin_temperature))
        return fake, g_l1, g_bins

    def _backward_and_step(self, loss_d: torch.Tensor | None, loss_g: torch.Tensor, retain: bool) -> torch.Tensor:
        """Backward and step both optimizers, unless a loss is not finite: then skip the step. -> whether it was
        taken (a bool tensor on the device, the same on every rank)."""
        finite = torch.isfinite(loss_g)
        if loss_d is not None:
            finite = finite & torch.isfinite(loss_d)
        taken = all_ranks_agree_on_device(finite, self.dist)  # under DDP all ranks skip, or none does
        if self._skip_on_host(taken):
            return taken
        # Both backward passes run before either step: G's gradient flows through D's current weights.
        self.opt_G.zero_grad(set_to_none=True)
        if loss_d is not None:
            self.opt_D.zero_grad(set_to_none=True)
            loss_d.backward(inputs=list(self.D.parameters()), retain_graph=retain)
        loss_g.backward(inputs=list(self.G.parameters()))
        if loss_d is not None:
            self._optimizer_step(self.opt_D, taken)
        self._optimizer_step(self.opt_G, taken)
        return taken

    def _skip_on_host(self, taken: torch.Tensor) -> bool:
        """Whether to skip here, in Python. The fused Adam skips on the device (it reads `found_inf`), so the
        host never waits for the GPU; the for-loop Adam cannot, so it waits for the decision."""
        return not self.opt_G.defaults["fused"] and not bool(taken)

    def _optimizer_step(self, optimizer: torch.optim.Optimizer, taken: torch.Tensor) -> None:
        if optimizer.defaults["fused"]:
            # 1.0: the kernel leaves weights, moments and the step count as they are
            optimizer.found_inf = (~taken).float()
        optimizer.step()

    @torch.no_grad()
    def update_ema(self, index: int, taken: torch.Tensor | None = None) -> None:
        """ema <- decay * ema + (1 - decay) * G for weights; batch-norm statistics are copied as they are.
        After a skipped step (`taken` false, from `StepLosses.values`) nothing moves.

        The decay warms up as (1 + step) / (10 + step): a fixed 0.999 would still hold 13 % of the random
        initial weights after 2,000 steps.
        """
        decay = min(self.cfg.ema_decay, (1 + index) / (10 + index))
        weight = torch.full((), 1.0 - decay, device=self.device)  # a kernel argument, not a copy the host waits on
        if taken is not None:
            weight = weight * taken
        for ema, live in zip(self.G_ema.parameters(), self.G.parameters()):
            ema.lerp_(live, weight)
        for ema, live in zip(self.G_ema.buffers(), self.G.buffers()):
            ema.copy_(live)
