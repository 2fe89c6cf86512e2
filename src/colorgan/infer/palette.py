"""The likeliest colors at a point, for a model with the bins head (a distribution over ab classes, Zhang et al.
2016): where the model is unsure (a shirt that could be red or blue), the user picks one of its few likeliest
colors as a hint instead of guessing a hex code (ideepcolor's gamut).

Pure functions of a class distribution and a lightness; `Colorizer.palette` runs the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..colorspace import ab_bin_centers, lab_to_linear_rgb, lab_to_rgb

MIN_DISTANCE = 20.0  # ab units between two palette colors: nearer classes are one color, not two choices
MIN_SHARE = 0.03  # colors the model gives less than this are noise, not choices (the likeliest always shows)


class PaletteError(ValueError):
    """A palette that cannot be given: the message says why (the model, the point)."""


@dataclass(frozen=True)
class PaletteColor:
    rgb: tuple[int, int, int]
    probability: float  # the model's probability of this color and of the classes nearer to it than to another

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


def in_gamut(lightness: float, ab: torch.Tensor, steps: int = 16) -> torch.Tensor:
    """(K, 2) ab -> (K, 3) Lab at `lightness`, each ab scaled towards gray just enough to be an sRGB color, so the
    color shown keeps the photo's lightness and hue (clipping each channel would change both)."""
    low, high = torch.zeros(len(ab), 1), torch.ones(len(ab), 1)
    for _ in range(steps):  # bisection on the chroma scale; gray (scale 0) is always in gamut
        mid = (low + high) / 2
        rgb = lab_to_linear_rgb(torch.cat([torch.full_like(mid, lightness), mid * ab], dim=1))
        fits = ((rgb >= 0) & (rgb <= 1)).all(dim=1, keepdim=True)
        low, high = torch.where(fits, mid, low), torch.where(fits, high, mid)
    scale = torch.where(_fits(lightness, ab), torch.ones_like(low), low)
    return torch.cat([torch.full_like(scale, lightness), scale * ab], dim=1)


def _fits(lightness: float, ab: torch.Tensor) -> torch.Tensor:
    rgb = lab_to_linear_rgb(torch.cat([torch.full((len(ab), 1), lightness), ab], dim=1))
    return ((rgb >= 0) & (rgb <= 1)).all(dim=1, keepdim=True)


def likeliest_colors(
    probabilities: torch.Tensor,
    lightness: float,
    count: int = 5,
    min_distance: float = MIN_DISTANCE,
    min_share: float = MIN_SHARE,
) -> list[PaletteColor]:
    """(Q,) class probabilities at one pixel and its Lab lightness -> up to `count` distinct colors, likeliest
    first. Each class's probability goes to the nearest chosen color, so the shares add up to 1."""
    centers = ab_bin_centers()
    if probabilities.shape != (len(centers),):
        raise PaletteError(f"expected {len(centers)} class probabilities, got {tuple(probabilities.shape)}")
    probabilities = probabilities.double()
    chosen: list[int] = []
    for index in torch.argsort(probabilities, descending=True).tolist():
        if all(float(torch.dist(centers[index], centers[j])) >= min_distance for j in chosen):
            chosen.append(index)
            if len(chosen) == count:
                break
    nearest = torch.cdist(centers, centers[chosen]).argmin(dim=1)
    shares = torch.zeros(len(chosen), dtype=torch.float64).index_add_(0, nearest, probabilities)
    lab = in_gamut(float(lightness), centers[chosen])
    rgb = (lab_to_rgb(lab.T[None, :, :, None])[0, :, :, 0].T * 255).round().to(torch.uint8)
    colors = [PaletteColor(tuple(int(v) for v in rgb[i]), float(shares[i])) for i in range(len(chosen))]
    colors = sorted(colors, key=lambda c: -c.probability)
    return colors[:1] + [c for c in colors[1:] if c.probability >= min_share]
