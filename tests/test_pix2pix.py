"""What the discriminator sees (real photos saturated), the fused optimizer's exact resume, and a run started from
a trained model (--init-from)."""

from __future__ import annotations

import pytest
import torch

from colorgan.train.pix2pix import Pix2Pix

from .helpers import tiny_config


def test_resumed_adam_moments_keep_the_channels_last_layout_the_fused_kernel_needs(tmp_path):
    from colorgan.io.checkpoint import load_checkpoint, restore_training, save_checkpoint

    def conv_and_adam():
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
        return conv, torch.optim.Adam(conv.parameters(), lr=0.1, fused=True)

    def adam_step(conv, adam, seed):
        torch.manual_seed(seed)
        conv(torch.randn(2, 3, 8, 8)).square().mean().backward()
        adam.step()
        adam.zero_grad()

    straight, straight_adam = conv_and_adam()
    adam_step(straight, straight_adam, 1)
    save_checkpoint(tmp_path / "ckpt.safetensors", {"m": straight}, {"o": straight_adam}, {}, {})
    adam_step(straight, straight_adam, 2)

    resumed, resumed_adam = conv_and_adam()
    restore_training(load_checkpoint(tmp_path / "ckpt.safetensors"), {"m": resumed}, {"o": resumed_adam}, "test")
    moment = resumed_adam.state[resumed.weight]["exp_avg"]
    assert moment.stride() == resumed.weight.stride()
    adam_step(resumed, resumed_adam, 2)
    assert torch.equal(resumed.weight, straight.weight)


def test_the_discriminator_sees_real_photos_saturated_and_the_fakes_as_they_are(tmp_path):
    cfg = tiny_config(tmp_path, tmp_path / "run", gan_weight=1.0, real_saturation=1.2)
    model = Pix2Pix(cfg, torch.device("cpu"))
    seen = []
    model.D_run = lambda gray, ab: (seen.append(ab.detach().float()), model.D(gray, ab))[1]
    torch.manual_seed(1)
    x, y = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32) * 1.8 - 0.9
    model.step(x, y, index=0)
    real, fake = seen[0], seen[1]
    assert torch.allclose(real, (1.2 * y).clamp(-1, 1))  # vivid parts clipped to the ab range, not wrapped
    assert (real.abs() == 1).any() and not torch.allclose(fake, real)


def test_saturating_real_photos_needs_lab_and_a_sane_factor(tmp_path):
    cases = ((dict(real_saturation=0.8), "--real-saturation"), (dict(real_saturation=1.2, color_space="rgb"), "lab"))
    for values, flag in cases:
        with pytest.raises(ValueError, match=flag):
            tiny_config(tmp_path, tmp_path / "run", **values).validate()


def test_a_run_started_from_a_trained_model_holds_its_weights_in_g_and_the_average(photo_dir, tmp_path, tiny_model):
    from colorgan.infer.colorize import load_generator
    from colorgan.train.trainer import train

    model = Pix2Pix(tiny_config(photo_dir, tmp_path / "unused", ema_decay=0.99), torch.device("cpu"))
    model.start_from(str(tiny_model))
    source = load_generator(tiny_model)[0].state_dict()
    for generator in (model.G, model.G_ema):
        state = generator.state_dict()
        assert state.keys() == source.keys() and all(torch.equal(state[k], v) for k, v in source.items())
    run = tiny_config(photo_dir, tmp_path / "run", init_from=str(tiny_model), max_steps=2, gan_weight=0.0)
    assert (train(run, progress=False) / "checkpoints" / "latest.safetensors").exists()
