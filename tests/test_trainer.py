"""Training end to end on tiny data: files written, exact resume, presets and overrides."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.cli.main import main
from colorgan.config import PRESETS, make_config
from colorgan.io.checkpoint import LATEST, load_checkpoint
from colorgan.train.stopping import StopOnSignal
from colorgan.train.trainer import TrainingError, train

from .helpers import TINY, logged_steps, small_train_argv, synthetic_photo, tiny_config


def tiny(photo_dir, run_dir, **overrides):
    return tiny_config(photo_dir, run_dir, **{"pretrain_steps": 2, **overrides})


def test_a_run_writes_log_losses_samples_and_a_checkpoint(photo_dir, tmp_path):
    run = train(tiny(photo_dir, tmp_path / "run", epochs=2), progress=False)
    rows = list(csv.DictReader(Path(run / "log.csv").read_text().splitlines()))
    # 24 photos, 10 % validation -> 22 training photos -> 5 steps of 4 per epoch.
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert set(rows[0]) == {"step", "epoch", "G_gan", "G_l1", "D_real", "D_fake", "lr", "img_s", "nonfinite", "G_bins"}
    assert rows[0]["G_gan"] == "nan" and float(rows[-1]["G_gan"]) > 0  # L1 warm-up, then the GAN
    assert (run / "loss.png").stat().st_size > 1000
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    for name in ("config.yaml", "split.json", "skipped.csv", "checkpoints/latest.safetensors"):
        assert (run / name).exists(), name
    ckpt = load_checkpoint(run)
    assert ckpt.state["step"] == 10 and any(k.startswith("opt_D/") for k in ckpt.tensors)
    assert len(ckpt.config["extra"]["mean_ab"]) == 2


def test_samples_zero_trains_and_writes_no_sample_grids(photo_dir, tmp_path):
    run = train(tiny(photo_dir, tmp_path / "run", epochs=2, samples=0), progress=False)
    assert not list((run / "samples").glob("*.png"))
    assert (run / "loss.png").exists() and load_checkpoint(run).state["step"] == 10


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
def test_resume_continues_exactly(photo_dir, tmp_path):
    straight = train(tiny(photo_dir, tmp_path / "a", epochs=2), progress=False)
    train(tiny(photo_dir, tmp_path / "b", epochs=2, max_steps=3), progress=False)
    resumed = train(tiny(photo_dir, tmp_path / "b", epochs=2), resume=True, progress=False)
    a, b = load_checkpoint(straight).tensors, load_checkpoint(resumed).tensors
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [int(r["step"]) for r in csv.DictReader(Path(resumed / "log.csv").read_text().splitlines())]
    assert steps == list(range(1, 11))


def test_a_used_run_folder_needs_resume_and_resume_needs_a_checkpoint(photo_dir, tmp_path):
    train(tiny(photo_dir, tmp_path / "run", max_steps=1), progress=False)
    with pytest.raises(TrainingError, match="pass --resume"):
        train(tiny(photo_dir, tmp_path / "run", max_steps=1), progress=False)
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(tiny(photo_dir, tmp_path / "fresh"), resume=True, progress=False)


@pytest.mark.slow
def test_resuming_a_run_killed_before_its_first_checkpoint_says_what_to_run(photo_dir, tmp_path, capsys):
    run = tmp_path / "run"
    argv = small_train_argv(photo_dir, run, max_steps=2)
    assert main(argv) == 0
    shutil.rmtree(run / "checkpoints")  # as a kill before the first save leaves it: a config, a log, no checkpoint
    assert main(["train", "--resume", str(run)]) != 0
    err = capsys.readouterr().err
    assert "stopped before its first checkpoint" in err
    suggested = err.split("start it again with: ")[1].split()
    assert suggested[:2] == ["colorgan", "train"]
    assert main(suggested[1:]) == 0  # the suggested command runs in the same folder
    assert (run / "checkpoints" / LATEST).exists()


def test_rgb_recipe_trains_too(photo_dir, tmp_path):
    run = train(tiny(photo_dir, tmp_path / "rgb", color_space="rgb", max_steps=2), progress=False)
    assert load_checkpoint(run).tensors["G/head.0.weight"].shape[1] == 3


def test_seed_preset_is_the_recipe_and_flags_override_it():
    seed = make_config("seed")
    assert (seed.size, seed.batch_size, seed.epochs, seed.l1_weight, seed.lr, seed.beta1, seed.color_space) == (
        256,
        64,
        50,
        100.0,
        2e-4,
        0.5,
        "rgb",
    )
    assert seed.resolved_depth == 8 and seed.ngf == seed.ndf == 64
    assert make_config("seed", batch_size=16).batch_size == 16
    assert PRESETS["default"]["color_space"] == "lab"


def test_gan_weight_zero_trains_no_discriminator(photo_dir, tmp_path):
    run = train(tiny(photo_dir, tmp_path / "nod", gan_weight=0.0, pretrain_steps=0, max_steps=3), progress=False)
    rows = list(csv.DictReader(Path(run / "log.csv").read_text().splitlines()))
    assert [r["D_real"] for r in rows] == ["nan"] * 3
    ckpt = load_checkpoint(run)
    assert not any(k.startswith("opt_D/") for k in ckpt.tensors)  # D never stepped: Adam has no state for it


def test_resume_keeps_the_runs_split_when_the_data_folder_changed(photo_dir, tmp_path):
    run = train(tiny(photo_dir, tmp_path / "run", max_steps=2), progress=False)
    before = (run / "split.json").read_text()
    for i in range(6):  # new photos whose names sort among the old ones
        Image.fromarray(synthetic_photo(100 + i)).save(photo_dir / "a" / f"img{i:02d}x.png")
    with pytest.warns(UserWarning, match="6 photo"):
        train(tiny(photo_dir, tmp_path / "run", max_steps=4), resume=True, progress=False)
    assert (run / "split.json").read_text() == before
    (photo_dir / "b" / "img00.png").unlink()
    with pytest.raises(TrainingError, match="no longer in the data"):
        train(tiny(photo_dir, tmp_path / "run", max_steps=6), resume=True, progress=False)


def test_photos_that_change_while_the_cache_is_built_are_skipped_by_name_and_rebuilt_next_run(
    photo_dir, tmp_path, monkeypatch
):
    """A data folder that changes during training: the cache is decoded once, so a photo deleted under the
    builder is skipped with its name, one rewritten is read as it is then, and the next run sees the change."""
    from colorgan.train import pixel_cache

    gone, rewritten = photo_dir / "b" / "img04.jpg", photo_dir / "a" / "img05.jpg"
    decode = pixel_cache.decode_sample

    def racing_decode(sample, size):
        if gone.exists():  # before the first photo is read: another process deletes one and rewrites one
            gone.unlink()
            Image.fromarray(synthetic_photo(200, (40, 50))).save(rewritten)
        return decode(sample, size)

    monkeypatch.setattr(pixel_cache, "decode_sample", racing_decode)
    with pytest.warns(UserWarning, match=r"b/img04.jpg: cannot read file \(No such file"):
        run = train(tiny(photo_dir, tmp_path / "run", max_steps=2), progress=False)
    skipped = (run / "skipped.csv").read_text()
    assert "img04.jpg" in skipped and len(skipped.strip().splitlines()) == 2  # a header and that photo
    split = json.loads((run / "split.json").read_text())
    assert len(split["train"]) + len(split["val"]) == 23

    monkeypatch.setattr(pixel_cache, "decode_sample", decode)
    Image.fromarray(synthetic_photo(300)).save(rewritten)  # changed again, after training: the cache is not reused
    cache = pixel_cache.load_cache(str(photo_dir), 32, progress=False)
    row = cache.names.index(next(n for n in cache.names if n.endswith("img05.jpg")))
    expected = pixel_cache.decode_sample(
        next(s for s in pixel_cache.find_samples(str(photo_dir))[0] if s.name.endswith("img05.jpg")), 32
    )[0]
    np.testing.assert_array_equal(cache.read(np.array([row]))[0][0], expected)


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
def test_lr_decays_linearly_to_zero_over_the_last_fraction_and_resumes_exactly(photo_dir, tmp_path):
    straight = train(tiny(photo_dir, tmp_path / "a", epochs=2, lr_decay=0.5), progress=False)
    rows = list(csv.DictReader(Path(straight / "log.csv").read_text().splitlines()))
    lrs = [float(r["lr"]) for r in rows]  # 10 steps; the last 5 decay: 2e-4 * (10 - step) / 5
    assert lrs[:6] == [2e-4] * 6 and lrs[6:] == pytest.approx([1.6e-4, 1.2e-4, 0.8e-4, 0.4e-4])
    train(tiny(photo_dir, tmp_path / "b", epochs=2, lr_decay=0.5, max_steps=7), progress=False)
    resumed = train(
        tiny(photo_dir, tmp_path / "b", epochs=2, lr_decay=0.5, max_steps=None), resume=True, progress=False
    )
    a, b = load_checkpoint(straight).tensors, load_checkpoint(resumed).tensors
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_presets_are_yaml_files_and_a_run_config_can_start_a_new_run(photo_dir, tmp_path, capsys):
    from colorgan.cli.main import main

    assert make_config("pix2pix") == make_config("seed")
    run = train(tiny(photo_dir, tmp_path / "run", max_steps=1), progress=False)
    again = make_config(config_file=run / "config.yaml", run_dir=str(tmp_path / "other"))
    assert again.to_dict() | {"run_dir": ""} == load_checkpoint(run).config | {"run_dir": ""}
    assert main(["train", "--config", str(run / "config.yaml"), "--batch-size", "2", "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert "batch_size: 2" in printed and "ngf: 8" in printed
    (tmp_path / "bad.yaml").write_text("- not a mapping")
    assert main(["train", "--config", str(tmp_path / "bad.yaml")]) == 2


def test_the_warm_up_can_be_given_in_epochs_whatever_the_dataset_size(photo_dir, tmp_path):
    """5,400 steps meant "12 epochs" of one dataset only; --pretrain-epochs means the same on any."""
    run = train(tiny(photo_dir, tmp_path / "w", pretrain_steps=0, pretrain_epochs=1, epochs=2), progress=False)
    rows = list(csv.DictReader(Path(run / "log.csv").read_text().splitlines()))
    per_epoch = len(rows) // 2  # 22 training photos at batch 4: 5 steps an epoch
    assert per_epoch == 5
    assert all(r["G_gan"] == "nan" for r in rows[:per_epoch])  # L1 only through the first epoch
    assert all(r["G_gan"] != "nan" for r in rows[per_epoch:])
    with pytest.raises(ValueError, match="pretrain-epochs"):
        make_config("unet-lab", pretrain_epochs=-1)


@pytest.mark.slow
def test_train_colorize_and_the_cache_work_without_fcntl(tmp_path, photo_dir):
    """fcntl is POSIX-only: train and colorize must import (and lock) without it, as on Windows."""
    code = (
        "import sys; sys.modules['fcntl'] = None\n"
        "import colorgan.train.trainer, colorgan.infer.colorize, colorgan.train.pixel_cache, colorgan.cli.main\n"
        "from colorgan.train.trainer import RunLock, TrainingError\n"
        "from pathlib import Path\n"
        f"run = Path({str(tmp_path / 'run')!r}); run.mkdir()\n"
        "first = RunLock(run)\n"
        "try:\n"
        "    RunLock(run)\n"
        "    raise SystemExit('a second lock was granted')\n"
        "except TrainingError as exc:\n"
        "    assert 'another training process' in str(exc)\n"
        "first.release()\n"
        "RunLock(run).release()\n"
        "print('ok')\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_tensorboard_gets_the_losses_the_learning_rate_and_the_samples(photo_dir, tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    run = train(tiny(photo_dir, tmp_path / "tb", epochs=2, tensorboard=True), progress=False)
    events = event_accumulator.EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/G_l1", "train/G_gan", "train/lr", "train/img_s"} <= scalars
    assert [e.step for e in events.Scalars("train/G_l1")] == list(range(1, 11))
    assert [e.step for e in events.Scalars("train/G_gan")] == list(range(3, 11))  # D from step 3 (warm-up 2)
    assert len(events.Images("samples (gray | truth | ours)")) == 2  # one grid per epoch
    rows = list(csv.DictReader(Path(run / "log.csv").read_text().splitlines()))
    assert len(rows) == 10  # the CSV stays


@pytest.mark.slow  # a few seconds: the quick loop (-m "not slow") stays under a minute
def test_sigterm_stops_training_with_a_checkpoint_and_resume_ends_where_an_unstopped_run_does(photo_dir, tmp_path):
    values = {**TINY, "epochs": 12, "save_every": 1000, "samples": 0}  # 5 steps an epoch: 60 steps
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def colorgan_train(run: Path, *extra: str) -> subprocess.Popen:
        argv = [sys.executable, "-m", "colorgan", *small_train_argv(photo_dir, run, **values), *extra]
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    straight = colorgan_train(tmp_path / "straight")
    run = tmp_path / "stopped"
    proc = colorgan_train(run)
    deadline = time.monotonic() + 120
    while len(logged_steps(run)) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    stopped_at = load_checkpoint(run).state["step"]
    assert f"stopped by SIGTERM at step {stopped_at} of 60" in err and f"--resume {run}" in err
    assert 3 <= stopped_at < 60 and logged_steps(run)[-1] == stopped_at  # nothing lost since the last save
    resumed = colorgan_train(run, "--resume", str(run))
    assert resumed.wait(timeout=120) == 0 and straight.wait(timeout=120) == 0, resumed.communicate()
    a, b = load_checkpoint(tmp_path / "straight").tensors, load_checkpoint(run).tensors
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_signal_that_lands_while_a_step_is_logged_still_stops_with_that_steps_checkpoint(
    photo_dir, tmp_path, monkeypatch
):
    from colorgan.train.trainer import Trainer, TrainingStopped

    record = Trainer._record

    def record_then_signal(self, pending, *args):
        record(self, pending, *args)
        if pending[-1][0] == 3:  # the step was already judged "no save due" when the signal comes
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Trainer, "_record", record_then_signal)
    run = tmp_path / "run"
    with pytest.raises(TrainingStopped, match="at step 4 of 10"):
        train(tiny(photo_dir, run, epochs=2, save_every=1000, samples=0), progress=False)
    assert load_checkpoint(run).state["step"] == 4 and logged_steps(run)[-1] == 4


def test_the_first_signal_asks_to_stop_and_the_second_acts_as_before():
    started_with = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, not an `&` job
    before = signal.getsignal(signal.SIGINT)
    stop = StopOnSignal()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.signum == signal.SIGINT and signal.getsignal(signal.SIGINT) is before
    finally:
        stop.restore()
    assert StopOnSignal(enabled=False).previous == {}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an ignored signal stays ignored
    try:
        ignoring = StopOnSignal()
        assert signal.SIGINT not in ignoring.previous and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        ignoring.restore()
    finally:
        signal.signal(signal.SIGINT, started_with)
