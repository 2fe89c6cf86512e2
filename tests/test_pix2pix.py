"""The knobs that weaken the discriminator: a slower D and one-sided label smoothing."""

from __future__ import annotations

import math

import pytest
import torch

from colorgan.pix2pix import Pix2Pix, adversarial_loss

from .helpers import tiny_config


def test_a_slower_discriminator_gets_its_share_of_every_learning_rate(tmp_path):
    model = Pix2Pix(tiny_config(tmp_path, tmp_path / "run", d_lr_scale=0.25), torch.device("cpu"))
    assert model.opt_D.param_groups[0]["lr"] == pytest.approx(0.25 * model.opt_G.param_groups[0]["lr"])
    model.set_lr(1e-3)  # the trainer's schedule, mid-decay
    assert model.opt_G.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert model.opt_D.param_groups[0]["lr"] == pytest.approx(2.5e-4)


@pytest.mark.parametrize("mode", ["vanilla", "lsgan"])
def test_label_smoothing_moves_only_the_real_target(mode):
    # The loss on real pairs is lowest where D says 0.9 (logit ln 9 for BCE, 0.9 for least squares) ...
    at_target = torch.tensor([math.log(9.0) if mode == "vanilla" else 0.9], requires_grad=True)
    adversarial_loss(at_target, True, mode, real_label=0.9).backward()
    assert at_target.grad.abs().item() < 1e-6
    # ... while G's target (real, unsmoothed) and the fake target still pull further
    for real, label in ((True, 1.0), (False, 0.9)):
        logits = at_target.detach().clone().requires_grad_(True)
        adversarial_loss(logits, real, mode, real_label=label).backward()
        assert logits.grad.abs().item() > 0.05
