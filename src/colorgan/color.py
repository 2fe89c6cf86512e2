"""Color math in torch: sRGB <-> CIE Lab (D65) and luminance, batched (N, 3, H, W), on any device.

Also the scalings between pixel space ([0, 1] RGB, Lab) and the networks' [-1, 1] space.
Pure functions only; checked against scikit-image in tests.
"""

from __future__ import annotations

import torch

# sRGB (D65) -> XYZ, and the D65 white point used by skimage.
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])
_EPS = 216 / 24389  # (6/29)^3
_KAPPA = 24389 / 27

L_SCALE = 50.0  # L in [0, 100] -> L / 50 - 1 in [-1, 1]
AB_SCALE = 110.0  # ab in about [-110, 110] -> ab / 110 in [-1, 1]


def _mix(matrix: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(img), img)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    lin = lin.clamp(min=0.0)
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp(min=1e-12) ** (1 / 2.4) - 0.055, lin * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) sRGB in [0, 1] -> Lab with L in [0, 100]."""
    xyz = _mix(_RGB_TO_XYZ, srgb_to_linear(rgb.float())) / _WHITE.to(rgb.device).view(1, 3, 1, 1)
    f = torch.where(xyz > _EPS, xyz.clamp(min=1e-12) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) Lab -> sRGB clipped to [0, 1]."""
    lab = lab.float()
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f > 6 / 29, f**3, (116 * f - 16) / _KAPPA) * _WHITE.to(lab.device).view(1, 3, 1, 1)
    return linear_to_srgb(_mix(_XYZ_TO_RGB, xyz)).clamp(0.0, 1.0)


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) sRGB in [0, 1] -> (N, 1, H, W) sRGB-encoded gray of the same luminance (so the same Lab L)."""
    y = _mix(_RGB_TO_XYZ[1:2], srgb_to_linear(rgb.float()))
    return linear_to_srgb(y).clamp(0.0, 1.0)


def gray_to_lightness(gray: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded gray in [0, 1] -> Lab L in [0, 100] (a neutral pixel's Y is its linear value)."""
    y = srgb_to_linear(gray.float())
    return 116 * torch.where(y > _EPS, y.clamp(min=1e-12) ** (1 / 3), (_KAPPA * y + 16) / 116) - 16


# The networks work in [-1, 1]. These three functions are the only place that mapping lives.
def encode_input(gray: torch.Tensor, color_space: str) -> torch.Tensor:
    """Gray in [0, 1] -> generator input: the gray itself (rgb, the recipe) or L / 50 - 1 (lab)."""
    if color_space == "lab":
        return gray_to_lightness(gray) / L_SCALE - 1.0
    return gray * 2.0 - 1.0


def encode_target(rgb: torch.Tensor, color_space: str) -> torch.Tensor:
    """Color in [0, 1] -> what the generator should output: RGB in [-1, 1] (rgb) or ab / 110 (lab)."""
    if color_space == "lab":
        return rgb_to_lab(rgb)[:, 1:] / AB_SCALE
    return rgb * 2.0 - 1.0


def decode_output(gray: torch.Tensor, out: torch.Tensor, color_space: str) -> torch.Tensor:
    """Generator output -> sRGB in [0, 1]. In lab mode the lightness is the input's own, exactly."""
    if color_space == "lab":
        lab = torch.cat([gray_to_lightness(gray), out.float() * AB_SCALE], dim=1)
        return lab_to_rgb(lab)
    return ((out.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def output_channels(color_space: str) -> int:
    return 2 if color_space == "lab" else 3


def mean_ab(rgb_images) -> list[float]:
    """Mean Lab (a, b) over all pixels of the given (H, W, 3) uint8 RGB arrays."""
    total, count = torch.zeros(2, dtype=torch.float64), 0
    for rgb in rgb_images:
        lab = rgb_to_lab(torch.tensor(rgb).permute(2, 0, 1)[None].float() / 255.0)[0]
        total += lab[1:].sum(dim=(1, 2)).double()
        count += rgb.shape[0] * rgb.shape[1]
    return (total / max(count, 1)).tolist()
