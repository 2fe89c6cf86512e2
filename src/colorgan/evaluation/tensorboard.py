"""An evaluation summary as TensorBoard scalars, beside a run's training curves (`evaluate --tensorboard`)."""

from __future__ import annotations

import os

from .evaluate import BASELINES


def write_tensorboard(summary: dict, log_dir: str | os.PathLike, step: int = 0) -> None:
    """The summary's means (model and baselines) and paired differences as TensorBoard scalars, at `step`."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    with SummaryWriter(str(log_dir)) as board:
        for who in ("model", *BASELINES):
            for metric in ("ciede2000", "psnr", "ssim"):
                board.add_scalar(f"eval/{who}/{metric}", summary[who][metric]["mean"], step)
            board.add_scalar(f"eval/{who}/colorfulness_ratio", summary[who]["colorfulness_ratio"], step)
        for baseline, metrics_ in summary["model_minus"].items():
            for metric, stats in metrics_.items():
                board.add_scalar(f"eval/model_minus_{baseline}/{metric}", stats["mean"], step)
