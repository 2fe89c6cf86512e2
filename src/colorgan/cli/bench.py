"""`colorgan bench`: speed of training, inference, colorizing and the data pipeline on this machine.

Each figure is the median over timed steps after warm-up. Train and infer figures also give the fraction
of this machine's peak, from a bf16 and an fp32 matmul measured in the same run (so the ratio holds on a
noisy, shared machine).
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import make_config
from ..devices import pick_precision
from ..train.allocator import keep_freed_memory


def matmul_peak(dtype: torch.dtype, device: torch.device | str = "cpu", reps: int = 6, budget_s: float = 0.05) -> float:
    """Sustained GFLOP/s of an n x n matmul in `dtype` on `device` (the machine's practical ceiling).

    n grows from 256 until one product takes `budget_s`: a fixed large n would take minutes where `dtype` is
    emulated (bf16 on a CPU without AVX-512 BF16 is about 100x slower than fp32).
    """
    device = torch.device(device)
    largest = 8192 if device.type == "cuda" else 2048  # a GPU needs a bigger product to reach its peak
    n = 256
    while True:
        a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)

        def product(a=a, b=b):
            a @ b
            if device.type == "cuda":
                torch.cuda.synchronize()

        seconds = _median_time(product, 1, 1)
        if seconds >= budget_s or n >= largest:
            break
        n *= 2
    return 2 * n**3 / _median_time(product, 0, reps) / 1e9


def _median_time(fn, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _machine() -> dict:
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name()
    return machine


def bench_device() -> torch.device:
    """The GPU when there is one, with cuDNN's autotuner on, as the trainer runs it; else the CPU."""
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        return torch.device("cuda")
    return torch.device("cpu")


def random_batch(model, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random (input, target) batch in [-1, 1] of the shapes and layout `model` (a `Pix2Pix`) trains on."""
    cfg, device = model.cfg, model.device
    out_ch = 2 if cfg.color_space == "lab" else 3
    x = torch.rand(batch_size, 1, cfg.size, cfg.size, device=device) * 2 - 1
    y = torch.rand(batch_size, out_ch, cfg.size, cfg.size, device=device) * 2 - 1
    return tuple(t.contiguous(memory_format=model.memory_format) for t in (x, y))


def bench_train(args: argparse.Namespace) -> dict:
    from ..nets.cpu_kernels import optimize_for_cpu
    from ..train.pix2pix import Pix2Pix

    kept = False if args.default_malloc else keep_freed_memory()  # as the trainer does

    cfg = make_config(
        "pix2pix",
        size=args.size,
        batch_size=args.batch_size,
        ngf=args.ngf,
        ndf=args.ndf,
        color_space=args.color_space,
        precision=args.precision,
        channels_last=not args.no_channels_last,
        compile=args.compile,
        fused_adam=not args.no_fused_adam,
        chroma_head=args.chroma_head,
        pretrain_steps=10**9 if args.no_gan else 0,
        ema_decay=args.ema_decay,
    )
    device = bench_device()
    model = Pix2Pix(cfg.validate(), device)
    if device.type == "cpu":  # the step training runs: the trainer swaps in the same kernels
        optimize_for_cpu(model.G)
    x, y = random_batch(model, args.batch_size)
    index = 0

    def step():
        nonlocal index
        model.step(x, y, index)
        if model.G_ema is not None:
            model.update_ema(index)
        index += 1
        if device.type == "cuda":
            torch.cuda.synchronize()

    seconds = _median_time(step, args.warmup, args.steps)
    flops = _count_flops(lambda: model.step(x[:1], y[:1], index))
    return _with_peak(
        {
            "what": "train",
            "img_per_s": args.batch_size / seconds,
            "gflop_per_img": flops / 1e9,
            "precision": str(model.amp_dtype or "fp32"),
            "chroma_head": args.chroma_head,
            "gan": not args.no_gan,
            "keeps_freed_memory": kept,
        },
        flops * args.batch_size / seconds,
        device,
    )


def _count_flops(fn) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def _with_peak(result: dict, flop_per_s: float, device: torch.device) -> dict:
    bf16, fp32 = matmul_peak(torch.bfloat16, device), matmul_peak(torch.float32, device)
    result.update(
        achieved_gflop_s=flop_per_s / 1e9,
        bf16_matmul_gflop_s=bf16,
        fp32_matmul_gflop_s=fp32,
        fraction_of_bf16_matmul=flop_per_s / 1e9 / bf16,
        machine=_machine(),
    )
    return result


def bench_infer(args: argparse.Namespace) -> dict:
    """The generator alone, through the same backend `colorgan colorize` uses."""
    from ..infer.backends import TorchBackend
    from ..nets.build import build_generator

    cfg = make_config(
        "pix2pix", size=args.size, ngf=args.ngf, color_space=args.color_space, chroma_head=args.chroma_head
    )
    device = bench_device()
    generator = build_generator(cfg)
    with torch.inference_mode():
        flops = _count_flops(lambda: generator.eval()(torch.rand(1, 1, args.size, args.size)))
    backend = TorchBackend(generator, device, pick_precision(args.precision, device))
    x = torch.rand(args.batch_size, 1, args.size, args.size)

    def forward():
        backend(x)
        if device.type == "cuda":
            torch.cuda.synchronize()

    seconds = _median_time(forward, args.warmup, args.steps)
    return _with_peak(
        {
            "what": "infer",
            "ms_per_img": 1000 * seconds / args.batch_size,
            "batch": args.batch_size,
            "gflop_per_img": flops / 1e9,
            "precision": str(backend.dtype),
        },
        flops * args.batch_size / seconds,
        device,
    )


def bench_data(args: argparse.Namespace) -> dict:
    import tempfile

    from ..train.batches import BatchStream
    from ..train.data import make_split
    from ..train.pixel_cache import load_cache

    if not args.data:
        raise SystemExit("error: bench data needs --data DIR")
    with tempfile.TemporaryDirectory() as cache_root:
        t0 = time.perf_counter()
        cache = load_cache(args.data, args.size, cache_root, progress=False)
        build_s = time.perf_counter() - t0
        train, _ = make_split(len(cache), 0.1, 0)
        stream = BatchStream(cache, train, args.batch_size, 0)
        n = min(stream.steps_per_epoch, 200)
        t0 = time.perf_counter()
        for i in range(n):
            stream.batch(0, i)
        serve_s = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "what": "data",
        "images": len(cache),
        "decode_resize_img_per_s": len(cache) / build_s,
        "cached_batches_img_per_s": n * args.batch_size / serve_s,
        "max_rss_mib": rss,
        "machine": _machine(),
    }


def bench_colorize(args: argparse.Namespace) -> dict:
    from ..infer.colorize import Colorizer

    colorizer = Colorizer.load(args.model, backend=args.backend)
    rng = np.random.default_rng(0)
    result = {"what": "colorize", "backend": args.backend, "model": colorizer.source, "ms": {}}
    for h, w in [(256, 256), (1024, 1024), (3000, 4000)]:
        gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
        seconds = _median_time(lambda g=gray: colorizer.colorize_array(g), 1, max(2, args.steps // 2))
        result["ms"][f"{w}x{h}"] = 1000 * seconds
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["machine"] = _machine()
    return result


def run_bench(args: argparse.Namespace) -> dict:
    result = {"train": bench_train, "infer": bench_infer, "data": bench_data, "colorize": bench_colorize}[args.what](
        args
    )
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:28} {value:10.3f}")
        else:
            print(f"{key:28} {value}")
    return result
