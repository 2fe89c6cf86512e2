"""LPIPS from user-supplied weights files: loads without pickle, measures what it should, evaluate reports it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from colorgan.evaluation.evaluate import evaluate_model
from colorgan.evaluation.lpips import LPIPS

from .helpers import synthetic_photo


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory):
    """Random stand-ins in the official layouts: torchvision AlexNet (.pth) and LPIPS lin layers (.safetensors)."""
    torch.manual_seed(0)
    model = LPIPS()
    folder = tmp_path_factory.mktemp("lpips")
    torch.save({f"features.{k}": v for k, v in model.features.state_dict().items()}, folder / "alex.pth")
    save_file(
        {f"lin{i}.model.1.weight": lin.weight.detach().abs().contiguous() for i, lin in enumerate(model.lins)},
        str(folder / "lin.safetensors"),
    )
    return f"{folder / 'alex.pth'},{folder / 'lin.safetensors'}"


def test_zero_for_identical_images_and_growing_with_distortion(lpips_files):
    lpips = LPIPS.from_files(lpips_files)
    truth = synthetic_photo(1, (96, 96))
    noise = np.random.default_rng(0).normal(0, 1, truth.shape)
    distances = [lpips.distance(np.clip(truth + s * noise, 0, 255).astype(np.uint8), truth) for s in (0, 10, 40)]
    assert distances[0] == pytest.approx(0.0, abs=1e-9)
    assert distances[0] < distances[1] < distances[2]


def test_incomplete_weights_are_named(tmp_path, lpips_files):
    alex = lpips_files.split(",")[0]
    with pytest.raises(ValueError, match="lack 5 tensors.*lin0"):
        LPIPS.from_files(alex)


def test_evaluate_reports_lpips_only_when_given_weights(tiny_model, photo_dir, tmp_path, lpips_files):
    with_lpips = evaluate_model(
        tiny_model, photo_dir, tmp_path / "a", limit=3, progress=False, lpips_weights=lpips_files
    )
    assert with_lpips["model"]["lpips"]["mean"] >= 0 and "LPIPS" in with_lpips["network_metrics"]
    assert "LPIPS (AlexNet)" in (tmp_path / "a" / "report.html").read_text()
    without = json.loads(json.dumps(evaluate_model(tiny_model, photo_dir, tmp_path / "b", limit=3, progress=False)))
    assert "lpips" not in without["model"] and without["network_metrics"].startswith("skipped")
