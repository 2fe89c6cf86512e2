"""Color math in torch: sRGB <-> CIE Lab (D65) and luminance, batched (N, 3, H, W), on any device.

Also the scalings between pixel space ([0, 1] RGB, Lab) and the networks' [-1, 1] space.
Pure functions only; checked against scikit-image in tests.
"""

from __future__ import annotations

import functools

import torch

# sRGB (D65) -> XYZ, and the D65 white point used by skimage.
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_RGB_TO_Y = _RGB_TO_XYZ[1:2]  # luminance
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])
_EPS = 216 / 24389  # (6/29)^3
_KAPPA = 24389 / 27

L_SCALE = 50.0  # L in [0, 100] -> L / 50 - 1 in [-1, 1]
AB_SCALE = 110.0  # ab in about [-110, 110] -> ab / 110 in [-1, 1]


@functools.cache
def _on_device(constant: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A module-level constant copied to `device` once: copying it on every call made the host wait for the GPU
    each time. Only for tensors that live as long as the module (the cache keys on their identity). Made outside
    inference mode, whatever mode the first call runs in: an inference tensor cannot be saved for backward."""
    with torch.inference_mode(False), torch.no_grad():
        return constant.to(device=device, dtype=dtype or constant.dtype)


def _mix(matrix: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _on_device(matrix, img.device, img.dtype), img)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    lin = lin.clamp(min=0.0)
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp(min=1e-12) ** (1 / 2.4) - 0.055, lin * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) sRGB in [0, 1] -> Lab with L in [0, 100]."""
    return _lab_of_linear(srgb_to_linear(rgb.float()))


def _lab_of_linear(lin: torch.Tensor) -> torch.Tensor:
    xyz = _mix(_RGB_TO_XYZ, lin) / _on_device(_WHITE, lin.device).view(1, 3, 1, 1)
    f = torch.where(xyz > _EPS, xyz.clamp(min=1e-12) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) Lab -> sRGB clipped to [0, 1]."""
    lab = lab.float()
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f > 6 / 29, f**3, (116 * f - 16) / _KAPPA) * _on_device(_WHITE, lab.device).view(1, 3, 1, 1)
    return linear_to_srgb(_mix(_XYZ_TO_RGB, xyz)).clamp(0.0, 1.0)


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) sRGB in [0, 1] -> (N, 1, H, W) sRGB-encoded gray of the same luminance (so the same Lab L)."""
    y = _mix(_RGB_TO_Y, srgb_to_linear(rgb.float()))
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


def encode_pixels(gray: torch.Tensor, color: torch.Tensor, color_space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 gray (N, 1, H, W) and color (N, 3, H, W) -> the generator's input and target: what encode_input and
    encode_target give for gray / 255 and color / 255, with the work per 8-bit value (the sRGB gamma, the
    lightness of a gray) read from 256-entry tables that those functions computed on the same device (the
    trainer's inputs took a seventh of a CPU step). Equal to within an ulp: a CPU's vectorized and scalar `pow`
    differ in the last bit for some values, and which elements of a batch take which depends on its size."""
    if color_space != "lab":
        return encode_input(gray.float().div_(255.0), color_space), encode_target(
            color.float().div_(255.0), color_space
        )
    x = _look_up(_table_of_u8("input", gray.device), gray)
    lin = _look_up(_table_of_u8("linear", color.device), color)
    return x, _lab_of_linear(lin)[:, 1:] / AB_SCALE


def _look_up(table: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """table[pixels] for (N, C, H, W) uint8 pixels, walking their memory in its own order (NHWC for the
    trainer's channels-last batches), so nothing is copied into another layout first."""
    if pixels.is_contiguous():
        return table.index_select(0, pixels.view(-1).int()).view(pixels.shape)
    nhwc = pixels.permute(0, 2, 3, 1)
    return table.index_select(0, nhwc.reshape(-1).int()).view(nhwc.shape).permute(0, 3, 1, 2)


@functools.cache
def _table_of_u8(what: str, device: torch.device) -> torch.Tensor:
    """(256,): the lab generator input, or the linear value, of each 8-bit value (encode_pixels)."""
    with torch.inference_mode(False), torch.no_grad():  # as in _on_device
        values = torch.arange(256, dtype=torch.float32, device=device).div_(255.0).view(1, 1, 1, 256)
        return (encode_input(values, "lab") if what == "input" else srgb_to_linear(values)).flatten()


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


# Chroma as classes (Zhang et al. 2016): ab quantized on a grid, the network predicts a distribution per pixel.
AB_BIN_STEP = 10.0
_GRID_CENTERS = torch.arange(-105.0, 106.0, AB_BIN_STEP)  # 22 centers per axis, ab in [-110, 110]


def lab_to_linear_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab (..., 3) -> linear sRGB (..., 3), unclipped, so out-of-gamut colors show as values outside [0, 1]."""
    fy = (lab[..., 0] + 16) / 116
    f = torch.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], dim=-1)
    xyz = torch.where(f > 6 / 29, f**3, (116 * f - 16) / _KAPPA) * _on_device(_WHITE, lab.device, lab.dtype)
    return xyz @ _on_device(_XYZ_TO_RGB, lab.device, lab.dtype).T


@functools.cache
def ab_bin_centers() -> torch.Tensor:
    """(Q, 2) centers of the ab grid cells that real colors reach, plus one cell around them.

    A cell counts when any point of it, at any lightness, is an sRGB color; the margin makes the four grid
    neighbours of every in-gamut ab value classes, so soft targets never lose weight.
    """
    offsets = torch.linspace(-AB_BIN_STEP / 2, AB_BIN_STEP / 2, 5)
    lightness = torch.linspace(1.0, 99.0, 50)
    a, b, da, db, L = torch.meshgrid(_GRID_CENTERS, _GRID_CENTERS, offsets, offsets, lightness, indexing="ij")
    rgb = lab_to_linear_rgb(torch.stack([L, a + da, b + db], dim=-1))
    in_gamut = ((rgb >= -1e-6) & (rgb <= 1 + 1e-6)).all(dim=-1).flatten(2).any(dim=2)  # (22, 22)
    reached = torch.nn.functional.max_pool2d(in_gamut[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
    ia, ib = torch.nonzero(reached, as_tuple=True)
    return torch.stack([_GRID_CENTERS[ia], _GRID_CENTERS[ib]], dim=1)


@functools.cache
def _grid_to_bin() -> torch.Tensor:
    """(22 * 22,) class index of each grid cell, -1 for cells that are not classes."""
    centers = ab_bin_centers()
    index = torch.full((len(_GRID_CENTERS) ** 2,), -1, dtype=torch.long)
    cells = ((centers + 105.0) / AB_BIN_STEP).round().long()
    index[cells[:, 0] * len(_GRID_CENTERS) + cells[:, 1]] = torch.arange(len(centers))
    return index


def soft_bin_targets(ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Target ab (N, 2, h, w) in network units (ab / 110) -> (classes (N, 4, h, w), weights (N, 4, h, w)).

    Each value is split bilinearly over the four grid centers around it, so the expected ab of the target
    distribution is the true ab exactly (Zhang et al. use 5 nearest neighbours with a Gaussian instead).
    """
    n = len(_GRID_CENTERS)
    pos = ((ab.float() * AB_SCALE - _GRID_CENTERS[0]) / AB_BIN_STEP).clamp(0, n - 1 - 1e-4)
    low = pos.floor()
    frac = pos - low
    low = low.long()
    a0, b0, fa, fb = low[:, 0], low[:, 1], frac[:, 0], frac[:, 1]
    cells = torch.stack([a0 * n + b0, a0 * n + b0 + 1, (a0 + 1) * n + b0, (a0 + 1) * n + b0 + 1], dim=1)
    weights = torch.stack([(1 - fa) * (1 - fb), (1 - fa) * fb, fa * (1 - fb), fa * fb], dim=1)
    classes = _on_device(_grid_to_bin(), ab.device)[cells]
    weights = torch.where(classes >= 0, weights, 0.0)
    weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1e-8)
    return classes.clamp(min=0), weights


def bin_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """Class logits (N, Q, h, w) -> float32 log-probabilities laid out (N, h, w, Q).

    Classes last: for the channels-last tensors the network makes this is a free view, and every op after it
    (softmax, gather, the product with the centers) runs over contiguous memory.
    """
    return torch.log_softmax(logits.permute(0, 2, 3, 1).float(), dim=-1)


def bin_cross_entropy(
    log_p: torch.Tensor, target_ab: torch.Tensor, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean cross-entropy between log-probabilities (N, h, w, Q) and soft targets from ab (N, 2, h, w).

    `class_weights` (Q,) weights each pixel by its target's main class (Zhang et al.'s rebalancing).
    """
    classes, weights = soft_bin_targets(target_ab)
    picked = log_p.gather(-1, classes.permute(0, 2, 3, 1))
    per_pixel = -(picked * weights.permute(0, 2, 3, 1)).sum(dim=-1)
    if class_weights is not None:
        main = classes.gather(1, weights.argmax(dim=1, keepdim=True))[:, 0]
        per_pixel = per_pixel * class_weights.to(per_pixel.device)[main]
    return per_pixel.mean()


def ab_class_prior(ab: torch.Tensor) -> torch.Tensor:
    """Empirical class distribution (Q,) of ab values (N, 2, h, w) in network units, from the soft targets."""
    classes, weights = soft_bin_targets(ab)
    counts = torch.zeros(len(ab_bin_centers()), dtype=torch.float64)
    counts.scatter_add_(0, classes.flatten(), weights.flatten().double())
    return (counts / counts.sum()).float()


def rebalancing_weights(prior: torch.Tensor, mix: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
    """Zhang et al. 2016: w ~ 1 / ((1 - mix) * smoothed prior + mix / Q), scaled so that E_prior[w] = 1."""
    centers = ab_bin_centers()
    kernel = torch.exp(-(torch.cdist(centers, centers) ** 2) / (2 * sigma**2))
    smoothed = kernel @ prior.double().to(kernel.dtype)
    smoothed = smoothed / smoothed.sum()
    weights = 1.0 / ((1 - mix) * smoothed + mix / len(centers))
    return (weights / (smoothed * weights).sum()).float()


def ab_from_bin_probs(p: torch.Tensor) -> torch.Tensor:
    """Probabilities (N, h, w, Q) -> their expected ab / 110, (N, 2, h, w)."""
    centers = _on_device(ab_bin_centers(), p.device) / AB_SCALE
    return (p @ centers).permute(0, 3, 1, 2)


def annealed_mean(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Class logits with the classes on the second-to-last axis, (..., Q, P) -> ab / 110, (..., 2, P): the annealed
    mean of Zhang et al. 2016.

    Temperature 1 gives the distribution's mean (safe, dull where the model is unsure); lower values move
    towards its mode (vivid). The softmax runs in float32 whatever the network's precision. It is written out
    over the class axis in place, not as torch.softmax on a permuted copy: that is most of a video frame's cost.
    """
    z = logits.float()
    weights = (z - z.amax(dim=-2, keepdim=True).detach()).mul_(1.0 / temperature).exp_()
    centers = _on_device(ab_bin_centers(), logits.device) / AB_SCALE
    return (centers.T @ weights) / weights.sum(dim=-2, keepdim=True)


def ab_from_bin_logits(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Class logits (N, Q, h, w) -> ab / 110 (N, 2, h, w): their annealed mean."""
    n, _, h, w = logits.shape
    return annealed_mean(logits.flatten(2), temperature).view(n, 2, h, w)
