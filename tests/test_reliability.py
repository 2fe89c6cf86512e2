"""It loses nothing: real SIGKILLs, really full disks, NaN batches, a second writer and hostile checkpoints.

Each test here would fail if its guarantee broke (docs/reliability.md lists which test guards what).
Training is tiny (32 px, ngf 8, 22 photos, fp32, one thread), so a step takes milliseconds and what costs time
is starting Python: the kill test starts five real `colorgan train` processes.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from colorgan import Colorizer
from colorgan.cli.main import main as cli_main
from colorgan.config import make_config
from colorgan.infer.outputs import save_image
from colorgan.io.checkpoint import CheckpointError, load_checkpoint, load_module_state, save_checkpoint
from colorgan.io.images import ImageReadError, load_image
from colorgan.nets.build import build_generator
from colorgan.train.trainer import LOG_FIELDS, Trainer, TrainingError, train

from . import helpers
from .helpers import as_flags, logged_steps, small_train_argv, synthetic_photo

STATE_PREFIXES = ("G/", "D/", "opt_G/", "opt_D/")
LATEST = Path("checkpoints") / "latest.safetensors"

# `colorgan train`, optionally made to SIGKILL itself halfway through writing its Nth file in checkpoints/:
# the write gets half its bytes, then the process dies. This catches a kill inside any writer, atomic or not.
HARNESS = r"""
import builtins, io, os, signal, sys
kill_at = int(os.environ.get("COLORGAN_TEST_KILL_AT_WRITE", "0"))
if kill_at:
    real_open, seen = io.open, [0]

    class Torn:
        def __init__(self, handle):
            self._handle = handle
        def write(self, data):
            self._handle.write(data[: len(data) // 2])
            self._handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self._handle.__exit__(*exc)
        def __getattr__(self, name):
            return getattr(self._handle, name)

    def open_(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if any(c in mode for c in "wax+") and "/checkpoints/" in os.readlink(f"/proc/self/fd/{handle.fileno()}"):
            seen[0] += 1
            if seen[0] == kill_at:
                return Torn(handle)
        return handle

    io.open = builtins.open = open_
from colorgan.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


# Every step checkpointed, one thread: kills can land anywhere, and replays must match bit for bit.
RELIABLE = dict(epochs=2, pretrain_steps=2, save_every=1, threads=1)


def tiny_config(photo_dir: Path, run_dir: Path, **overrides):
    return helpers.tiny_config(photo_dir, run_dir, **{**RELIABLE, **overrides})


def tiny_flags(photo_dir: Path, run_dir: Path, epochs: int) -> list[str]:
    return as_flags(helpers.tiny_values(photo_dir, run_dir, **{**RELIABLE, "epochs": epochs}))


def start_train(args: list[str], log: Path, kill_at_write: int = 0) -> subprocess.Popen:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "COLORGAN_TEST_KILL_AT_WRITE": str(kill_at_write),
    }
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-c", HARNESS, "train", *args], stdout=out, stderr=out, env=env)


def log_rows(run_dir: Path) -> list[list[str]]:
    """log.csv rows without the img_s column (wall-clock speed is the one thing a resume may change)."""
    lines = (run_dir / "log.csv").read_text().splitlines()
    assert lines[0] == ",".join(LOG_FIELDS)
    drop = LOG_FIELDS.index("img_s")
    return [[c for i, c in enumerate(line.split(",")) if i != drop] for line in lines[1:]]


def temp_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tmp"))


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    keys_a = sorted(k for k in a if k.startswith(STATE_PREFIXES))
    assert keys_a == sorted(k for k in b if k.startswith(STATE_PREFIXES))
    assert len(keys_a) > 50
    different = [k for k in keys_a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:5]}"


def wait_for(condition, proc: subprocess.Popen | None, timeout: float = 90.0, poll: float = 0.005) -> bool:
    """Poll until condition() is true (True) or the process exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(poll)
    raise AssertionError("timed out waiting")


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


# =============================================================================================== 1. kills


@pytest.mark.slow
def test_kill_anywhere_resume_is_bit_identical(photo_dir, tmp_path):
    """SIGKILL a real `colorgan train` five times - at random steps, at a random moment after start (imports,
    data, resume included), the moment a checkpoint temp file appears, and halfway through a checkpoint write -
    resume each time, and end bit-identical to an uninterrupted run, with every step logged exactly once."""
    epochs = 4
    reference = tmp_path / "reference"
    train(tiny_config(photo_dir, reference, epochs=epochs), progress=False)
    total = len(logged_steps(reference))
    assert total == 20

    run, out = tmp_path / "killed", tmp_path / "train.out"
    rng = random.Random(int(os.environ.get("COLORGAN_KILL_SEED", "9")))
    ckpt_dir = run / "checkpoints"
    kills: list[str] = []
    torn_kills = 0

    temps_before: set[Path] = set()

    def start(kill_at_write: int = 0) -> subprocess.Popen:
        temps_before.clear()
        temps_before.update(temp_files(ckpt_dir) if ckpt_dir.exists() else [])
        resume = (run / LATEST).exists()  # a kill before the first checkpoint leaves nothing to resume
        args = ["--resume", str(run)] if resume else tiny_flags(photo_dir, run, epochs)
        return start_train(args, out, kill_at_write)

    def after_kill(proc: subprocess.Popen, how: str) -> None:
        nonlocal torn_kills
        assert proc.returncode == -signal.SIGKILL, (how, proc.returncode, out.read_text()[-3000:])
        torn = bool(set(temp_files(ckpt_dir)) - temps_before)  # killed mid-write: its temp file is still there
        torn_kills += torn
        step = 0
        if (run / LATEST).exists():  # what a kill leaves is always a complete, loadable checkpoint
            step = load_checkpoint(run / LATEST).state["step"]
            assert step <= max(logged_steps(run))
        kills.append(f"{how} (checkpoint at step {step}{', mid-write' if torn else ''})")
        print("killed", kills[-1])

    # 1: at a random step, a random fraction of a step later
    proc = start()
    target = rng.randint(3, 7)
    assert wait_for(lambda: len(logged_steps(run)) >= target, proc)
    time.sleep(rng.uniform(0, 0.05))
    kill(proc)
    after_kill(proc, f"after step {target}")

    # 2: the process kills itself halfway through writing its 1st-3rd checkpoint
    proc = start(kill_at_write=rng.randint(1, 3))
    proc.wait(timeout=120)
    after_kill(proc, "halfway through a checkpoint write")

    # 3: the moment a checkpoint temp file exists (tight polling once steps are running)
    before = len(logged_steps(run))
    proc = start()
    if wait_for(lambda: len(logged_steps(run)) > before, proc) and wait_for(
        lambda: bool(temp_files(ckpt_dir)), proc, poll=0
    ):
        kill(proc)
        after_kill(proc, "while a checkpoint temp file existed")

    # 4: at a random moment after start, whatever it is doing (importing, caching, resuming, stepping)
    proc = start()
    time.sleep(rng.uniform(0.5, 6.0))
    if proc.poll() is None:
        kill(proc)
        after_kill(proc, "at a random moment")

    # 5: again at a random step
    before = len(logged_steps(run))
    proc = start()
    if wait_for(lambda: len(logged_steps(run)) >= before + 2, proc):
        time.sleep(rng.uniform(0, 0.1))
        kill(proc)
        after_kill(proc, "after a random step")

    # finish
    if not (run / LATEST).exists() or load_checkpoint(run / LATEST).state["step"] < total:
        proc = start()
        assert proc.wait(timeout=180) == 0, out.read_text()[-3000:]

    assert len(kills) >= 3 and torn_kills >= 1, kills
    final, straight = load_checkpoint(run / LATEST), load_checkpoint(reference / LATEST)
    assert final.state["step"] == straight.state["step"] == total
    assert_same_state(final.tensors, straight.tensors)
    assert logged_steps(run) == list(range(1, total + 1))
    assert log_rows(run) == log_rows(reference)  # every loss of every step, exactly
    assert not temp_files(run)


# =============================================================================================== 2. full disks


@contextmanager
def file_size_limit(nbytes: int):
    """RLIMIT_FSIZE for this process: a write past `nbytes` fails with EFBIG, like a full disk fails with ENOSPC.
    (Python ignores SIGXFSZ, so the write raises instead of killing the process.)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


@pytest.mark.slow
def test_full_disk_during_checkpoint_keeps_the_previous_one(photo_dir, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config(photo_dir, run, max_steps=3), progress=False)
    before = (run / LATEST).read_bytes()

    with file_size_limit(1 << 20):  # a checkpoint is 3.7 MB; logs, samples and plots still fit
        code = cli_main(["train", "--resume", str(run), "--max-steps", "6"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot write" in err and "File too large" in err and "Traceback" not in err
    assert (run / LATEST).read_bytes() == before  # the previous checkpoint is intact ...
    assert load_checkpoint(run / LATEST).state["step"] == 3  # ... and loadable
    assert not temp_files(run)  # and no partial file is left behind

    # Space again: the resume goes on from step 3, and log.csv has every step once.
    assert cli_main(["train", "--resume", str(run), "--max-steps", "6"]) == 0
    assert logged_steps(run) == [1, 2, 3, 4, 5, 6]
    assert load_checkpoint(run / LATEST).state["step"] == 6


def test_really_full_filesystem_during_checkpoint(photo_dir, tmp_path):
    """The same on a real 6 MB tmpfs (ENOSPC): one 3.7 MB checkpoint fits, the temp file for the next does not."""
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True
        ).returncode
    ):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        run = mount / "run"
        with pytest.raises(TrainingError, match="cannot write") as err:
            train(tiny_config(photo_dir, run, epochs=1, max_steps=4), progress=False)
        assert isinstance(err.value.__cause__, OSError) and err.value.__cause__.errno == errno.ENOSPC
        assert load_checkpoint(run / LATEST).state["step"] == 1
        assert not temp_files(run)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_during_colorize_leaves_no_partial_outputs(tiny_model, tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    noise = np.random.default_rng(0).integers(0, 40, (240, 320, 1), dtype=np.uint8)
    for i in range(8):  # small photos give ~1 kB outputs, which fit; large noisy ones do not
        pixels = synthetic_photo(i, (48, 40)) if i % 2 else synthetic_photo(i, (240, 320)) // 2 + noise
        Image.fromarray(pixels).save(photos / f"img{i}.{'png' if i % 4 else 'jpg'}")
    colorizer = Colorizer.load(tiny_model)
    with file_size_limit(8000):
        report = colorizer.colorize_folder(photos, out, progress=False)
    assert len(report.done) == 4 and len(report.skipped) == 4
    assert all(reason == "cannot write (File too large)" for _, reason in report.skipped)
    assert not temp_files(out)
    assert sorted(p.name for p in out.iterdir()) == ["img1.png", "img3.png", "img5.png", "img7.png", "skipped.csv"]
    for path in out.glob("img*"):  # everything that is there is complete
        assert load_image(path).rgb.shape == (48, 40, 3)

    again = colorizer.colorize_folder(photos, out, progress=False)  # space again: the rest is done
    assert len(again.done) == 4 and len(again.existing) == 4

    # Overwriting an output on a full disk keeps the old file as it was.
    target = out / "img1.png"
    old = target.read_bytes()
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    with file_size_limit(len(old) + 100), pytest.raises(OSError) as err:
        save_image(big, target)
    assert err.value.errno == errno.EFBIG
    assert target.read_bytes() == old and not temp_files(out)


# =============================================================================================== 3. NaN and Inf


def _inject(monkeypatch, bad_steps: dict[int, float]) -> None:
    """Make the batches of the given (1-based) steps all NaN or Inf."""
    original = Trainer.__dict__["_inputs"]

    def inputs(self, epoch, index):
        x, y = original(self, epoch, index)
        value = bad_steps.get(epoch * self.stream.steps_per_epoch + index + 1)
        return (torch.full_like(x, value), y) if value is not None else (x, y)

    monkeypatch.setattr(Trainer, "_inputs", inputs)


def _record_checkpoints(monkeypatch) -> dict[int, dict[str, torch.Tensor]]:
    """Every checkpoint the trainer writes, read back from disk, by step."""
    saved: dict[int, dict[str, torch.Tensor]] = {}
    original = Trainer.save

    def save(self, keep=False):
        original(self, keep)
        saved[self.step] = load_checkpoint(self.ckpt_dir / "latest.safetensors").tensors

    monkeypatch.setattr(Trainer, "save", save)
    return saved


@pytest.mark.slow
def test_nonfinite_step_is_skipped_counted_and_training_goes_on(photo_dir, tmp_path, monkeypatch):
    _inject(monkeypatch, {4: float("nan"), 6: float("inf")})  # step 4 adversarial, both after the L1 warm-up
    saved = _record_checkpoints(monkeypatch)
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="non-finite loss, step skipped"):
        train(tiny_config(photo_dir, run), progress=False)

    rows = (run / "log.csv").read_text().splitlines()[1:]
    column = LOG_FIELDS.index("nonfinite")
    assert [int(r.split(",")[column]) for r in rows] == [0, 0, 0, 1, 1, 2, 2, 2, 2, 2]
    assert rows[3].split(",")[3] == "nan"  # G_l1 of the skipped step
    # A skipped step changes nothing: weights, BatchNorm statistics, optimizer moments.
    assert_same_state(saved[4], saved[3])
    assert_same_state(saved[6], saved[5])
    changed = [k for k in saved[5] if k.startswith("G/") and not torch.equal(saved[5][k], saved[4][k])]
    assert changed  # and training went on
    assert all(torch.isfinite(v).all() for k, v in saved[10].items() if v.is_floating_point())


def test_consecutive_nonfinite_steps_stop_training_and_keep_the_last_good_checkpoint(photo_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    cfg = tiny_config(photo_dir, run, max_nonfinite=3)
    with monkeypatch.context() as patch, warnings.catch_warnings():
        _inject(patch, {step: float("nan") for step in range(5, 11)})
        saved = _record_checkpoints(patch)
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingError, match=r"diverged: 3 consecutive non-finite losses at step 7") as err:
            train(cfg, progress=False)
    assert str(run / "checkpoints") in str(err.value)
    kept = load_checkpoint(run / LATEST)
    assert kept.state["step"] == 6 and kept.state["nonfinite_total"] == 2
    assert_same_state(kept.tensors, saved[4])  # the weights of the last good step
    assert all(torch.isfinite(v).all() for v in kept.tensors.values() if v.is_floating_point())
    assert logged_steps(run) == [1, 2, 3, 4, 5, 6]

    train(cfg, resume=True, progress=False)  # clean data again: the run resumes from the kept checkpoint
    assert logged_steps(run) == list(range(1, 11))


# =============================================================================================== 4. one writer


@pytest.mark.slow
def test_one_run_folder_one_writer_and_the_lock_dies_with_its_process(photo_dir, tmp_path, capsys):
    run = tmp_path / "run"
    proc = start_train(tiny_flags(photo_dir, run, epochs=500), tmp_path / "train.out")
    try:
        assert wait_for(lambda: (run / LATEST).exists(), proc), (tmp_path / "train.out").read_text()[-3000:]
        for second in (["--resume", str(run)], tiny_flags(photo_dir, run, epochs=2)):
            assert cli_main(["train", *second]) == 2
            assert "another training process is using this run folder" in capsys.readouterr().err
        assert proc.poll() is None  # the first one was not disturbed
    finally:
        kill(proc)
    step = load_checkpoint(run / LATEST).state["step"]
    assert (run / ".lock").exists()  # the lock file stays, its lock died with the process
    assert cli_main(["train", "--resume", str(run), "--max-steps", str(step + 2)]) == 0
    assert load_checkpoint(run / LATEST).state["step"] == step + 2
    assert logged_steps(run) == list(range(1, step + 3))


# =============================================================================================== 5. checkpoints


class Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_the_payload_really_runs_code_when_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"G": Payload(marker)}, buffer)
    torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)  # what a pickle-based loader would do
    assert marker.exists()


def test_hostile_pickle_checkpoints_are_refused_without_running_code(tmp_path, photo_dir, capsys):
    marker = tmp_path / "pwned"
    files = []
    for name in ("model.safetensors", "evil.pt", "evil.pth", "evil.ckpt"):
        files.append(tmp_path / name)
        torch.save({"G": Payload(marker), "state_dict": {"w": torch.zeros(2)}}, files[-1])
    files.append(tmp_path / "plain.pkl")
    files[-1].write_bytes(pickle.dumps(Payload(marker)))
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(files[0], run / LATEST)
    (run / "config.yaml").write_text(tiny_config(photo_dir, run).to_yaml())

    for path in [*files, run]:
        with pytest.raises(CheckpointError, match="not a readable safetensors checkpoint"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError, match="not a readable safetensors checkpoint"):
            Colorizer.load(path)
    assert cli_main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "latest.safetensors: not a readable safetensors checkpoint" in err and "Traceback" not in err
    assert not marker.exists()


def test_foreign_safetensors_files_are_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, tmp_path / "foreign.safetensors")  # not ours: no colorgan metadata
    with pytest.raises(CheckpointError, match="not a colorgan checkpoint"):
        load_checkpoint(tmp_path / "foreign.safetensors")
    save_file({"w": torch.zeros(3)}, tmp_path / "odd.safetensors", metadata={"format": "colorgan/1", "config": "[1]"})
    with pytest.raises(CheckpointError, match="damaged metadata"):
        load_checkpoint(tmp_path / "odd.safetensors")


def test_wrong_shapes_and_keys_name_what_mismatched(tiny_model, tmp_path, photo_dir, capsys):
    ckpt = load_checkpoint(tiny_model)  # ngf 8, size 32 (depth 5)
    wider = build_generator(make_config("unet-lab", size=32, ngf=16))
    with pytest.raises(
        CheckpointError,
        match=r"shape mismatches \(e\.g\. .*downs\.0\.0\.weight: "
        r"checkpoint \(8, 1, 4, 4\) vs model \(16, 1, 4, 4\)",
    ):
        load_module_state(wider, ckpt.module_state("G"), "tiny")
    deeper = build_generator(make_config("unet-lab", size=64, ngf=8))
    with pytest.raises(CheckpointError, match=r"missing \d+ keys \(e\.g\. downs\.4\.1\.bias"):
        load_module_state(deeper, ckpt.module_state("G"), "tiny")
    shallower = build_generator(make_config("unet-lab", size=16, ngf=8))
    with pytest.raises(CheckpointError, match=r"unexpected \d+ keys"):
        load_module_state(shallower, ckpt.module_state("G"), "tiny")

    # A weights file whose config does not match its own weights.
    config = {**ckpt.config, "ngf": 16}
    save_checkpoint(
        tmp_path / "lying.safetensors",
        {"G": build_generator(make_config("unet-lab", size=32, ngf=8))},
        {},
        config,
        {"step": 0},
    )
    with pytest.raises(CheckpointError, match=r"lying\.safetensors.*weights do not fit the model.*shape mismatches"):
        Colorizer.load(tmp_path / "lying.safetensors")

    # Resuming a run with a different width, or from a generator-only file.
    run = tmp_path / "run"
    train(tiny_config(photo_dir, run, max_steps=1), progress=False)
    assert cli_main(["train", "--resume", str(run), "--ngf", "16"]) == 2
    assert "weights do not fit the model" in capsys.readouterr().err
    shutil.copy(tiny_model, run / LATEST)
    assert cli_main(["train", "--resume", str(run)]) == 2
    assert "[D]: weights do not fit the model: missing" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("ckpt") / "small.safetensors"
    module = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    optimizer = torch.optim.Adam(module.parameters())
    module(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    save_checkpoint(path, {"G": module}, {"opt_G": optimizer}, {"ngf": 8}, {"step": 1})
    return path.read_bytes()


@settings(
    max_examples=int(os.environ.get("COLORGAN_FUZZ_EXAMPLES", "0")) or 80,
    deadline=2000,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_damaged_checkpoints_give_checkpoint_errors(small_checkpoint, tmp_path, data):
    """Random damage to a checkpoint's header and body: it loads or raises CheckpointError, nothing else."""
    raw = bytearray(small_checkpoint)
    header_end = 8 + int.from_bytes(raw[:8], "little")
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, header_end - 1) | st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(bytes(raw))
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as err:
        assert str(path) in str(err)
        return
    assert isinstance(ckpt.config, dict) and isinstance(ckpt.state, dict)


# =============================================================================================== atomic writes


def test_atomic_write_keeps_normal_permissions(tmp_path):
    from colorgan.io.atomic import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644  # as open() would, not mkstemp's 0600
        os.chmod(tmp_path / "a.bin", 0o640)
        atomic_write_bytes(tmp_path / "a.bin", b"y")
        assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o640  # replacing keeps the file's mode
    finally:
        os.umask(old)


def test_special_files_are_skipped_at_once_not_read_forever(tiny_model, tmp_path):
    """A FIFO named like a photo and /dev/zero linked as a photo or a model: skipped by name, no hang."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(synthetic_photo(1)).save(folder / "good.png")
    os.mkfifo(folder / "p.jpg")
    os.symlink("/dev/zero", folder / "z.jpg")
    colorizer = Colorizer.load(tiny_model)
    report = colorizer.colorize_folder(folder, tmp_path / "out", progress=False)
    assert [p.name for p in report.done] == ["good.png"]
    reasons = dict((Path(p).name, r) for p, r in report.skipped)
    assert "not a regular file" in reasons["p.jpg"] and "not a regular file" in reasons["z.jpg"]
    with pytest.raises(CheckpointError, match="not a regular file"):
        Colorizer.load(folder / "z.jpg")


def test_a_symlinked_run_lock_is_refused_and_its_target_untouched(photo_dir, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (run / ".lock").symlink_to(victim)
    cfg = make_config(
        "unet-lab",
        data=str(photo_dir),
        size=32,
        ngf=8,
        ndf=8,
        batch_size=4,
        max_steps=1,
        ema_decay=0,
        precision="fp32",
        run_dir=str(run),
    )
    with pytest.raises(TrainingError, match="run lock"):
        train(cfg, progress=False)
    assert victim.read_text() == "keep me"


def test_non_finite_weights_are_refused_at_load_and_non_finite_output_writes_nothing(tiny_model, tmp_path):
    ckpt = load_checkpoint(tiny_model)
    generator = build_generator(make_config("unet-lab", **{k: v for k, v in ckpt.config.items() if k != "extra"}))
    load_module_state(generator, ckpt.module_state("G"), "tiny")
    with torch.no_grad():
        generator.head[0].bias[0] = float("inf")
    broken = tmp_path / "inf.safetensors"
    save_checkpoint(broken, {"G": generator}, {}, ckpt.config, {})
    with pytest.raises(CheckpointError, match="NaN or Inf"):
        Colorizer.load(broken)

    colorizer = Colorizer.load(tiny_model)
    colorizer.backend = lambda x: torch.full((x.shape[0], 2, *x.shape[2:]), float("nan"))
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(synthetic_photo(2)).save(folder / "a.png")
    report = colorizer.colorize_folder(folder, tmp_path / "out", progress=False)
    assert report.done == [] and "NaN or Inf" in report.skipped[0][1]
    assert not (tmp_path / "out" / "a.png").exists()


def test_full_disk_while_caching_training_photos_is_one_clear_error(photo_dir, tmp_path, capsys):
    """The pixel cache was written through a memory map: a full disk killed training with SIGBUS, no message."""
    cache = tmp_path / "cache"
    with file_size_limit(20_000):  # 24 photos at 32 px need 74 kB of color pixels
        code = cli_main(small_train_argv(photo_dir, tmp_path / "run", max_steps=1, cache_dir=str(cache)))
    err = capsys.readouterr().err
    assert code == 2 and "cannot write the pixel cache" in err and "--cache-dir" in err
    assert not [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".lock"]  # no half cache left
    assert (
        cli_main(small_train_argv(photo_dir, tmp_path / "run2", max_steps=1, cache_dir=str(cache), precision="fp32"))
        == 0
    )


def test_a_rerun_removes_the_temp_files_of_a_killed_folder_run(tiny_model, tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    (photos / "sub").mkdir(parents=True)
    Image.fromarray(synthetic_photo(4)).save(photos / "sub" / "a.png")
    (out / "sub").mkdir(parents=True)
    left = out / "sub" / ".a.png.0badc0de.tmp"  # as a kill mid-write leaves it
    left.write_bytes(b"half")
    mine = out / "sub" / ".notes.tmp"  # not ours: kept
    mine.write_text("user file")
    report = Colorizer.load(tiny_model).colorize_folder(photos, out, progress=False)
    assert len(report.done) == 1 and not left.exists() and mine.exists()


def test_a_progressive_jpeg_scan_bomb_is_refused_at_once():
    """Thousands of empty scan headers after a progressive JPEG: each costs a full decode pass."""
    buffer = io.BytesIO()
    Image.fromarray(synthetic_photo(0, (700, 700))).save(buffer, format="JPEG", progressive=True)
    normal = buffer.getvalue()
    assert load_image(normal).rgb.shape == (700, 700, 3)  # an honest progressive JPEG is fine
    empty_scan = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    bomb = normal[:-2] + empty_scan * 3000 + b"\xff\xd9"
    started = time.monotonic()
    with pytest.raises(ImageReadError, match="JPEG scans"):
        load_image(bomb)
    assert time.monotonic() - started < 1.0
