"""Finding, checking, caching, splitting and batching training photos."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorgan.io.images import rgb_to_gray_u8
from colorgan.train.batches import BatchStream
from colorgan.train.data import DataError, find_samples, make_split, sample_folder, split_by_folder
from colorgan.train.pixel_cache import load_cache

from .helpers import synthetic_photo


def make_paired(root, n=6):
    (root / "color").mkdir(parents=True)
    (root / "gray").mkdir()
    for i in range(n):
        rgb = synthetic_photo(i)
        Image.fromarray(rgb).save(root / "color" / f"{i}.jpg", quality=95)
        Image.fromarray(rgb_to_gray_u8(rgb)).save(root / "gray" / f"{i}.jpg", quality=95)
    return root


def test_paired_layout_with_a_space_in_the_name(tmp_path):
    root = make_paired(tmp_path / "landscape Images")
    samples, skipped = find_samples(root)
    assert [s.name for s in samples] == [f"color/{i}.jpg" for i in range(6)]
    assert all(s.gray.parent.name == "gray" for s in samples) and skipped == []
    cache = load_cache(root, 32, tmp_path / "c", progress=False)
    assert cache.color.shape == (6, 32, 32, 3) and cache.gray.shape == (6, 32, 32)
    assert cache.color.dtype == np.uint8


def test_mismatched_pairs_are_skipped_with_reasons(tmp_path):
    root = make_paired(tmp_path / "pairs")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "gray" / "1.jpg")  # wrong size
    noise = np.random.default_rng(0).integers(0, 255, (48, 40), dtype=np.uint8)
    Image.fromarray(noise).save(root / "gray" / "2.jpg")  # wrong content
    (root / "gray" / "3.jpg").unlink()  # no partner
    (root / "gray" / "4.jpg").write_bytes(b"not a jpeg")  # the gray file is the broken one
    cache = load_cache(root, 32, tmp_path / "c", progress=False)
    reasons = {s.path.split("/")[-1]: s.reason for s in cache.skipped}
    assert {s.path for s in cache.skipped} >= {"gray/1.jpg", "gray/2.jpg", "gray/4.jpg", "color/3.jpg"}
    assert "does not match its color photo's" in reasons["1.jpg"]
    assert "correlation" in reasons["2.jpg"]
    assert "no gray counterpart" in reasons["3.jpg"]
    assert "cannot decode" in reasons["4.jpg"] or "not an image" in reasons["4.jpg"]
    assert len(cache) == 2


def test_color_only_folder_any_mode_recursive_and_bad_files_skipped(tmp_path):
    root = tmp_path / "photos"
    (root / "deep" / "er").mkdir(parents=True)
    rgb = synthetic_photo(1)
    Image.fromarray(rgb).save(root / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])).save(root / "rgba.png")
    Image.fromarray(rgb).convert("P").save(root / "deep" / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(root / "deep" / "er" / "cmyk.jpg")
    Image.fromarray(rgb).save(root / "deep" / "photo.webp")
    Image.fromarray(rgb).resize((300, 200)).save(root / "big.tif")
    Image.fromarray(rgb_to_gray_u8(rgb).astype(np.uint16) * 257).save(root / "gray16.png")
    (root / "truncated.jpg").write_bytes((root / "rgb.png").read_bytes()[:100])
    (root / "empty.jpg").write_bytes(b"")
    cache = load_cache(root, 32, tmp_path / "c", progress=False)
    assert len(cache) == 6
    reasons = {s.path: s.reason for s in cache.skipped}
    assert set(reasons) == {"truncated.jpg", "empty.jpg", "gray16.png"}
    assert "0 bytes" in reasons["empty.jpg"] and "grayscale" in reasons["gray16.png"]
    cache.write_skipped_csv(tmp_path / "skipped.csv")
    rows = list(csv.DictReader(Path(tmp_path / "skipped.csv").read_text().splitlines()))
    assert {r["path"] for r in rows} == set(reasons)


def test_clear_errors_for_missing_empty_and_unusable_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        find_samples(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        find_samples(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_text("not an image")
    with pytest.raises(DataError, match="no usable image.*a.jpg: not an image"):
        load_cache(tmp_path / "junk", 32, tmp_path / "c", progress=False)


def test_cache_is_reused_and_rebuilt_when_a_file_changes(photo_dir, tmp_path):
    first = load_cache(photo_dir, 32, tmp_path / "c", progress=False)
    assert load_cache(photo_dir, 32, tmp_path / "c", progress=False).folder == first.folder
    Image.fromarray(synthetic_photo(99)).save(photo_dir / "a" / "img01.jpg")
    rebuilt = load_cache(photo_dir, 32, tmp_path / "c", progress=False)
    assert rebuilt.folder != first.folder
    assert not list((tmp_path / "c").glob("*.tmp-*"))  # no half-built caches left around


def test_limit_and_split_are_deterministic(photo_dir, tmp_path):
    assert len(load_cache(photo_dir, 32, tmp_path / "c", limit=10, progress=False)) == 10
    train_a, val_a = make_split(100, 0.1, seed=3)
    train_b, val_b = make_split(100, 0.1, seed=3)
    assert np.array_equal(val_a, val_b) and len(val_a) == 10 and len(train_a) == 90
    assert not set(train_a) & set(val_a)
    assert not np.array_equal(make_split(100, 0.1, seed=4)[1], val_a)


def test_batches_are_a_pure_function_of_epoch_and_index_and_shard_the_global_batch(photo_dir, tmp_path):
    cache = load_cache(photo_dir, 32, tmp_path / "c", progress=False)
    train, _ = make_split(len(cache), 0.0, 0)
    whole = BatchStream(cache, train, 8, seed=1)
    gray, color = whole.batch(2, 1)
    assert gray.shape == (8, 1, 32, 32) and color.shape == (8, 3, 32, 32)
    again = BatchStream(cache, train, 8, seed=1).batch(2, 1)
    assert all(np.array_equal(a, b) for a, b in zip((gray, color), again))
    halves = [BatchStream(cache, train, 8, seed=1, rank=r, world=2).batch(2, 1) for r in range(2)]
    assert np.array_equal(np.concatenate([h[1] for h in halves]), color)
    assert not np.array_equal(whole.batch(3, 1)[1], color)  # a new epoch reshuffles


def test_a_cache_build_killed_midway_is_cleaned_up(photo_dir, tmp_path):
    dead = tmp_path / "c" / "0123abcd.tmp-999999999"  # no such process
    dead.mkdir(parents=True)
    (dead / "color.npy").write_bytes(b"\0" * 1000)
    load_cache(photo_dir, 32, tmp_path / "c", progress=False)
    assert not dead.exists()


def make_photos(root, count, offset=0):
    root.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(synthetic_photo(offset + i)).save(root / f"p{i}.png")
    return root


def test_several_folders_form_one_dataset_with_labelled_names(tmp_path):
    broad = make_photos(tmp_path / "broad", 5)
    scenes = make_paired(tmp_path / "scenes", 4)
    samples, skipped = find_samples([broad, scenes])
    assert [s.name for s in samples] == [f"broad/p{i}.png" for i in range(5)] + [
        f"scenes/color/{i}.jpg" for i in range(4)
    ]
    assert samples[-1].gray is not None and samples[0].gray is None and skipped == []
    assert {sample_folder(s.name, [str(broad), str(scenes)]) for s in samples} == {"broad", "scenes"}
    cache = load_cache([broad, scenes], 32, tmp_path / "c", progress=False)
    assert len(cache) == 9 and cache.names == [s.name for s in samples]
    # one folder alone keeps its plain names (and the splits of older runs)
    assert [s.name for s in find_samples([broad])[0]] == [f"p{i}.png" for i in range(5)]


def test_folders_with_the_same_name_get_distinct_labels_and_a_folder_twice_is_refused(tmp_path):
    first = make_photos(tmp_path / "a" / "photos", 2)
    second = make_photos(tmp_path / "b" / "photos", 2, offset=10)
    names = [s.name for s in find_samples([first, second])[0]]
    assert names == ["photos/p0.png", "photos/p1.png", "photos~2/p0.png", "photos~2/p1.png"]
    with pytest.raises(DataError, match="twice"):
        find_samples([first, tmp_path / "a" / ".." / "a" / "photos"])
    with pytest.raises(DataError, match="does not exist"):
        find_samples([first, tmp_path / "missing"])


def test_each_folder_is_split_on_its_own_so_adding_a_folder_moves_no_held_out_photo(tmp_path):
    scenes = [f"color/{i:05d}.jpg" for i in range(200)]
    people = [f"p{i}.png" for i in range(50)]
    alone_train, alone_val = split_by_folder(scenes, ["scenes"], 0.1, seed=0)
    assert np.array_equal(alone_val, make_split(200, 0.1, 0)[1])  # one folder: exactly as before
    names = [f"people/{n}" for n in people] + [f"scenes/{n}" for n in scenes]
    train, val = split_by_folder(names, ["people", "scenes"], 0.1, seed=0)
    held_out_scenes = [names[i].split("/", 1)[1] for i in val if names[i].startswith("scenes/")]
    assert held_out_scenes == [scenes[i] for i in alone_val]
    assert sum(names[i].startswith("people/") for i in val) == 5  # 10 % of each folder
    assert not set(train) & set(val) and len(train) + len(val) == len(names)


def test_a_dangling_symlink_is_skipped_and_an_unwritable_cache_is_one_clear_error(tmp_path):
    root = make_photos(tmp_path / "photos", 3)
    (root / "gone.png").symlink_to(tmp_path / "nowhere.png")
    cache = load_cache(root, 32, tmp_path / "c", progress=False)
    assert len(cache) == 3 and [s.path for s in cache.skipped] == ["gone.png"]
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    with pytest.raises(DataError, match="cannot write the pixel cache.*--cache-dir"):
        load_cache(root, 32, blocked / "cache", progress=False)


def test_a_cache_being_built_by_a_live_process_is_left_alone(photo_dir, tmp_path):
    """Dead builds are found by their lock, not by /proc (which macOS and Windows lack)."""
    from colorgan.train.pixel_cache import build_lock

    live = tmp_path / "c" / "feedbeef.tmp-12345"
    live.mkdir(parents=True)
    lock = build_lock(tmp_path / "c", "feedbeef")
    lock.acquire()
    try:
        load_cache(photo_dir, 32, tmp_path / "c", progress=False)
        assert live.exists()  # its builder still holds the lock
    finally:
        lock.release()
    load_cache(photo_dir, 16, tmp_path / "c", progress=False)  # the next build anywhere finds it dead
    assert not live.exists()


def test_linked_folders_are_followed_once_and_a_link_loop_ends(tmp_path):
    """A dataset assembled from links to other folders found "no images"; a loop must not hang."""
    make_photos(tmp_path / "elsewhere" / "cats", 3)
    data = tmp_path / "data"
    make_photos(data / "own", 2, offset=10)
    (data / "cats").symlink_to(tmp_path / "elsewhere" / "cats", target_is_directory=True)
    (data / "own" / "loop").symlink_to(data, target_is_directory=True)  # data/own/loop -> data
    samples, _ = find_samples(data)
    assert sorted(s.name for s in samples) == ["cats/p0.png", "cats/p1.png", "cats/p2.png", "own/p0.png", "own/p1.png"]
