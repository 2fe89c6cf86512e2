"""DDP on CPU: 2 processes under torchrun, gloo on loopback, tiny data, fp32, one thread each.

- The ranks hold identical weights, and they match a single-process run on the same global batch. Batch norm
  normalizes over each rank's half of the batch in training mode (and SyncBatchNorm does not run on CPU), so
  that comparison trains with the networks in eval mode: BN is then a fixed per-channel affine map and dropout
  is off, and what is left to compare is exactly DDP's gradient averaging. A non-finite loss on one rank only
  must make every rank skip that step (otherwise the other rank waits for gradients that never come).
- Training mode (per-rank BN, dropout) still leaves the ranks' weights identical, and `-m colorgan train
  --resume` under torchrun continues exactly where a straight DDP run would be.
- A rank killed with SIGKILL makes the job fail within seconds, not hang; a surviving rank without a torchrun
  agent to stop it (another node's, say) says what happened and exits.

This file is also the worker that torchrun starts: `python -m tests.test_distributed SPEC_JSON OUT_DIR`.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from colorgan.config import make_config
from colorgan.io.checkpoint import load_checkpoint
from colorgan.train.distributed import (
    Dist,
    all_ranks_agree_on_device,
    check_sync_bn,
    dist_timeout,
    shutdown_distributed,
)
from colorgan.train.trainer import Trainer

from .helpers import TINY, as_flags, logged_steps

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find a rank's pid")
# 24 photos, 10 % validation -> 22 training photos -> 2 steps of 8 per epoch; ranks see 4 photos each.
BASE = {**TINY, "batch_size": 8, "epochs": 2, "threads": 1, "save_every": 1000, "samples": 2}
FLAGS = as_flags(BASE)
NAN_STEP = 2  # in the eval-mode comparison, rank 1's half of this step's batch is NaN


# ---------------------------------------------------------------- the worker torchrun starts
def eval_mode_steps(trainer: Trainer, steps: int, poison) -> list[bool]:
    """Train `steps` steps with G and D in eval mode; `poison(step, x)` may spoil an input batch."""
    finite = []
    for _ in range(steps):
        epoch, index = divmod(trainer.step, trainer.stream.steps_per_epoch)
        x, y = trainer._inputs(epoch, index)
        trainer.model.G.eval()
        trainer.model.D.eval()
        finite.append(trainer.model.step(poison(trainer.step + 1, x), y, trainer.step).finite)
        trainer.step += 1
    return finite


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    named = [("G", trainer.model.G), ("D", trainer.model.D)]
    params = {f"{n}.{k}": v.detach().clone() for n, m in named for k, v in m.named_parameters()}
    buffers = {f"buffer:{n}.{k}": v.detach().clone() for n, m in named for k, v in m.named_buffers()}
    return {**params, **buffers}


def worker(spec: dict, out: Path) -> None:
    results: dict = {}
    try:
        cfg = make_config("unet-lab", **spec["eval_config"], run_dir=str(out / "eval"))
        trainer = Trainer(cfg, progress=False)
        rank = trainer.dist.rank

        def poison(step, x, rank=rank):
            return torch.full_like(x, float("nan")) if rank == 1 and step == NAN_STEP else x

        finite = eval_mode_steps(trainer, spec["steps"], poison)
        results["eval"] = {"finite": finite, "weights": weights(trainer)}
        trainer.close()
        cfg = make_config("unet-lab", **spec["fit_config"])
        trainer = Trainer(cfg, progress=False)
        trainer.fit()
        trainer.close()
        results["fit"] = {"weights": weights(trainer)}
        results["world"] = trainer.dist.world
        torch.save(results, out / f"rank{trainer.dist.rank}.pt")
    finally:
        shutdown_distributed()


# ---------------------------------------------------------------- helpers
def torchrun(args: list[str], timeout: float = 90, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "--monitor-interval=0.2",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLORGAN_DIST_TIMEOUT": "30"}
    if popen:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, **popen)
    done = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{pid}\n" in status.read_text():
                found.append(int(status.parent.name))
        except OSError:
            continue
    return found


def rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [int(e[5:]) for e in env if e.startswith(b"RANK=")]
    return ranks[0] if ranks else None


def wait_for_steps(run_dir: Path, steps: int, proc: subprocess.Popen, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    while len(logged_steps(run_dir)) < steps:
        assert proc.poll() is None, f"training ended before step {steps}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no step {steps} within {limit} s"
        time.sleep(0.2)


# ---------------------------------------------------------------- tests
def test_two_ranks_agree_with_each_other_with_one_process_and_resume_exactly(photo_dir, tmp_path, monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    data = {**BASE, "data": str(photo_dir)}
    steps = 3
    spec = {
        "steps": steps,
        "eval_config": {**data, "dropout": 0.0},
        "fit_config": {**data, "run_dir": str(tmp_path / "straight")},
    }
    out = tmp_path / "ranks"
    out.mkdir()
    torchrun(["-m", "tests.test_distributed", json.dumps(spec), str(out)])
    ranks = [torch.load(out / f"rank{r}.pt") for r in range(2)]
    assert ranks[0]["world"] == 2

    # Single process, same global batch: the NaN half of step NAN_STEP spoils the whole batch's loss.
    def poison(step, x):
        if step != NAN_STEP:
            return x
        x = x.clone()
        x[x.shape[0] // 2 :] = float("nan")
        return x

    cfg = make_config("unet-lab", **spec["eval_config"], run_dir=str(tmp_path / "one"))
    single = Trainer(cfg, progress=False)
    init = weights(single)
    finite = eval_mode_steps(single, steps, poison)
    single.close()
    expected = weights(single)
    assert finite == [step != NAN_STEP for step in range(1, steps + 1)]
    for r in ranks:
        assert r["eval"]["finite"] == finite  # every rank skipped the step rank 1 spoiled
    a, b = (r["eval"]["weights"] for r in ranks)
    assert a.keys() == expected.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "the ranks' weights differ"
    worst = max((a[k] - expected[k]).abs().max().item() for k in a)
    moved = max((expected[k] - init[k]).abs().max().item() for k in a)
    # fp32, two updates of Adam at lr 2e-4 (about 2e-4 per weight each): only summation order differs.
    assert worst < 1e-5 < moved / 10, (worst, moved)

    # Training mode: per-rank BN statistics and dropout, yet DDP keeps the parameters identical. BN running
    # statistics are not parameters: each rank's reflect its own last batch (DDP re-broadcasts rank 0's at
    # every forward, and only rank 0's are saved).
    a, b = (r["fit"]["weights"] for r in ranks)
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("buffer:"))
    straight = load_checkpoint(tmp_path / "straight")
    assert straight.state["step"] == 4
    assert all(torch.equal(straight.tensors["G/" + k[2:]], v) for k, v in a.items() if k.startswith("G."))

    # The same run through the command line, stopped after 2 steps and resumed under DDP, ends identical.
    run = tmp_path / "resumed"
    torchrun(["-m", "colorgan", "train", "--data", str(photo_dir), *FLAGS, "--run-dir", str(run), "--max-steps", "2"])
    assert load_checkpoint(run).state["step"] == 2
    done = torchrun(["-m", "colorgan", "train", "--resume", str(run), "--max-steps", "4"])
    assert "run folder" in done.stdout
    resumed = load_checkpoint(run)
    assert resumed.state["step"] == 4 and resumed.tensors.keys() == straight.tensors.keys()
    assert all(torch.equal(resumed.tensors[k], straight.tensors[k]) for k in straight.tensors)
    rows = csv.DictReader((run / "log.csv").read_text().splitlines())
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]  # written by rank 0 alone


@linux_only
def test_a_killed_rank_fails_the_job_instead_of_hanging(photo_dir, tmp_path):
    run = tmp_path / "run"
    log = tmp_path / "torchrun.txt"
    with open(log, "w") as sink:
        proc = torchrun(
            ["-m", "colorgan", "train", "--data", str(photo_dir), *FLAGS, "--epochs", "100000", "--run-dir", str(run)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_steps(run, 2, proc)
        victim = [pid for pid in children(proc.pid) if rank_of(pid) == 1]
        assert len(victim) == 1, children(proc.pid)
        os.kill(victim[0], signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text()
    assert proc.returncode != 0
    assert time.monotonic() - killed_at < 60
    assert "SIGKILL" in output and "rank" in output, output[-3000:]  # torchrun names the dead rank and signal
    assert len(logged_steps(run)) < 10**5


@linux_only
def test_a_survivor_without_an_agent_says_its_peer_is_gone(photo_dir, tmp_path):
    """Two ranks started by hand (as on two nodes, no shared torchrun agent): kill one, the other explains."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "run"
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "COLORGAN_DIST_TIMEOUT": "30",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
        }
        cmd = [
            sys.executable,
            "-m",
            "colorgan",
            "train",
            "--data",
            str(photo_dir),
            *FLAGS,
            "--epochs",
            "100000",
            "--run-dir",
            str(run),
        ]
        with open(tmp_path / f"rank{rank}.txt", "w") as sink:
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink))
    try:
        wait_for_steps(run, 2, procs[0])
        procs[1].kill()
        killed_at = time.monotonic()
        procs[0].wait(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    err = (tmp_path / "rank0.txt").read_text()
    assert time.monotonic() - killed_at < 60
    assert procs[0].returncode == 2, err[-3000:]
    assert "error: rank 0 of 2 lost contact with the other training processes" in err
    assert "--resume" in err


def test_sync_bn_is_cuda_only_and_says_so(tmp_path):
    # The canary: if a future torch runs SyncBatchNorm on CPU, this fails and docs/scaling.md needs updating.
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        bn = torch.nn.SyncBatchNorm(2).train()
        with pytest.raises(ValueError, match="SyncBatchNorm expected input tensor to be on GPU"):
            bn(torch.ones(2, 2, 3, 3))
    finally:
        dist.destroy_process_group()
    with pytest.raises(ValueError, match="--sync-bn needs CUDA"):
        check_sync_bn(True, Dist(0, 2, 0), torch.device("cpu"))
    check_sync_bn(True, Dist(), torch.device("cpu"))  # one process: BN already sees the global batch
    check_sync_bn(False, Dist(0, 2, 0), torch.device("cpu"))


def test_timeout_setting_and_agreement_without_a_group(monkeypatch):
    monkeypatch.delenv("COLORGAN_DIST_TIMEOUT", raising=False)
    assert dist_timeout() == 600
    monkeypatch.setenv("COLORGAN_DIST_TIMEOUT", "12.5")
    assert dist_timeout() == 12.5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("COLORGAN_DIST_TIMEOUT", bad)
        with pytest.raises(ValueError, match="COLORGAN_DIST_TIMEOUT"):
            dist_timeout()
    for flag in (True, False):
        assert bool(all_ranks_agree_on_device(torch.tensor(flag), Dist())) is flag


if __name__ == "__main__":
    worker(json.loads(sys.argv[1]), Path(sys.argv[2]))
