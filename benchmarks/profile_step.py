"""Where a training step's time goes (issue #18): the profiler's table by operator, and G's forward by U-Net level.

    python benchmarks/profile_step.py --size 256 --batch-size 16 --ngf 64 --gan            # the recipe's step
    python benchmarks/profile_step.py --size 128 --batch-size 16 --ngf 32 --color-space lab  # the shipped recipe

Random inputs; bf16 autocast where the CPU has it (as training runs). Prints the top operators by self CPU time
and the share of G's forward spent in each encoder and decoder level; `--json` writes both.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from colorgan.cli.bench import random_batch
from colorgan.config import make_config
from colorgan.nets.cpu_kernels import optimize_for_cpu
from colorgan.train.allocator import keep_freed_memory
from colorgan.train.pix2pix import Pix2Pix


def level_timer(generator: torch.nn.Module) -> dict[str, float]:
    """Forward hooks that add each U-Net block's wall time (ms) to the returned dict."""
    totals: dict[str, float] = {}
    blocks = [(f"down{i}", m) for i, m in enumerate(generator.downs)]
    blocks += [(f"up{i}", m) for i, m in enumerate(generator.ups)] + [("head", generator.head)]
    for name, module in blocks:
        module.register_forward_pre_hook(lambda _m, _x, n=name: totals.__setitem__(f"_t_{n}", time.perf_counter()))
        module.register_forward_hook(
            lambda _m, _x, _y, n=name: totals.__setitem__(
                n, totals.get(n, 0.0) + 1000 * (time.perf_counter() - totals[f"_t_{n}"])
            )
        )
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--color-space", choices=["rgb", "lab"], default="rgb")
    parser.add_argument("--gan", action="store_true", help="with D (the recipe); default: L1 only")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    cfg = make_config(
        "pix2pix",
        size=args.size,
        ngf=args.ngf,
        ndf=args.ngf,
        batch_size=args.batch_size,
        color_space=args.color_space,
        gan_weight=1.0 if args.gan else 0.0,
    )
    keep_freed_memory()  # as training runs
    model = Pix2Pix(cfg, torch.device("cpu"))
    optimize_for_cpu(model.G)  # as the trainer does on a CPU
    x, y = random_batch(model, args.batch_size)
    for i in range(2):  # warm-up: oneDNN picks its kernels on the first calls
        model.step(x, y, i)
    levels = level_timer(model.G)
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(args.steps):
            model.step(x, y, i + 2)
    step_ms = 1000 * (time.perf_counter() - started) / args.steps
    table = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in table)
    rows = sorted(table, key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
    print(f"step {step_ms:.0f} ms ({args.batch_size / step_ms * 1000:.1f} img/s, profiler on)")
    print(f"{'operator':40} {'self CPU %':>10} {'calls':>7}")
    ops = []
    for e in rows:
        share = e.self_cpu_time_total / total
        ops.append({"op": e.key, "self_cpu_share": share, "calls": e.count})
        print(f"{e.key[:40]:40} {100 * share:10.1f} {e.count:7d}")
    forward = {k: v / args.steps for k, v in levels.items() if not k.startswith("_t_")}
    forward_total = sum(forward.values())
    print(f"G forward by level (ms per step, {forward_total:.0f} ms in all):")
    for name, ms in forward.items():
        print(f"  {name:6} {ms:7.1f}  {100 * ms / forward_total:5.1f} %")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"json": str(args.json)},
                    "step_ms": step_ms,
                    "ops": ops,
                    "g_forward_ms_by_level": forward,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
