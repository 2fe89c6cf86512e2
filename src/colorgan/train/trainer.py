"""The training loop around `Pix2Pix.step`: data, learning rate, logging, samples, checkpoints, the run lock.

bf16 autocast where the hardware has it, channels_last, optional torch.compile, DDP under torchrun.
Rank 0 writes log.csv, samples, loss.png and atomic checkpoints; resuming replays exactly the same steps.
"""

from __future__ import annotations

import json
import math
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import colorspace
from ..config import TrainConfig
from ..devices import autocast, set_threads
from ..io.atomic import atomic_write_text, remove_stale_temps
from ..io.checkpoint import LATEST, load_checkpoint, load_module_state, restore_training, save_checkpoint
from ..nets.cpu_kernels import optimize_for_cpu
from .allocator import keep_freed_memory
from .batches import BatchStream, DevicePixels, pixels_to_float
from .data import data_roots, split_by_folder
from .distributed import (
    check_sync_bn,
    collective_failure_message,
    init_distributed,
    is_collective_failure,
    shutdown_distributed,
    wait_for_all_ranks,
)
from .pix2pix import LOSS_NAMES, Pix2Pix
from .pixel_cache import PixelCache, load_cache
from .report import plot_losses, sample_grid, save_png
from .run_lock import RunLock, TrainingError, TrainingStopped
from .run_log import LOG_FIELDS, format_row, open_log
from .stopping import StopOnSignal

GPU_SYNC_EVERY = 25


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False, progress: bool = True, cache: PixelCache | None = None):
        self.cfg = cfg.validate()
        self.dist, self.device = init_distributed(cfg.device)
        check_sync_bn(cfg.sync_bn, self.dist, self.device)
        set_threads(cfg.threads)
        keep_freed_memory()  # no page faults for the activations each step frees and allocates again
        self.run_dir = Path(cfg.run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.progress = progress and self.dist.is_main
        self.lock = None
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.lock = RunLock(self.run_dir)
            self._check_fresh_or_resume(resume)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        # steps between reads of the losses: a GPU runs ahead of the host; a CPU has nothing to wait for
        self.sync_every = 1 if self.device.type == "cpu" else GPU_SYNC_EVERY

        if cfg.data is None:
            raise TrainingError("no training data: pass --data DIR")
        self.cache = cache or load_cache(cfg.data, cfg.size, cfg.cache_dir, cfg.limit, progress=self.progress)
        self.train_idx, self.val_idx = split_by_folder(
            self.cache.names, data_roots(cfg.data), cfg.val_fraction, cfg.seed
        )
        if resume and (self.run_dir / "split.json").exists():
            self.train_idx, self.val_idx = self._saved_split()
        self.stream = BatchStream(
            self.cache, self.train_idx, cfg.batch_size, cfg.seed, cfg.flip, self.dist.rank, self.dist.world
        )
        # on a GPU with room for it, the whole cache moves there once and batches are gathered there
        self.device_pixels = (
            DevicePixels(self.cache, self.device) if DevicePixels.fits(self.cache, self.device) else None
        )
        rows = self.train_idx[:: max(1, len(self.train_idx) // 1000)]
        if "mean_ab" not in cfg.extra:  # for the mean-chroma baseline; stored in every checkpoint
            # one row at a time with pread: through the memory map this would make RSS grow with the dataset
            means = colorspace.mean_ab(self.cache.read(rows[i : i + 1])[0][0] for i in range(len(rows)))
            cfg.extra["mean_ab"] = [round(v, 4) for v in means]
        if cfg.bin_rebalance and "ab_prior" not in cfg.extra:  # stored, so a resumed run weighs the same
            cfg.extra["ab_prior"] = [round(float(v), 7) for v in self._ab_prior(rows)]
        self.total_steps = cfg.epochs * self.stream.steps_per_epoch
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)

        self._build_model()
        if resume:
            self._resume()
        elif cfg.init_from:
            self.model.start_from(cfg.init_from)

    def _saved_split(self) -> tuple[np.ndarray, np.ndarray]:
        """The run's own split on resume, whatever changed in the data folders since: photos added since are
        left out (with a warning), and a photo of the split that is gone stops the run (it cannot replay)."""
        saved = json.loads((self.run_dir / "split.json").read_text())
        index = {name: i for i, name in enumerate(self.cache.names)}
        missing = [n for n in saved["train"] + saved["val"] if n not in index]
        if missing:
            raise TrainingError(
                f"{self.run_dir}: {len(missing)} photo(s) of this run's split are no longer in the data "
                f"(e.g. {missing[0]}); put them back to resume exactly, or start a new run"
            )
        added = len(index) - len(saved["train"]) - len(saved["val"])
        if added > 0 and self.dist.is_main:
            warnings.warn(
                f"{added} photo(s) added to the data since this run started are left out: resume "
                "keeps the run's split (split.json)",
                stacklevel=2,
            )
        return (
            np.array([index[n] for n in saved["train"]], dtype=np.int64),
            np.array([index[n] for n in saved["val"]], dtype=np.int64),
        )

    def _ab_prior(self, rows: np.ndarray) -> torch.Tensor:
        prior = torch.zeros(len(colorspace.ab_bin_centers()))
        for i in range(len(rows)):
            rgb = torch.from_numpy(self.cache.read(rows[i : i + 1])[0]).permute(0, 3, 1, 2).float() / 255.0
            prior += colorspace.ab_class_prior(colorspace.encode_target(rgb, "lab"))
        return prior / prior.sum()

    def _build_model(self) -> None:
        self.model = Pix2Pix(self.cfg, self.device, self.dist)
        if self.device.type == "cpu":  # faster layers on the same parameters: the optimizers built still hold
            optimize_for_cpu(self.model.G)
        in_epochs = round(self.cfg.pretrain_epochs * self.stream.steps_per_epoch)
        self.model.warmup_steps = max(self.cfg.pretrain_steps, in_epochs)
        self.step = self.nonfinite_total = self.nonfinite_run = 0

    # ----------------------------------------------------------------- setup
    def _check_fresh_or_resume(self, resume: bool) -> None:
        latest = self.ckpt_dir / LATEST
        if resume and not latest.exists():
            if (self.run_dir / "config.yaml").exists():  # killed before its first save: only those steps are lost
                raise TrainingError(
                    f"{self.run_dir}: nothing to resume: the run stopped before its first checkpoint (one is "
                    f"written every {self.cfg.save_every} steps and after each epoch); start it again with: "
                    f"colorgan train --config {self.run_dir / 'config.yaml'} --run-dir {self.run_dir}"
                )
            raise TrainingError(f"{self.run_dir}: nothing to resume (no checkpoints/{LATEST})")
        if not resume and latest.exists():
            raise TrainingError(
                f"{self.run_dir}: this run folder already has a checkpoint; pass --resume to continue it "
                "or choose another --run-dir"
            )

    def _resume(self) -> None:
        latest = self.ckpt_dir / LATEST
        ckpt = load_checkpoint(latest)
        model = self.model
        restore_training(ckpt, {"G": model.G, "D": model.D}, model.optimizers(), str(latest))
        if model.G_ema is not None:  # a run that turns the average on later starts it from G
            ema_state = ckpt.module_state("G_ema") or model.G.state_dict()
            load_module_state(model.G_ema, ema_state, f"{latest} [G_ema]")
        self.step = ckpt.state["step"]
        self.nonfinite_total = ckpt.state.get("nonfinite_total", 0)

    # ----------------------------------------------------------------- steps
    def _inputs(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (G's input, its target) for a step, on the device in the model's memory layout."""
        if self.device_pixels is not None:
            gray_u8, color_u8 = self.device_pixels.batch(*self.stream.plan(epoch, index))
        else:
            gray_u8, color_u8 = (t.to(self.device, non_blocking=True) for t in self.stream.batch(epoch, index))
        x, y = colorspace.encode_pixels(gray_u8, color_u8, self.cfg.color_space)
        layout = self.model.memory_format
        return x.contiguous(memory_format=layout), y.contiguous(memory_format=layout)

    # ----------------------------------------------------------------- loop
    def fit(self) -> Path:
        cfg = self.cfg
        if self.dist.is_main:
            self._write_run_files()
        per_epoch = self.stream.steps_per_epoch
        bar = tqdm(
            total=self.total_steps, initial=self.step, unit="step", disable=not self.progress, dynamic_ncols=True
        )
        log = open_log(self.run_dir / "log.csv", self.step) if self.dist.is_main else None
        board = self._open_tensorboard() if self.dist.is_main and cfg.tensorboard else None
        last_sample_epoch = -1
        stop = StopOnSignal(enabled=not self.dist.enabled)
        # Steps whose losses are still on the device: read together, so a GPU runs ahead of the host.
        pending: list[tuple[int, int, float, torch.Tensor]] = []
        window_start = time.perf_counter()
        try:
            while self.step < self.total_steps:
                epoch, index = divmod(self.step, per_epoch)
                model = self.model
                model.G.train()
                model.D.train()
                x, y = self._inputs(epoch, index)
                lr = self.lr_at(self.step)
                model.set_lr(lr)
                losses = model.step(x, y, self.step)  # a skipped step leaves no trace, BatchNorm statistics included
                if model.G_ema is not None:
                    model.update_ema(self.step, losses.values[-1])
                self.step += 1
                pending.append((self.step, epoch, lr, losses.values))
                epoch_done = self.step % per_epoch == 0 or self.step == self.total_steps
                # read once: a signal that lands later in this step (while logging) is handled after the next
                # step, which saves first; reading it twice could stop without the checkpoint
                stopping = bool(stop.signum)
                save_due = epoch_done or self.step % cfg.save_every == 0 or stopping
                if len(pending) < self.sync_every and not save_due:
                    continue
                self._record(pending, time.perf_counter() - window_start, log, board, bar)
                pending.clear()
                if self.dist.is_main and epoch_done:
                    if cfg.samples:  # --samples 0: no sample grids
                        grid = self.write_samples(epoch + 1)
                        if board is not None:
                            board.add_image("samples (gray | truth | ours)", grid, self.step, dataformats="HWC")
                    plot_losses(self.run_dir / "log.csv", self.run_dir / "loss.png", cfg.l1_weight)
                    last_sample_epoch = epoch + 1
                if save_due:
                    self.save(keep=epoch_done and (epoch + 1) % cfg.keep_every_epochs == 0)
                if stopping and self.step < self.total_steps:
                    raise TrainingStopped(
                        f"stopped by {signal.Signals(stop.signum).name} at step {self.step} of {self.total_steps}; "
                        f"checkpoint written: continue with colorgan train --resume {self.run_dir}",
                        stop.signum,
                    )
                window_start = time.perf_counter()
        finally:
            stop.restore()
            bar.close()
            if log is not None:
                log.close()
            if board is not None:
                board.close()
        if self.dist.is_main and last_sample_epoch < 0 and self.step > 0:
            plot_losses(self.run_dir / "log.csv", self.run_dir / "loss.png", cfg.l1_weight)
        return self.run_dir

    def _record(self, pending: list, seconds: float, log, board, bar) -> None:
        """Read the pending steps' losses (one wait for the device), count skipped steps (this may stop a
        diverged run) and log them. img/s is over the whole window: a GPU step's own time is not known."""
        values = torch.stack([v for *_, v in pending]).cpu().tolist()
        img_s = self.cfg.batch_size * len(pending) / max(seconds, 1e-9)
        for (step, epoch, lr, _), row in zip(pending, values):
            losses = dict(zip(LOSS_NAMES, row))
            self._count_nonfinite(row[-1] == 1.0, step)
            named = {
                "step": step,
                "epoch": epoch,
                **losses,
                "lr": lr,
                "img_s": img_s,
                "nonfinite": self.nonfinite_total,
            }
            cells = [named[field] for field in LOG_FIELDS]
            if log is not None:
                log.write(format_row(cells))
            if board is not None:
                for name, value in zip(LOG_FIELDS[2:], cells[2:]):
                    if not math.isnan(value):  # no D yet: nothing to plot
                        board.add_scalar(f"train/{name}", value, step)
        if log is not None:
            log.flush()
        shown = {"G_l1": f"{losses['G_l1']:.4f}"}
        if self.cfg.chroma_head == "bins":  # the head's own loss
            shown["G_bins"] = f"{losses['G_bins']:.3f}"
        if not math.isnan(losses["G_gan"]):  # no D yet (warm-up): nothing to show, not "nan"
            shown |= {"G_gan": f"{losses['G_gan']:.3f}", "D": f"{losses['D_real'] + losses['D_fake']:.3f}"}
        bar.set_description(f"epoch {epoch + 1}/{self.cfg.epochs}")
        bar.set_postfix(**shown, img_s=f"{img_s:.1f}", refresh=False)
        bar.update(len(pending))

    def lr_at(self, step: int) -> float:
        """The learning rate of a step: constant, then falling linearly to 0 over the last `lr_decay` of the
        run's epochs. A pure function of the step and --epochs (not of --max-steps, which only stops early), so
        resuming anywhere replays it exactly."""
        planned = self.cfg.epochs * self.stream.steps_per_epoch
        decay_steps = self.cfg.lr_decay * planned
        if decay_steps <= 0:
            return self.cfg.lr
        return self.cfg.lr * min(1.0, (planned - step) / decay_steps)

    def _count_nonfinite(self, finite: bool, step: int) -> None:
        if finite:
            self.nonfinite_run = 0
            return
        self.nonfinite_total += 1
        self.nonfinite_run += 1
        warnings.warn(f"step {step}: non-finite loss, step skipped", stacklevel=3)
        if self.nonfinite_run >= self.cfg.max_nonfinite:
            raise TrainingError(
                f"training diverged: {self.nonfinite_run} consecutive non-finite losses at step {step}; "
                f"the last good checkpoint is kept in {self.ckpt_dir}"
            )

    def save(self, keep: bool = False) -> None:
        if not self.dist.is_main:
            return
        state = {"step": self.step, "nonfinite_total": self.nonfinite_total}
        modules, optimizers = self.model.modules(), self.model.optimizers()
        try:
            save_checkpoint(self.ckpt_dir / LATEST, modules, optimizers, self.cfg.to_dict(), state)
            if keep:
                epoch = self.step // self.stream.steps_per_epoch
                save_checkpoint(
                    self.ckpt_dir / f"epoch_{epoch:03d}.safetensors", modules, optimizers, self.cfg.to_dict(), state
                )
        except OSError as exc:  # disk full, file too large: the previous checkpoint is untouched
            raise TrainingError(
                f"step {self.step}: cannot write a checkpoint in {self.ckpt_dir} "
                f"({exc.strerror or exc}); the previous one is intact: free some space, then "
                f"continue with --resume {self.run_dir}"
            ) from exc

    # ----------------------------------------------------------------- files
    def _write_run_files(self) -> None:
        atomic_write_text(self.run_dir / "config.yaml", self.cfg.to_yaml())
        names = self.cache.names
        split = {
            "seed": self.cfg.seed,
            "val_fraction": self.cfg.val_fraction,
            "train": [names[i] for i in self.train_idx],
            "val": [names[i] for i in self.val_idx],
        }
        atomic_write_text(self.run_dir / "split.json", json.dumps(split, indent=0))
        self.cache.write_skipped_csv(self.run_dir / "skipped.csv")
        if self.cache.skipped:
            shown = "\n  ".join(f"{s.path}: {s.reason}; skipped" for s in self.cache.skipped[:20])
            more = len(self.cache.skipped) - 20
            warnings.warn(
                f"{len(self.cache.skipped)} file(s) skipped (listed in {self.run_dir / 'skipped.csv'}):\n  {shown}"
                + (f"\n  ... and {more} more" if more > 0 else ""),
                stacklevel=2,
            )
        for folder in (self.run_dir, self.ckpt_dir, self.run_dir / "samples"):  # temps of a killed writer
            remove_stale_temps(folder)

    def _open_tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrainingError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
        # purge_step: a resumed run replaces what the killed one logged past its checkpoint, as log.csv does
        return SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self.step or None)

    def sample_indices(self) -> np.ndarray:
        pool = self.val_idx if len(self.val_idx) else self.train_idx
        return pool[: self.cfg.samples]

    @torch.no_grad()
    def write_samples(self, epoch: int) -> np.ndarray:
        rows = self.sample_indices()
        gray_u8 = torch.from_numpy(np.ascontiguousarray(self.cache.gray[rows])).unsqueeze(1)
        color_u8 = torch.from_numpy(np.ascontiguousarray(self.cache.color[rows])).permute(0, 3, 1, 2)
        gray, _ = pixels_to_float(gray_u8, color_u8, self.device)
        generator = self.model.shipped_generator()
        generator.eval()
        with autocast(self.device, self.model.amp_dtype):
            x = colorspace.encode_input(gray, self.cfg.color_space)
            out = generator(x.contiguous(memory_format=self.model.memory_format))
        rgb = colorspace.decode_output(gray, out, self.cfg.color_space)
        generated = (rgb.permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
        gray_rgb = np.repeat(self.cache.gray[rows][..., None], 3, axis=3)
        grid = sample_grid(gray_rgb, np.asarray(self.cache.color[rows]), generated)
        save_png(grid, self.run_dir / "samples" / f"epoch_{epoch:03d}.png")
        self.model.G.train()
        return grid

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    trainer = None
    try:
        trainer = Trainer(cfg, resume=resume, progress=progress)
        run_dir = trainer.fit()
        wait_for_all_ranks()
        return run_dir
    except RuntimeError as exc:  # under torchrun: a peer died or hung; say so instead of a gloo/NCCL trace
        if isinstance(exc, TrainingError) or not is_collective_failure(exc):
            raise
        raise TrainingError(collective_failure_message(exc)) from exc
    finally:
        if trainer is not None:
            trainer.close()
        shutdown_distributed()
