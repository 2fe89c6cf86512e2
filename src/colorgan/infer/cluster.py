"""Colorize an archive on a Ray cluster: the same plan, the same chunks and the same files as one machine.

The driver plans exactly as `colorize_folder` does (`folders.plan_folder`: names, skip rules, what is already
there), cuts the photos into the same chunks, and hands each chunk (a video: alone) to an actor pool through Ray
Data. Each actor holds one model and reads, decodes, colorizes and writes its chunk itself, so only file names
and a small report cross the network: a 12 MP photo decoded is 36 MB, its name a few bytes. Inputs and `--out`
must therefore be paths every node can read and write (a shared file system), as must `--model`.

Resuming is the planner's: outputs are written atomically, a rerun skips what is there and removes the temp
files a killed worker left. A worker that dies mid-chunk is restarted and the chunk retried a few times; a chunk
that still fails is reported as skipped, never retried forever. Ray is imported only here.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..extras import import_extra
from ..io.atomic import read_regular_file, remove_stale_temps_of
from ..io.images import DEFAULT_MAX_PIXELS
from ..io.streams import stderr_without
from .folders import CHUNK, FolderPlan, colorize_one_video, colorize_photo_chunk, plan_folder, write_skips
from .outputs import FolderReport, PlannedOutput

RETRIES = 2  # a chunk whose worker dies is tried this many more times, then reported
LIST_LIMIT = 1 << 30  # bytes of a file list or manifest


@dataclass
class ClusterSettings:
    address: str = "auto"  # a Ray address, "auto" (a running cluster) or "local" (start one here, for trials)
    workers: int | None = None  # actors, each holding a model (None: the cluster's CPUs / threads)
    threads: int = 1  # CPU threads per actor
    gpus: float = 0.0  # GPUs per actor
    model: str | None = None  # every node must read it (None: the shipped model, inside each node's install)
    max_pixels: int = DEFAULT_MAX_PIXELS


class ClusterError(RuntimeError):
    """The cluster could not be reached or the run could not start: one line for the user."""


def read_input_list(path: Path) -> tuple[Path, list[Path], list[tuple[str, str]]]:
    """A file list (one path a line) or a CSV manifest (a `path` column) -> (its folder, the inputs, skips).

    Relative paths are relative to the list's folder, and every input must lie under it: outputs keep the
    path below that folder, so one outside it would have no place under --out."""
    try:
        text = read_regular_file(path, LIST_LIMIT).decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise ClusterError(f"{path}: cannot read the input list ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".csv":
        rows = csv.DictReader(text.splitlines())
        if "path" not in (rows.fieldnames or []):
            raise ClusterError(f"{path}: a CSV manifest needs a 'path' column (found {rows.fieldnames})")
        names = [row["path"] for row in rows]
    else:
        names = text.splitlines()
    root = path.resolve().parent
    inputs, skipped = [], []
    for name in dict.fromkeys(n.strip() for n in names):
        if not name or name.startswith("#"):
            continue
        candidate = Path(name) if Path(name).is_absolute() else root / name
        real = candidate.resolve()
        if root not in real.parents:
            skipped.append((name, f"outside the list's folder {root}; its output would have no place under --out"))
        elif not real.is_file():
            skipped.append((name, "not found" if not real.exists() else "not a regular file"))
        else:
            inputs.append(root / real.relative_to(root))
    return root, inputs, skipped


def plan_inputs(src: Path, dst: Path, overwrite: bool, limit: int | None) -> tuple[FolderPlan, list[dict]]:
    """The plan for a folder, a file list or a CSV manifest, cut into units of work (a chunk of photos, or
    one video), each a JSON-ready dict."""
    if src.is_dir():
        plan = plan_folder(src, dst, overwrite)
    else:
        root, inputs, skipped = read_input_list(src)
        plan = plan_folder(root, dst, overwrite, inputs=inputs)
        plan.report.skipped[:0] = skipped
    plan = plan.limit(limit)
    units = [{"kind": "photos", "pairs": [[str(s), str(t)] for s, t in chunk]} for chunk in plan.photo_chunks(CHUNK)]
    units += [{"kind": "video", "pairs": [[str(s), str(t)]]} for s, t in plan.videos]
    for index, unit in enumerate(units):
        unit["index"] = index
    return plan, units


class ChunkWorker:
    """One actor: one model, loaded once; colorizes a unit of work at a time."""

    def __init__(self, settings: ClusterSettings, size: int | None, temporal: bool, crf: int | None):
        from .colorize import Colorizer

        self.colorizer = Colorizer.load(settings.model, max_pixels=settings.max_pixels, threads=settings.threads)
        self.size, self.temporal, self.crf = size, temporal, crf

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        results = []
        for text in batch["unit"]:
            unit = json.loads(text)
            pairs = [(Path(s), Path(t)) for s, t in unit["pairs"]]
            for _, target in pairs:  # a retry after a worker died: its temp files go first
                for name in PlannedOutput(Path(), target, unit["kind"] == "video").names():
                    remove_stale_temps_of(name)
            report = FolderReport()
            if unit["kind"] == "video":
                ((source, target),) = pairs
                colorize_one_video(self.colorizer, source, target, report, self.temporal, self.size, False, self.crf)
            else:
                colorize_photo_chunk(self.colorizer, pairs, self.size, report, lambda n: None)
            results.append(
                json.dumps({"index": unit["index"], "done": [str(p) for p in report.done], "skipped": report.skipped})
            )
        return {"result": np.array(results, dtype=object)}


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT that answers no TCP connection fails here at once: ray.init would retry it for minutes."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms are Ray's to resolve
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address!r} ({exc.strerror or exc})") from None


def _connect(ray, address: str, settings: ClusterSettings) -> None:
    kwargs = dict(ignore_reinit_error=True, log_to_driver=False, include_dashboard=False, logging_level="ERROR")
    # Ray's C++ logger announces RAY_BACKEND_LOG_LEVEL, whatever its value, before applying it.
    quiet = stderr_without("Set ray log level from environment variable")
    try:
        if address == "local":  # every core here unless --workers says how many actors
            with quiet:
                ray.init(num_cpus=settings.workers * settings.threads if settings.workers else None, **kwargs)
        else:
            _check_reachable(address)
            with quiet:
                ray.init(address=address, **kwargs)
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception too (a node that timed out starting)
        raise ClusterError(f"cannot reach the Ray cluster at {address!r} ({str(exc).splitlines()[0][:200]})") from None


def colorize_on_cluster(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    settings: ClusterSettings,
    size: int | None = None,
    overwrite: bool = False,
    temporal: bool = True,
    crf: int | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> FolderReport:
    """Colorize a folder, a file list (.txt) or a CSV manifest (a `path` column) into `dst` on a Ray cluster.

    The same outputs, names and skip rules as `Colorizer.colorize_folder`; `limit` colorizes only the first
    photos and videos still to do."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise ClusterError(f"{src}: not found")
    plan, units = plan_inputs(src, dst, overwrite, limit)
    report = plan.report
    if units:
        ray = import_extra("ray", "cluster", "--cluster")
        report.done += _run(ray, units, settings, size, temporal, crf, progress, report)
    write_skips(dst, report)
    return report


def _run(ray, units, settings, size, temporal, crf, progress, report) -> list[Path]:
    # Ray Data's INFO lines would bury our summary (read when ray.data is first imported). Ray's C++ core logs
    # an error line for every actor pool whose actors may restart (ray#53727): the driver holds the arguments
    # for the whole run, so it is noise here. Either variable set by the user wins.
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    logging.getLogger("ray").setLevel(logging.ERROR)
    import ray.data

    _connect(ray, settings.address, settings)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours counts photos, not blocks
    context.max_errored_blocks = len(units)  # a unit that fails after its retries is reported, the rest go on
    workers = settings.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // settings.threads))
    dataset = ray.data.from_items([{"unit": json.dumps(u)} for u in units], override_num_blocks=len(units))
    with warnings.catch_warnings():  # the retry bounds are "remote args", deprecated in name only until 2.64
        warnings.simplefilter("ignore")
        results = dataset.map_batches(
            ChunkWorker,
            fn_constructor_kwargs={"settings": settings, "size": size, "temporal": temporal, "crf": crf},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(units))),
            num_cpus=settings.threads,
            num_gpus=settings.gpus,
            max_restarts=RETRIES,  # Ray Data's default is forever: a photo that kills its worker would loop
            max_task_retries=RETRIES,
        )
    by_index: dict[int, dict] = {}
    count = sum(len(u["pairs"]) for u in units)
    bar = tqdm(total=count, unit="img", desc=f"colorizing on {workers} workers", disable=not progress)
    start = time.perf_counter()
    for row in results.iter_rows():
        result = json.loads(row["result"])
        by_index[result["index"]] = result
        bar.update(len(units[result["index"]]["pairs"]))
        bar.set_postfix(photos_s=f"{bar.n / max(time.perf_counter() - start, 1e-9):.2f}")
    bar.close()
    done = []
    for unit in units:
        result = by_index.get(unit["index"])
        if result is None:
            reason = f"its worker failed {RETRIES + 1} times while colorizing it; not written"
            report.skipped += [(source, reason) for source, _ in unit["pairs"]]
            continue
        done += [Path(p) for p in result["done"]]
        report.skipped += [tuple(s) for s in result["skipped"]]
    return done
