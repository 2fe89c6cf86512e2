"""A folder of photos and videos: what to colorize and where it goes (the plan), then the work in chunks.

The plan is computed the same way by a run on one machine (`colorize_folder`) and by a run on a cluster
(`colorgan.infer.cluster`), so both write the same files under the same names and skip the same inputs for
the same reasons; a chunk of photos is colorized by the same code in both, so the outputs are the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..io.atomic import remove_stale_temps
from ..io.images import ImageReadError, find_image_files, is_image_path, load_image, write_skipped_csv
from .animation import load_animation
from .outputs import FolderReport, existing_output, output_path_for, plan_outputs, save_image, writes_over_input
from .video import is_video_path, video_output_path

CHUNK = 8  # photos read and colorized together (same-shaped ones share a network batch)


@dataclass
class FolderPlan:
    """What a folder run will do: photos and videos to colorize (source, target), and what planning settled
    already (outputs already there, inputs skipped with a reason)."""

    photos: list[tuple[Path, Path]] = field(default_factory=list)
    videos: list[tuple[Path, Path]] = field(default_factory=list)
    report: FolderReport = field(default_factory=FolderReport)

    def photo_chunks(self, n: int = CHUNK) -> Iterator[list[tuple[Path, Path]]]:
        for i in range(0, len(self.photos), n):
            yield self.photos[i : i + n]

    def limit(self, count: int | None) -> FolderPlan:
        """Only the first `count` photos and videos still to do (a trial run); planning's report is kept."""
        if count is None:
            return self
        photos = self.photos[:count]
        return FolderPlan(photos, self.videos[: max(0, count - len(photos))], self.report)


def photo_or_video(path: Path) -> bool:
    return is_image_path(path) or is_video_path(path)


def plan_folder(src: Path, dst: Path, overwrite: bool = False, inputs: list[Path] | None = None) -> FolderPlan:
    """Plan colorizing every photo and video under `src` (or the given `inputs`, each under `src`) into `dst`,
    keeping the folder structure. Removes the temp files a killed run left under `dst`."""
    dst_resolved = dst.resolve()
    if dst_resolved == src.resolve():
        raise ValueError(
            f"{dst}: the output folder is the input folder, so the outputs would replace the "
            "photos; choose another --out"
        )
    plan = FolderPlan()
    if dst.is_dir():  # temp files of a run that was killed mid-write
        remove_stale_temps(dst, recursive=True)
    found = find_image_files(src, accept=photo_or_video) if inputs is None else inputs
    # An output folder inside the input folder holds outputs, not inputs: a rerun must not colorize them.
    resolved = {p: p.resolve() for p in found}
    kept = [p for p, real in resolved.items() if dst_resolved not in real.parents]
    protected = {resolved[p] for p in kept}
    wanted = []
    for path in kept:
        target, video = dst / path.relative_to(src), is_video_path(path)
        wanted.append((path, video_output_path(target) if video else target, video))
    for planned in plan_outputs(wanted):
        path, target = planned.source, planned.target
        if planned.video:
            if target.resolve() in protected:
                plan.report.skipped.append((str(path), f"its output {target} would replace an input; not written"))
            elif target.is_file() and target.stat().st_size > 0 and not overwrite:
                plan.report.existing.append(target)
            else:
                plan.videos.append((path, target))
            continue
        if writes_over_input(target, protected):
            plan.report.skipped.append((str(path), f"its output {target} would replace an input photo; not written"))
            continue
        existing = existing_output(target)
        if existing is not None and not overwrite:
            plan.report.existing.append(existing)
        else:
            plan.photos.append((path, target))
    return plan


def colorize_photo_chunk(
    colorizer, chunk: list[tuple[Path, Path]], size: int | None, report: FolderReport, tick: Callable[[int], None]
) -> None:
    """Read, colorize and write one chunk of photos (animations each as a whole); results go into `report`,
    `tick(n)` after each n photos settled. Bad files are skipped by name, never fatal."""
    loaded = []
    for path, target in chunk:
        try:
            if path.is_dir():
                raise ImageReadError(str(path), "is a directory")
            animation = load_animation(path, colorizer.max_pixels)
            if animation is None:
                loaded.append((load_image(path, colorizer.max_pixels), target))
                continue
            report.done.append(colorizer._save_animation(animation, target, size))
        except ImageReadError as err:
            report.skipped.append((str(path), err.reason))
        except OSError as exc:
            report.skipped.append((str(target), f"cannot write ({exc.strerror or exc})"))
        tick(1)
    if not loaded:
        return
    try:
        outputs = colorizer._colorize_loaded([image for image, _ in loaded], size)
    except ImageReadError as err:  # the model failed on this batch: skip it by name, go on
        report.skipped += [(str(target), err.reason) for _, target in loaded]
        tick(len(loaded))
        return
    for (image, target), rgb in zip(loaded, outputs):
        pil = colorizer._to_pil(rgb, image)
        try:
            report.done.append(save_image(pil, output_path_for(target, pil.mode == "RGBA")))
        except OSError as exc:
            report.skipped.append((str(target), f"cannot write ({exc.strerror or exc})"))
        tick(1)


def colorize_one_video(
    colorizer, path: Path, target: Path, report: FolderReport, temporal: bool, size: int | None, progress: bool, crf
) -> None:
    try:
        report.done.append(colorizer.colorize_video(path, target, temporal, size, progress, crf))
    except ImageReadError as err:
        report.skipped.append((str(path), err.reason))
    except OSError as exc:
        report.skipped.append((str(target), f"cannot write ({exc.strerror or exc})"))


def write_skips(dst: Path, report: FolderReport) -> None:
    """`dst/skipped.csv` lists what was skipped and why; losing the list must not lose the outputs."""
    if report.skipped:
        try:
            write_skipped_csv(dst / "skipped.csv", report.skipped)
        except OSError as exc:
            report.skipped.append((str(dst / "skipped.csv"), f"cannot write ({exc.strerror or exc})"))


def colorize_folder(
    colorizer,
    src: Path,
    dst: Path,
    size: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    temporal: bool = True,
    crf: int | None = None,
    batch: int = CHUNK,
) -> FolderReport:
    plan = plan_folder(src, dst, overwrite)
    report = plan.report
    bar = tqdm(total=len(plan.photos) + len(plan.videos), unit="img", desc="colorizing", disable=not progress)
    for chunk in plan.photo_chunks(batch):
        colorize_photo_chunk(colorizer, chunk, size, report, bar.update)
    for path, target in plan.videos:  # videos go one by one after the photos, each with its own bar
        colorize_one_video(colorizer, path, target, report, temporal, size, progress, crf)
        bar.update(1)
    bar.close()
    write_skips(dst, report)
    return report
