"""The scene head: a gain per kind of scene, mixed per photo, spared at hints, kept through save and export."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from colorgan.backends import TorchBackend
from colorgan.checkpoint import save_checkpoint
from colorgan.colorize import Colorizer, load_generator
from colorgan.config import TrainConfig
from colorgan.export import export_model
from colorgan.models import build_generator
from colorgan.scene import capture_scene_features, fit_scene_head, scene_weights
from colorgan.trainer import TrainingError, train

from .helpers import synthetic_photo, tiny_config

KINDS = ["everyday", "landscapes"]


def small_config(**overrides) -> TrainConfig:
    values = dict(size=32, color_space="lab", ngf=8, ndf=8, hints=True, scene_kinds=KINDS, scene_gains=[0.5, 2.0])
    return TrainConfig(**(values | overrides)).validate()


def with_scene(bias: list[float], **overrides) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A generator with a scene head whose weights say `bias` for every photo, and the same one without it."""
    torch.manual_seed(0)
    cfg = small_config(**overrides)
    scened = build_generator(cfg).eval()
    with torch.no_grad():
        scened.scene.weight.zero_()
        scened.scene.bias.copy_(torch.tensor(bias))
    plain = build_generator(dataclasses.replace(cfg, scene_kinds=[], scene_gains=[])).eval()
    plain.load_state_dict({k: v for k, v in scened.state_dict().items() if not k.startswith("scene")})
    return scened, plain


@pytest.mark.parametrize(("bias", "gain"), [([1.0, 0.0], 0.5), ([0.0, 1.0], 2.0), ([0.5, 0.5], 1.25), ([3, 1], 1.25)])
def test_the_output_is_the_plain_output_times_the_mixed_gain_of_the_kinds(bias, gain):
    scened, plain = with_scene(bias)
    x = torch.rand(2, 4, 32, 32) * 2 - 1
    x[:, 1:] = 0  # no hints
    with torch.no_grad():
        assert torch.allclose(scened(x), plain(x) * gain, rtol=1e-4, atol=1e-5)  # oneDNN: not bitwise
    assert scened(x).shape == (2, 2, 32, 32)


def test_a_hinted_spot_keeps_its_color_and_the_gain_applies_away_from_it():
    scened, plain = with_scene([0.0, 1.0])  # gain 2
    x = torch.zeros(1, 4, 64, 64)
    x[:, 0] = torch.rand(64, 64) * 2 - 1
    x[:, 1:3, 5, 5] = 0.4
    x[:, 3, 5, 5] = 1.0  # one hint at (5, 5)
    with torch.no_grad():
        a, b = scened(x), plain(x)
    assert torch.allclose(a[..., 5, 5], b[..., 5, 5], rtol=1e-4, atol=1e-5)  # the hinted spot: gain 1
    assert torch.allclose(a[..., 50:, 50:], 2 * b[..., 50:, 50:], rtol=1e-4, atol=1e-5)  # far away: the full gain


def test_the_head_survives_saving_loading_and_onnx_export(tmp_path):
    scened, plain = with_scene([0.0, 1.0])
    cfg = small_config()
    path = tmp_path / "scene.safetensors"
    save_checkpoint(path, {"G": scened}, {}, cfg.to_dict(), {})
    loaded, loaded_cfg, _ = load_generator(path)
    assert loaded_cfg.scene_kinds == KINDS and loaded_cfg.scene_gains == [0.5, 2.0]
    assert torch.equal(loaded.scene.bias, scened.scene.bias)
    gray = synthetic_photo(3, (40, 56))[..., 1]
    plain_path = tmp_path / "plain.safetensors"
    save_checkpoint(
        plain_path, {"G": plain}, {}, dataclasses.replace(cfg, scene_kinds=[], scene_gains=[]).to_dict(), {}
    )
    out_scene = Colorizer.load(path).colorize_array(gray).astype(int)
    out_plain = Colorizer.load(plain_path).colorize_array(gray).astype(int)
    assert out_scene.shape == (40, 56, 3) and np.abs(out_scene - out_plain).max() > 0  # the gain shows
    onnx = export_model(path, tmp_path / "scene.onnx")
    out_onnx = Colorizer.load(onnx, backend="onnx").colorize_array(gray).astype(int)
    assert np.abs(out_onnx - out_scene).max() <= 2  # the head is in the graph
    # with a hint, at 4x the training size: the graph spares the hint as far as the colorizer does
    big = synthetic_photo(4, (128, 160))[..., 1]
    hint = [{"x": 40, "y": 40, "color": "#c02020"}]
    by_torch = Colorizer.load(path, precision="fp32").colorize_array(big, size=128, hints=hint).astype(int)
    by_onnx = Colorizer.load(onnx, backend="onnx").colorize_array(big, size=128, hints=hint).astype(int)
    assert np.abs(by_onnx - by_torch).max() <= 2


def test_a_new_run_can_start_from_a_model_with_a_scene_head(tmp_path):
    from colorgan.pix2pix import Pix2Pix

    scened, _ = with_scene([0.0, 1.0], chroma_head="regression")
    path = tmp_path / "scene.safetensors"
    save_checkpoint(path, {"G": scened}, {}, small_config().to_dict(), {})
    model = Pix2Pix(TrainConfig(size=32, color_space="lab", ngf=8, ndf=8, hints=True).validate(), torch.device("cpu"))
    model.start_from(str(path))
    assert model.G.scene is None
    assert torch.equal(model.G.downs[1][0].weight, scened.downs[1][0].weight)


def test_fitted_weights_tell_the_kinds_apart():
    rng = np.random.default_rng(0)
    labels = np.array(["everyday"] * 200 + ["landscapes"] * 200)
    features = rng.normal(size=(400, 12)) * 3 + 5
    features[200:, 4] += 15.0  # one feature tells them apart
    weight, bias = fit_scene_head(features, labels, KINDS, penalty=1.0)
    assert weight.shape == (2, 12) and bias.shape == (2,)
    scores = features @ weight.T + bias
    assert (np.array(KINDS)[scores.argmax(1)] == labels).mean() > 0.95
    assert np.allclose(scores.sum(1), 1.0, atol=1e-6)  # two 0/1 labels that always sum to 1


def test_scene_gains_and_kinds_must_match_differ_and_need_lab():
    with pytest.raises(ValueError, match="scene gains"):
        small_config(scene_gains=[1.0])
    with pytest.raises(ValueError, match="scene gains"):
        small_config(scene_gains=[1.0, 0.0])
    with pytest.raises(ValueError, match="must differ"):
        small_config(scene_kinds=["a", "a"])
    with pytest.raises(ValueError, match="Lab model only"):
        small_config(color_space="rgb", hints=False)


def test_a_training_run_refuses_scene_gains(photo_dir, tmp_path):
    cfg = tiny_config(photo_dir, tmp_path / "run", color_space="lab", scene_kinds=KINDS, scene_gains=[1.0, 0.8])
    with pytest.raises(TrainingError, match="fitted to a trained model"):
        train(cfg, progress=False)


def test_a_bf16_call_that_comes_out_nan_is_rerun_in_fp32():
    class NanInBf16(torch.nn.Module):  # what oneDNN did on one-pixel-wide levels, every time
        def forward(self, x):
            return x * (torch.nan if x.dtype == torch.bfloat16 else 2.0)

    backend = TorchBackend(NanInBf16(), torch.device("cpu"), torch.bfloat16)
    x = torch.rand(1, 1, 8, 8)
    assert torch.equal(backend(x), 2.0 * x)  # the same input, in fp32
    assert backend._fp32_generator is not None and torch.equal(backend(x), 2.0 * x)


def test_captured_features_are_what_the_head_reads():
    scened, _ = with_scene([0.0, 1.0])
    with torch.no_grad():
        scened.scene.weight.normal_()
        scened.scene.bias.copy_(torch.tensor([0.3, 0.4]))
    x = torch.rand(3, 4, 32, 32) * 2 - 1
    x[:, 1:] = 0
    with capture_scene_features(scened) as found, torch.no_grad():
        scened(x)
    features = np.concatenate(found)
    assert features.shape == (3, scened.scene.in_features) == (3, 32 + 64 + 64)  # ngf 8: 3 deepest of 5 levels
    skips, h = [], x
    with torch.no_grad():
        for down in scened.downs:
            h = down(h)
            skips.append(h)
        expected = scened.scene_weights(skips).numpy()
    scores = features @ scened.scene.weight.detach().double().numpy().T + scened.scene.bias.detach().double().numpy()
    assert np.allclose(scene_weights(scores), expected, atol=1e-5)
    assert not scened.downs[-1]._forward_hooks  # the hooks are gone afterwards
