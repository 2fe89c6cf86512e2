"""Several processes under torchrun: the process group, ranks agreeing on a skipped step, and clear
messages when a peer dies."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..devices import pick_device


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


DEFAULT_DIST_TIMEOUT_S = 600.0  # NCCL's own default; COLORGAN_DIST_TIMEOUT overrides it
_own_group = False  # whether init_distributed created the process group (and so may destroy it)


def dist_timeout() -> float:
    """Seconds a rank waits for its peers in any collective before the job fails (COLORGAN_DIST_TIMEOUT)."""
    raw = os.environ.get("COLORGAN_DIST_TIMEOUT", "")
    if not raw:
        return DEFAULT_DIST_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"COLORGAN_DIST_TIMEOUT must be a positive number of seconds, got {raw!r}")
    return value


def init_distributed(device_name: str, timeout_s: float | None = None) -> tuple[Dist, torch.device]:
    """Join the torchrun process group if there is one: NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), pick_device(device_name)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        global _own_group
        timeout = timeout_s if timeout_s is not None else dist_timeout()
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
        _own_group = True
    return Dist(rank, world, local_rank), device


def check_sync_bn(sync_bn: bool, rank_info: Dist, device: torch.device) -> None:
    """SyncBatchNorm runs on CUDA only: torch refuses CPU tensors in it, so there is none with gloo."""
    if sync_bn and rank_info.enabled and device.type != "cuda":
        raise ValueError(
            "--sync-bn needs CUDA: PyTorch's SyncBatchNorm does not run on CPU (gloo). Drop --sync-bn; each "
            "process then normalizes over its own share of the global batch (see docs/scaling.md)"
        )


def all_ranks_agree_on_device(flag: torch.Tensor, rank_info: Dist) -> torch.Tensor:
    """A bool tensor, true only if `flag` (a bool tensor) is true on every rank: one tiny all-reduce, queued on
    the device like the step's other work, so all ranks take the same branch without the host waiting."""
    if not rank_info.enabled:
        return flag
    value = flag.to(torch.int32).reshape(1)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return value[0].bool()


def is_collective_failure(exc: BaseException) -> bool:
    """Whether `exc` comes from the process group: a peer that died, hung past the timeout, or vanished."""
    if not (dist.is_available() and dist.is_initialized()):
        return False
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return any(mark in text for mark in ("gloo", "NCCL", "Connection reset", "Connection closed", "Timed out"))


def collective_failure_message(exc: BaseException) -> str:
    rank, world = dist.get_rank(), dist.get_world_size()
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return (
        f"rank {rank} of {world} lost contact with the other training processes ({first_line}). Another rank "
        f"stopped (see its own output) or stalled for longer than COLORGAN_DIST_TIMEOUT ({dist_timeout():g} s). "
        "Run the same command with --resume to continue from the last checkpoint"
    )


def wait_for_all_ranks() -> None:
    """After a run that succeeded: every rank waits here until all are done, so none leaves the process group
    while another still works (rank 0 saves, plots and logs last). A gloo peer that tears down early can abort
    (`terminate called without an active exception`, seen once in CI-like runs)."""
    if _own_group and dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown_distributed() -> None:
    """Leave the process group init_distributed joined (after a failure too, so the process exits, not aborts).

    A group that the caller created itself is left alone.
    """
    global _own_group
    if _own_group and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _own_group = False
