"""What a GPU run does differently, checked on the CPU: losses read every N steps instead of every step, batches
gathered from a copy of the pixel cache on the device, skipped steps decided on the device (the fused Adam), and
the for-loop Adam's skip on the host. Each must give exactly the run the plain CPU path gives."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from colorgan.io.checkpoint import load_checkpoint
from colorgan.train.batches import BatchStream, DevicePixels
from colorgan.train.pixel_cache import load_cache
from colorgan.train.run_log import LOG_FIELDS
from colorgan.train.trainer import Trainer, TrainingError

from .helpers import tiny_config

KEPT = ("G/", "D/", "G_ema/", "opt_G/", "opt_D/")
COMPARED = [f for f in LOG_FIELDS if f != "img_s"]  # the log columns that must match (not the speed)


def run(cfg, sync_every: int = 1, device_pixels: bool = False, poison: dict[int, float] | None = None):
    """Train `cfg` to the end with losses read every `sync_every` steps; -> (log rows without img/s, state)."""
    trainer = Trainer(cfg, progress=False)
    try:
        trainer.sync_every = sync_every
        if device_pixels:
            trainer.device_pixels = DevicePixels(trainer.cache, "cpu")
        if poison:
            original = trainer._inputs

            def inputs(epoch, index):
                x, y = original(epoch, index)
                value = poison.get(epoch * trainer.stream.steps_per_epoch + index + 1)
                return (torch.full_like(x, value), y) if value is not None else (x, y)

            trainer._inputs = inputs
        trainer.fit()
    finally:
        trainer.close()
    rows = [dict(zip(LOG_FIELDS, r.split(","))) for r in (trainer.run_dir / "log.csv").read_text().splitlines()[1:]]
    state = load_checkpoint(trainer.run_dir / "checkpoints" / "latest.safetensors")
    return [[r[f] for f in COMPARED] for r in rows], state


def assert_same(a, b) -> None:
    rows_a, state_a = a
    rows_b, state_b = b
    assert rows_a == rows_b
    keys = sorted(k for k in state_a.tensors if k.startswith(KEPT))
    assert len(keys) > 50 and keys == sorted(k for k in state_b.tensors if k.startswith(KEPT))
    assert all(torch.equal(state_a.tensors[k], state_b.tensors[k]) for k in keys)
    assert state_a.state["step"] == state_b.state["step"]
    assert state_a.state["nonfinite_total"] == state_b.state["nonfinite_total"]


def test_device_pixels_give_the_host_batches_bit_for_bit(photo_dir, tmp_path):
    cache = load_cache([str(photo_dir)], 32, str(tmp_path / "cache"), None, progress=False)
    stream = BatchStream(cache, np.arange(len(cache)), 5, seed=3, flip=True)
    row = cache.color[0].nbytes + cache.gray[0].nbytes
    on_device = DevicePixels(cache, "cpu", bytes_per_copy=7 * row)  # slices of 7 rows: they do not divide the count
    flipped = 0
    for epoch in range(3):
        for index in range(stream.steps_per_epoch):
            rows, flips = stream.plan(epoch, index)
            flipped += int(flips.sum())
            for host, device in zip(stream.batch(epoch, index), on_device.batch(rows, flips)):
                assert host.dtype == device.dtype == torch.uint8 and torch.equal(host, device)
    assert flipped > 0
    assert not DevicePixels.fits(cache, torch.device("cpu"))  # the trainer uses it on a GPU only


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
def test_losses_read_every_few_steps_give_the_same_run_and_log(photo_dir, tmp_path):
    values = dict(epochs=2, ema_decay=0.99, pretrain_steps=2, color_space="lab", save_every=3)
    every_step = run(tiny_config(photo_dir, tmp_path / "a", **values))
    every_four = run(tiny_config(photo_dir, tmp_path / "b", **values), sync_every=4, device_pixels=True)
    assert len(every_step[0]) == 10
    assert_same(every_step, every_four)


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
@pytest.mark.parametrize("fused_adam", [True, False])
def test_a_skipped_step_is_counted_when_its_losses_are_read_later(photo_dir, tmp_path, fused_adam):
    poison = {4: float("nan"), 5: float("inf"), 9: float("nan")}
    values = dict(epochs=2, ema_decay=0.99, pretrain_steps=2, fused_adam=fused_adam)
    with pytest.warns(UserWarning, match="step 9: non-finite loss, step skipped"):
        every_step = run(tiny_config(photo_dir, tmp_path / "a", **values), poison=poison)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every_three = run(tiny_config(photo_dir, tmp_path / "b", **values), sync_every=3, poison=poison)
    assert [int(r[COMPARED.index("nonfinite")]) for r in every_step[0]] == [0, 0, 0, 1, 2, 2, 2, 2, 3, 3]
    assert every_step[1].state["nonfinite_total"] == 3
    assert_same(every_step, every_three)


def test_divergence_found_in_a_late_read_still_stops_before_a_checkpoint(photo_dir, tmp_path):
    # 5 steps an epoch: losses read after steps 5 and 10; steps 6 to 8 diverge, found when step 10's are read
    cfg = tiny_config(photo_dir, tmp_path / "run", epochs=3, max_nonfinite=3)
    with warnings.catch_warnings(), pytest.raises(TrainingError, match="3 consecutive non-finite losses at step 8"):
        warnings.simplefilter("ignore")
        run(cfg, sync_every=5, poison={step: float("nan") for step in range(6, 16)})
    kept = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert kept.state["step"] == 5 and kept.state["nonfinite_total"] == 0  # the one due at step 10 is not written
    assert all(torch.isfinite(v).all() for v in kept.tensors.values() if v.is_floating_point())


@pytest.mark.parametrize("fused_adam", [True, False])
def test_a_skipped_step_leaves_no_trace_in_weights_moments_statistics_or_the_average(photo_dir, tmp_path, fused_adam):
    values = dict(epochs=2, ema_decay=0.99, pretrain_steps=2, fused_adam=fused_adam)
    before = run(tiny_config(photo_dir, tmp_path / "a", max_steps=3, **values))
    with pytest.warns(UserWarning, match="step 4: non-finite loss"):
        skipped = run(tiny_config(photo_dir, tmp_path / "b", max_steps=4, **values), poison={4: float("nan")})
    keys = [k for k in before[1].tensors if k.startswith(KEPT)]
    assert any(k.startswith("G_ema/") for k in keys) and any("running_mean" in k for k in keys)
    changed = [k for k in keys if not torch.equal(before[1].tensors[k], skipped[1].tensors[k])]
    assert not changed, changed[:5]
