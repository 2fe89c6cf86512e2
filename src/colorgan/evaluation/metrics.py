"""Metrics for evaluating colorization: PSNR, SSIM, CIEDE2000, colorfulness, ab histograms, bootstrap CIs.

All functions are pure and vectorized with NumPy / scikit-image. Images are RGB arrays of shape
``(H, W, 3)``, either ``uint8`` on the 0-255 scale or floating point on the ``[0, 1]`` scale; every
function converts its inputs with :func:`to_float01` first, so the two encodings of the same picture
give the same result. Colour-space work uses :func:`skimage.color.rgb2lab` (sRGB, D65, 2° observer).

Conventions (argument order is always ``(pred, truth)``):

* ``psnr`` is computed on RGB with data range 1.0 and is capped at :data:`PSNR_CAP_DB` (100 dB) so that
  identical images give a finite value and dataset aggregates stay finite.
* ``ssim`` is scikit-image's SSIM on RGB (``channel_axis=-1``, ``data_range=1``, default 7x7 uniform
  window), i.e. the mean of the per-channel SSIMs. Images must be at least 7x7.
* ``ciede2000`` is the mean per-pixel CIEDE2000 colour difference (kL = kC = kH = 1).
* ``colorfulness`` is Hasler & Süsstrunk (2003) on the 0-255 scale.
* ``chroma_histogram_distance`` is the Jensen-Shannon distance between 2-D Lab ab histograms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.distance import jensenshannon
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = [
    "METRIC_KEYS",
    "PSNR_CAP_DB",
    "ab_histogram",
    "aggregate",
    "bootstrap_ci",
    "chroma_histogram_distance",
    "ciede2000",
    "colorfulness",
    "delta_colorfulness",
    "image_metrics",
    "psnr",
    "ssim",
    "to_float01",
]

#: Upper bound returned by :func:`psnr` (an MSE of 1e-10 on the [0, 1] scale). Identical images would
#: otherwise give ``inf``, which turns every mean / confidence interval that includes them into ``inf``.
PSNR_CAP_DB = 100.0

#: Keys of the dict returned by :func:`image_metrics`, in a stable order.
METRIC_KEYS = ("psnr", "ssim", "ciede2000", "colorfulness", "colorfulness_truth", "delta_colorfulness")

# Rows of bootstrap resamples drawn per chunk are chosen so one chunk holds about this many indices.
_BOOT_CHUNK_ELEMS = 4_000_000


# --------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------


def to_float01(img: ArrayLike) -> np.ndarray:
    """Return ``img`` as a float32 array on the ``[0, 1]`` scale.

    Integer inputs (normally ``uint8``) are read on the 0-255 scale and divided by 255. Floating-point
    inputs are taken to be on the ``[0, 1]`` scale already and are clipped into it (a generator's output
    may overshoot slightly); NaNs are passed through. Booleans map to 0.0 / 1.0. The shape is unchanged.
    """
    arr = np.asarray(img)
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        # Divide in float64 and round once, so uint8 input equals (uint8 / 255.0).astype(float32).
        return (arr.astype(np.float64) / 255.0).astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(arr, 0.0, 1.0).astype(np.float32, copy=False)
    raise TypeError(f"expected an integer or floating-point image, got dtype {arr.dtype}")


def _as_rgb01(img: ArrayLike, name: str = "image") -> np.ndarray:
    out = to_float01(img)
    if out.ndim != 3 or out.shape[-1] != 3:
        raise ValueError(f"{name} must be an RGB array of shape (H, W, 3), got shape {out.shape}")
    return out


def _as_pair(pred: ArrayLike, truth: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = _as_rgb01(pred, "pred")
    t = _as_rgb01(truth, "truth")
    if p.shape != t.shape:
        raise ValueError(f"pred and truth shapes differ: {p.shape} vs {t.shape}")
    return p, t


# --------------------------------------------------------------------------------------------------
# Per-image metrics (the underscored helpers take already-converted float [0, 1] / Lab arrays)
# --------------------------------------------------------------------------------------------------


def _psnr01(p: np.ndarray, t: np.ndarray) -> float:
    # skimage accumulates the squared error in float64. MSE == 0 -> inf (no warning), capped below.
    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(t, p, data_range=1.0)
    return float(min(value, PSNR_CAP_DB))


def _ssim01(p: np.ndarray, t: np.ndarray) -> float:
    # The standard SSIM of Wang et al. 2004 (and of torchmetrics and most papers): an 11x11 Gaussian window,
    # sigma 1.5, population covariances. scikit-image's default (7x7 uniform) gives figures no paper reports.
    return float(
        structural_similarity(
            t, p, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


def _ciede2000_lab(lab_pred: np.ndarray, lab_truth: np.ndarray) -> float:
    de = deltaE_ciede2000(lab_truth, lab_pred, channel_axis=-1)
    return float(np.mean(de, dtype=np.float64))


def _colorfulness01(rgb01: np.ndarray) -> float:
    rgb = rgb01.reshape(-1, 3).astype(np.float64) * 255.0
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    std_root = np.sqrt(rg.var() + yb.var())
    mean_root = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(std_root + 0.3 * mean_root)


def psnr(pred: ArrayLike, truth: ArrayLike) -> float:
    """Peak signal-to-noise ratio in dB between two RGB images, data range 1.0 (after :func:`to_float01`).

    The MSE is taken over all pixels and all three channels. The result is capped at
    :data:`PSNR_CAP_DB` = 100 dB; in particular identical images return exactly 100.0 instead of ``inf``
    so that means and bootstrap intervals over a dataset stay finite.
    """
    p, t = _as_pair(pred, truth)
    return _psnr01(p, t)


def ssim(pred: ArrayLike, truth: ArrayLike) -> float:
    """Structural similarity between two RGB images: the standard form (Wang et al. 2004), an 11x11 Gaussian
    window with sigma 1.5, data range 1, the mean over the three RGB channels of the mean SSIM map.

    Identical images give 1.0. Images must be at least 11x11.
    """
    p, t = _as_pair(pred, truth)
    return _ssim01(p, t)


def ciede2000(pred: ArrayLike, truth: ArrayLike) -> float:
    """Mean over pixels of the CIEDE2000 colour difference ΔE00 between two RGB images.

    Both images are converted with :func:`skimage.color.rgb2lab` (sRGB, D65) and compared pixel-wise
    with :func:`skimage.color.deltaE_ciede2000` (kL = kC = kH = 1, ``truth`` as the reference).
    Identical images give 0.0. A ΔE00 of about 1 is a just-noticeable difference.
    """
    p, t = _as_pair(pred, truth)
    return _ciede2000_lab(rgb2lab(p), rgb2lab(t))


def colorfulness(img: ArrayLike) -> float:
    """Colourfulness metric M of Hasler & Süsstrunk (2003), on the 0-255 scale.

    With ``rg = R - G`` and ``yb = 0.5 (R + G) - B`` over all pixels (population statistics)::

        M = sqrt(std_rg**2 + std_yb**2) + 0.3 * sqrt(mean_rg**2 + mean_yb**2)

    This is the original formulation with *signed* opponent means. DDColor's evaluation code (and the
    widespread PyImageSearch snippet) uses ``|R - G|`` and ``|0.5 (R + G) - B|`` instead; we do not, so
    numbers from this function are not directly comparable with DDColor's published colourfulness. A
    grey image (R = G = B) scores 0; blending an image toward any grey scales M by the same factor.
    """
    return _colorfulness01(_as_rgb01(img))


def delta_colorfulness(pred: ArrayLike, truth: ArrayLike) -> float:
    """``colorfulness(pred) - colorfulness(truth)``: negative when the prediction is washed out."""
    p, t = _as_pair(pred, truth)
    return _colorfulness01(p) - _colorfulness01(t)


def image_metrics(pred: ArrayLike, truth: ArrayLike) -> dict[str, float]:
    """All per-image metrics for one prediction/ground-truth pair.

    Returns a dict with keys :data:`METRIC_KEYS`: ``psnr``, ``ssim``, ``ciede2000``, ``colorfulness``
    (of ``pred``), ``colorfulness_truth`` and ``delta_colorfulness``. Each input is converted to float
    and to Lab only once. Values equal those of the individual functions.
    """
    p, t = _as_pair(pred, truth)
    cf_pred = _colorfulness01(p)
    cf_truth = _colorfulness01(t)
    return {
        "psnr": _psnr01(p, t),
        "ssim": _ssim01(p, t),
        "ciede2000": _ciede2000_lab(rgb2lab(p), rgb2lab(t)),
        "colorfulness": cf_pred,
        "colorfulness_truth": cf_truth,
        "delta_colorfulness": cf_pred - cf_truth,
    }


# --------------------------------------------------------------------------------------------------
# Dataset-level chroma distribution
# --------------------------------------------------------------------------------------------------


def ab_histogram(images: Iterable[ArrayLike], bins: int = 32, ab_range: float = 110) -> np.ndarray:
    """Normalized 2-D histogram of the Lab (a, b) chroma of every pixel of every image.

    The a and b axes are each split into ``bins`` equal bins over ``[-ab_range, ab_range]``; values
    outside are clipped into the edge bins (sRGB colours lie within about ±110, so with the default
    range nothing is clipped). Counts are accumulated over all images and normalized once, so larger
    images weigh proportionally more. Returns a float64 array of shape ``(bins, bins)`` indexed
    ``[a_bin, b_bin]`` that sums to 1. Raises ``ValueError`` if there are no pixels.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if ab_range <= 0:
        raise ValueError(f"ab_range must be > 0, got {ab_range}")
    counts = np.zeros(bins * bins, dtype=np.int64)
    scale = bins / (2.0 * ab_range)
    for i, img in enumerate(images):
        lab = rgb2lab(_as_rgb01(img, f"images[{i}]"))
        ab = lab[..., 1:].reshape(-1, 2).astype(np.float64)
        idx = np.floor((ab + ab_range) * scale).astype(np.int64)
        np.clip(idx, 0, bins - 1, out=idx)
        counts += np.bincount(idx[:, 0] * bins + idx[:, 1], minlength=bins * bins)
    total = counts.sum()
    if total == 0:
        raise ValueError("ab_histogram needs at least one pixel")
    return (counts / total).reshape(bins, bins)


def chroma_histogram_distance(hist_pred: ArrayLike, hist_truth: ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, in ``[0, 1]``) between two ab histograms.

    Computed as ``sqrt(JSD(P || Q))`` with ``JSD = 0.5 KL(P || M) + 0.5 KL(Q || M)``, ``M = (P + Q) / 2``
    (:func:`scipy.spatial.distance.jensenshannon`); both inputs are renormalized to sum 1.

    Why this measure: a colorizer's typical failure is desaturation, which leaves the saturated bins
    that the ground truth occupies *empty* in the prediction. Plain or symmetric KL is infinite there
    and only becomes finite through an epsilon whose value then dominates the score; JS compares both
    histograms against their mixture M, which is non-zero wherever either is, so it needs no smoothing
    parameter. It is also symmetric and bounded (0 = identical distributions, 1 = disjoint support),
    and its square root is a true metric, so values are comparable across runs and datasets. Unlike
    earth mover's distance it ignores how *far* misplaced mass moved in the ab plane, but it is cheap,
    parameter-free and rises monotonically as a prediction is blended toward grey.
    """
    p = np.asarray(hist_pred, dtype=np.float64)
    q = np.asarray(hist_truth, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"histogram shapes differ: {p.shape} vs {q.shape}")
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("histograms must be non-negative with a positive total")
    d = jensenshannon(p.ravel(), q.ravel(), base=2)
    # Rounding can give a tiny negative JSD -> NaN under the square root; clamp to [0, 1].
    return float(np.clip(np.nan_to_num(d, nan=0.0), 0.0, 1.0))


# --------------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------------


def bootstrap_ci(
    values: ArrayLike, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``values`` with a percentile-bootstrap ``(1 - alpha)`` confidence interval.

    Draws ``n_boot`` resamples (with replacement, same size as ``values``) from
    ``numpy.random.default_rng(seed)``, all at once (in a few chunks for very large inputs), and returns
    ``(mean, low, high)`` where ``low`` / ``high`` are the ``alpha/2`` and ``1 - alpha/2`` quantiles of
    the resample means. Deterministic for a given seed; collapses to ``(c, c, c)`` for constant values.
    Raises ``ValueError`` for empty or non-finite input.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = x.size
    if n == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.isfinite(x).all():
        raise ValueError("bootstrap_ci got non-finite values")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    mean = float(x.mean())
    if np.all(x == x[0]):
        c = float(x[0])
        return c, c, c
    rng = np.random.default_rng(seed)
    rows = max(1, _BOOT_CHUNK_ELEMS // n)
    boot_means = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, rows):
        stop = min(start + rows, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        boot_means[start:stop] = x[idx].mean(axis=1)
    low, high = np.quantile(boot_means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return mean, float(low), float(high)


def aggregate(
    per_image: Sequence[Mapping[str, float]], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Summarize per-image metric dicts (e.g. from :func:`image_metrics`) over a dataset.

    Returns ``{metric: {"mean": ..., "ci_low": ..., "ci_high": ...}}`` for every key of the first dict
    (in its order), using :func:`bootstrap_ci` per metric with the given ``n_boot`` / ``alpha`` / ``seed``.
    Every dict must have the same keys. Raises ``ValueError`` for an empty list or mismatched keys.
    """
    if len(per_image) == 0:
        raise ValueError("aggregate needs at least one per-image dict")
    keys = list(per_image[0].keys())
    for i, d in enumerate(per_image):
        if set(d.keys()) != set(keys):
            raise ValueError(f"per_image[{i}] has keys {sorted(d)}, expected {sorted(keys)}")
    out: dict[str, dict[str, float]] = {}
    for k in keys:
        mean, low, high = bootstrap_ci([d[k] for d in per_image], n_boot=n_boot, alpha=alpha, seed=seed)
        out[k] = {"mean": mean, "ci_low": low, "ci_high": high}
    return out


SPOILED_MARGIN = 3.0  # CIEDE2000 units above gray's at which a colorized photo reads as spoiled


def shares_against_gray(rows: dict[str, list[dict]]) -> dict:
    """The share of photos the model makes better than leaving them gray (a lower CIEDE2000), and the share
    it spoils (CIEDE2000 more than SPOILED_MARGIN above gray's), each with a 95 % bootstrap interval: a mean
    can improve while a quarter of the photos get garish."""
    pairs = list(zip(rows["model"], rows["gray"]))
    better = [float(m["ciede2000"] < g["ciede2000"]) for m, g in pairs]
    spoiled = [float(m["ciede2000"] > g["ciede2000"] + SPOILED_MARGIN) for m, g in pairs]
    out = {}
    for name, flags in (("better", better), ("spoiled", spoiled)):
        mean, low, high = bootstrap_ci(flags)
        out[name] = {"share": mean, "ci_low": low, "ci_high": high}
    return out
