"""Evaluation writes honest numbers: model vs gray and mean-chroma baselines, CSV and a self-contained report."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from colorgan.evaluation.evaluate import EvalImage, evaluate, evaluate_model
from colorgan.io.images import rgb_to_gray_u8

from .helpers import synthetic_photo


class TruthColorizer:
    """Returns the true colors: an upper bound that must beat both baselines on every fidelity metric."""

    size = 32

    def __init__(self, truths):
        self.truths = truths

    def colorize_array(self, gray, size=None):
        return self.truths[gray.tobytes()]

    def info(self):
        return {"model": "truth"}


def test_files_written_and_report_is_self_contained(tiny_model, photo_dir, tmp_path):
    summary = evaluate_model(tiny_model, photo_dir, tmp_path / "e", limit=10, progress=False)
    assert summary["images"] == 10
    for key in ("model", "gray", "mean_chroma"):
        stats = summary[key]["ciede2000"]
        assert stats["ci_low"] <= stats["mean"] <= stats["ci_high"]
    assert summary["gray"]["colorfulness"]["mean"] < 1e-6
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["images"] == 10
    rows = list(csv.DictReader(Path(tmp_path / "e" / "per_image.csv").read_text().splitlines()))
    assert len(rows) == 10 and {"image", "psnr", "ciede2000", "gray_ciede2000"} <= set(rows[0])
    page = (tmp_path / "e" / "report.html").read_text()
    assert page.count("data:image/") >= 4  # samples, best, worst, histograms
    assert not re.search(r"""(src|href)=["']https?://""", page)  # nothing fetched from the network
    assert "Worst 8 by CIEDE2000" in page and "mean chroma" in page


def test_the_truth_beats_both_baselines_and_gray_has_no_color(tmp_path):
    truths = [synthetic_photo(i, (40, 40)) for i in range(6)]
    images = [EvalImage(f"{i}.png", rgb_to_gray_u8(t), t) for i, t in enumerate(truths)]
    oracle = TruthColorizer({im.gray.tobytes(): im.truth for im in images})
    summary = evaluate(oracle, images, tmp_path, train_mean_ab=[5.0, 10.0], progress=False)
    assert all(summary["beats_baselines"].values())
    assert summary["model"]["chroma_hist_distance"] < 1e-9
    assert summary["gray"]["chroma_hist_distance"] > summary["model"]["chroma_hist_distance"]
    assert abs(summary["model"]["colorfulness_ratio"] - 1.0) < 1e-9
    assert summary["mean_ab_baseline"]["source"] == "training split"
    assert np.isclose(summary["model"]["delta_colorfulness"]["mean"], 0.0)


@pytest.mark.slow
def test_the_verdict_rests_on_paired_differences_and_is_given_per_folder(tmp_path):
    truths = [synthetic_photo(i, (40, 40)) for i in range(8)]
    images = [EvalImage(f"{'a' if i < 4 else 'b'}/{i}.png", rgb_to_gray_u8(t), t) for i, t in enumerate(truths)]
    grays = {im.gray.tobytes(): np.repeat(im.gray[..., None], 3, axis=2) for im in images}
    oracle = TruthColorizer({im.gray.tobytes(): im.truth for im in images})

    def folder_of(name):
        return name[0]

    truth = evaluate(oracle, iter(images), tmp_path / "t", [0.0, 0.0], progress=False, folder_of=folder_of)
    diff = truth["model_minus"]["gray"]["ciede2000"]
    assert diff["ci_high"] < 0 and diff["mean"] == -truth["gray"]["ciede2000"]["mean"]
    assert set(truth["per_folder"]) == {"a", "b"} and truth["per_folder"]["a"]["images"] == 4
    assert truth["per_folder"]["b"]["beats_baselines"]["ciede2000"]
    # a "model" that returns gray ties with gray: no verdict in its favour, whatever the means say
    same = evaluate(TruthColorizer(grays), images, tmp_path / "g", [0.0, 0.0], progress=False, folder_of=folder_of)
    assert same["model_minus"]["gray"]["ciede2000"] == {
        "mean": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "verdict": "no clear difference",
    }
    assert diff["verdict"] == "better" and truth["model_minus"]["gray"]["psnr"]["verdict"] == "better"
    assert not any(same["beats_baselines"].values())
    page = (tmp_path / "t" / "report.html").read_text()
    assert "Per data folder" in page and "model − gray" in page


@pytest.mark.slow
def test_evaluation_streams_photos_instead_of_holding_them_all(tmp_path):
    import gc
    import weakref

    truths = [synthetic_photo(i, (60, 80)) for i in range(20)]
    oracle = TruthColorizer({rgb_to_gray_u8(t).tobytes(): t for t in truths})
    alive_at_each_yield = []
    refs = []

    def photos():
        for i, truth in enumerate(truths):
            gc.collect()
            alive_at_each_yield.append(sum(r() is not None for r in refs))
            image = EvalImage(f"{i}.png", rgb_to_gray_u8(truth), truth.copy())
            refs.append(weakref.ref(image))
            yield image

    summary = evaluate(oracle, photos(), tmp_path, [0.0, 0.0], progress=False, count=20)
    assert summary["images"] == 20
    assert max(alive_at_each_yield) <= 2  # the one being scored, at most one more: not all twenty
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/") >= 4 and "0.png" in page  # samples, best and worst still shown


def test_verdict_words_follow_the_interval_and_the_metrics_direction():
    from colorgan.evaluation.evaluate import verdict

    overlapping = {"mean": -0.4, "ci_low": -3.7, "ci_high": 2.9}  # 14.01 [10.2, 17.5] vs 14.42 [10.3, 17.9]
    assert verdict(overlapping, "ciede2000") == "no clear difference"
    assert verdict({"mean": -0.6, "ci_low": -0.7, "ci_high": -0.5}, "ciede2000") == "better"
    assert verdict({"mean": -0.6, "ci_low": -0.7, "ci_high": -0.5}, "psnr") == "worse"
    assert verdict({"mean": 0.9, "ci_low": 0.7, "ci_high": 1.1}, "psnr") == "better"
