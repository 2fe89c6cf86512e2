"""The recipes under recipes/: each resolves to a valid config, and the pix2pix one is the recipe as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from colorgan.config import make_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_the_pix2pix_recipe_is_the_preset_the_user_gave():
    recipe = make_config(config_file=RECIPES / "pix2pix.yaml")
    preset = make_config("pix2pix")
    assert recipe.data == ["landscape Images"]
    assert {**recipe.to_dict(), "data": None} == {**preset.to_dict(), "data": None}
    assert (recipe.size, recipe.batch_size, recipe.epochs, recipe.lr, recipe.beta1) == (256, 64, 50, 2e-4, 0.5)
    assert (recipe.l1_weight, recipe.gan_weight, recipe.generator, recipe.color_space) == (100, 1, "unet", "rgb")


def test_the_efficientnet_recipe_trains_a_pretrained_encoder_with_no_gain():
    recipe = make_config(config_file=RECIPES / "efficientnet.yaml")
    preset = make_config("default")  # what `colorgan train --data DIR` trains is the shipped model's recipe
    assert {**recipe.to_dict(), "data": None} == {**preset.to_dict(), "data": None}
    assert recipe.generator == "efficientnet-lite0" and recipe.color_space == "lab"
    assert recipe.chroma_gain == 1.0
    assert recipe.data == ["../shared/data/broad", "../shared/data/landscapes", "../data/people"]


@pytest.mark.parametrize("name", ["efficientnet.yaml", "pix2pix.yaml"])
def test_every_recipe_names_its_command(name):
    assert "colorgan train --config recipes/" + name in (RECIPES / name).read_text()
