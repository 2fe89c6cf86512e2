"""Known-answer tests for colorgan.evaluation.metrics on small synthetic images."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from colorgan.evaluation.metrics import (
    METRIC_KEYS,
    PSNR_CAP_DB,
    ab_histogram,
    aggregate,
    bootstrap_ci,
    chroma_histogram_distance,
    ciede2000,
    colorfulness,
    delta_colorfulness,
    image_metrics,
    psnr,
    ssim,
    to_float01,
)

LUMA = np.array([0.299, 0.587, 0.114])


def _random_u8(seed: int = 0, shape: tuple[int, int] = (48, 48)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def _uniform(rgb: tuple[int, int, int], shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (*shape, 3)).copy()


def _desaturate(img01: np.ndarray, amount: float) -> np.ndarray:
    """Blend toward the image's own (Rec. 601) luminance; amount 0 = unchanged, 1 = grey."""
    lum = (img01 @ LUMA)[..., None]
    return (1.0 - amount) * img01 + amount * lum


# ------------------------------------------------------------------------------------------- to_float01


def test_to_float01_uint8_and_float():
    u8 = np.array([[[0, 128, 255]]], dtype=np.uint8)
    out = to_float01(u8)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[[0.0, 128 / 255, 1.0]]], rtol=1e-7)
    f = to_float01(np.array([[[-0.1, 0.5, 1.2]]]))
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, np.array([[[0.0, 0.5, 1.0]]], dtype=np.float32))


def test_shape_validation():
    with pytest.raises(ValueError):
        psnr(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(ValueError):
        ciede2000(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))


# ------------------------------------------------------------------------------------------------ PSNR


@pytest.mark.parametrize("d", [1, 5, 16, 40])
def test_psnr_uniform_shift_known_value(d):
    expected = 20 * math.log10(1 / (d / 255))
    rng = np.random.default_rng(d)
    truth_u8 = rng.integers(0, 256 - d, (32, 32, 3)).astype(np.uint8)
    assert psnr(truth_u8 + np.uint8(d), truth_u8) == pytest.approx(expected, abs=1e-3)
    truth_f = rng.random((32, 32, 3)) * (1 - d / 255)
    assert psnr(truth_f + d / 255, truth_f) == pytest.approx(expected, abs=1e-3)


def test_psnr_identical_is_cap_without_warning():
    img = _random_u8()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert psnr(img, img) == PSNR_CAP_DB == 100.0


# ------------------------------------------------------------------------------------------------ SSIM


def test_ssim_identical_is_one_and_noise_lowers_it():
    img = _random_u8()
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-9)
    noisy = np.clip(img.astype(int) + np.random.default_rng(1).integers(-40, 41, img.shape), 0, 255)
    assert ssim(noisy.astype(np.uint8), img) < 0.99


# ------------------------------------------------------------------------------------------- CIEDE2000

# Sharma, Wu & Dalal (2005), Color Res. Appl. 30(1):21-30, Table 1: all 34 pairs.
# Columns: L1, a1, b1, L2, a2, b2, dE00.
SHARMA_PAIRS = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    # Hue-angle edge cases: mean hue and hue difference across the 0/360 and 180 discontinuities.
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_deltae_ciede2000_matches_sharma_table():
    data = np.array(SHARMA_PAIRS, dtype=np.float64)
    lab1, lab2, expected = data[:, 0:3], data[:, 3:6], data[:, 6]
    # Published values are rounded to 4 decimals; also check symmetry in the argument order.
    np.testing.assert_allclose(deltaE_ciede2000(lab1, lab2), expected, atol=5e-5, rtol=0)
    np.testing.assert_allclose(deltaE_ciede2000(lab2, lab1), expected, atol=5e-5, rtol=0)


def test_rgb2lab_known_srgb_values():
    # sRGB (D65) primaries / white in CIELAB, well-known reference values.
    lab = rgb2lab(np.array([[[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]]))
    np.testing.assert_allclose(lab[0, 0], [53.24, 80.09, 67.20], atol=0.02)
    # skimage's sRGB matrix leaves |a|, |b| ~ 5e-3 at white.
    np.testing.assert_allclose(lab[0, 1], [100.0, 0.0, 0.0], atol=1e-2)
    np.testing.assert_allclose(lab[0, 2], [0.0, 0.0, 0.0], atol=1e-6)


def test_ciede2000_rgb():
    img = _random_u8()
    assert ciede2000(img, img) == 0.0
    # Black vs white: only a lightness difference of 100 at mean L 50 (S_L = 1) -> dE00 = 100.
    assert ciede2000(_uniform((0, 0, 0)), _uniform((255, 255, 255))) == pytest.approx(100.0, abs=1e-2)
    # A known colour pair equals skimage's dE00 on the converted Lab values.
    c1, c2 = (200, 30, 40), (180, 60, 90)
    lab1 = rgb2lab(np.array(c1, dtype=np.float64) / 255)
    lab2 = rgb2lab(np.array(c2, dtype=np.float64) / 255)
    expected = float(deltaE_ciede2000(lab2, lab1))
    assert ciede2000(_uniform(c1), _uniform(c2)) == pytest.approx(expected, rel=1e-5)
    # Mean over pixels: half the pixels differ -> half the difference.
    half = _uniform(c2)
    half[:4] = c1
    assert ciede2000(half, _uniform(c1)) == pytest.approx(expected / 2, rel=1e-5)


# ---------------------------------------------------------------------------------------- colourfulness


def test_colorfulness_gray_is_zero():
    rng = np.random.default_rng(0)
    gray = np.repeat(rng.integers(0, 256, (32, 32, 1), dtype=np.uint8), 3, axis=2)
    assert colorfulness(gray) == pytest.approx(0.0, abs=1e-9)
    assert colorfulness(np.repeat(rng.random((32, 32, 1)), 3, axis=2)) == pytest.approx(0.0, abs=1e-9)


def test_colorfulness_known_values_signed_means():
    # Uniform pure red: rg = 255, yb = 127.5, no spread -> M = 0.3 * sqrt(255^2 + 127.5^2).
    red = _uniform((255, 0, 0))
    assert colorfulness(red) == pytest.approx(0.3 * math.hypot(255, 127.5), abs=1e-3)
    # Half red / half green: rg = +-255 (signed mean 0, std 255), yb = 127.5 everywhere
    # -> M = 255 + 0.3 * 127.5. The |rg| variant (DDColor) would give 0.3 * hypot(255, 127.5) instead.
    rg = _uniform((255, 0, 0))
    rg[:, 4:] = (0, 255, 0)
    assert colorfulness(rg) == pytest.approx(255 + 0.3 * 127.5, abs=1e-3)


def test_colorfulness_saturated_positive_and_ordered():
    img = to_float01(_random_u8(3)).astype(np.float64)
    base = colorfulness(img)
    assert base > 0
    values = [colorfulness(_desaturate(img, a)) for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert np.all(np.diff(values) < 0)
    # Blending toward luminance scales both opponent channels by (1 - a), hence M exactly too.
    np.testing.assert_allclose(values, [base * (1 - a) for a in (0.0, 0.25, 0.5, 0.75, 1.0)], atol=1e-3)


def test_delta_colorfulness_sign():
    img = to_float01(_random_u8(4)).astype(np.float64)
    washed = _desaturate(img, 0.5)
    assert delta_colorfulness(washed, img) == pytest.approx(colorfulness(washed) - colorfulness(img))
    assert delta_colorfulness(washed, img) < 0 < delta_colorfulness(img, washed)
    assert delta_colorfulness(img, img) == 0.0


# ----------------------------------------------------------------------------------- ab histograms


def test_ab_histogram_normalized_and_accumulates_counts():
    a, b = _random_u8(5, (16, 16)), _random_u8(6, (32, 16))
    ha, hb, hab = ab_histogram([a]), ab_histogram([b]), ab_histogram(iter([a, b]), bins=32)
    assert hab.shape == (32, 32)
    assert hab.sum() == pytest.approx(1.0)
    # Counts are pooled before normalizing: b has twice the pixels of a, so it weighs 2/3.
    np.testing.assert_allclose(hab, (ha * 1 + hb * 2) / 3, atol=1e-12)
    with pytest.raises(ValueError):
        ab_histogram([])


def test_ab_histogram_gray_is_centred():
    gray = np.repeat(_random_u8(7)[..., :1], 3, axis=2)
    h = ab_histogram([gray], bins=32)
    assert h[15:17, 15:17].sum() == pytest.approx(1.0)


def test_chroma_histogram_distance_basic_properties():
    p = ab_histogram([_random_u8(8)])
    q = ab_histogram([_uniform((255, 0, 0))])
    assert chroma_histogram_distance(p, p) == pytest.approx(0.0, abs=1e-7)
    assert chroma_histogram_distance(p, q) == pytest.approx(chroma_histogram_distance(q, p))
    disjoint = chroma_histogram_distance(ab_histogram([_uniform((0, 0, 255))]), q)
    assert disjoint == pytest.approx(1.0)
    assert 0.0 < chroma_histogram_distance(p, q) <= 1.0


def test_chroma_histogram_distance_penalizes_desaturation_monotonically():
    truth = to_float01(_random_u8(9, (64, 64))).astype(np.float64)
    h_truth = ab_histogram([truth])
    amounts = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]
    dists = [chroma_histogram_distance(ab_histogram([_desaturate(truth, a)]), h_truth) for a in amounts]
    assert dists[0] == pytest.approx(0.0, abs=1e-7)  # exact prediction
    assert np.all(np.diff(dists) > 0)  # strictly worse as it gets greyer
    # Also ranks a washed-out prediction worse than a slightly noisy but correctly coloured one.
    noisy = np.clip(truth + np.random.default_rng(0).normal(0, 0.02, truth.shape), 0, 1)
    assert chroma_histogram_distance(ab_histogram([noisy]), h_truth) < dists[3]


# ------------------------------------------------------------------------------------- image_metrics


def test_image_metrics_keys_and_consistency():
    truth = _random_u8(10, (32, 32))
    pred = np.clip(truth.astype(int) + np.random.default_rng(1).integers(-20, 21, truth.shape), 0, 255)
    pred = pred.astype(np.uint8)
    m = image_metrics(pred, truth)
    assert tuple(m) == METRIC_KEYS
    assert set(m) == {"psnr", "ssim", "ciede2000", "colorfulness", "colorfulness_truth", "delta_colorfulness"}
    assert all(isinstance(v, float) for v in m.values())
    assert m["psnr"] == pytest.approx(psnr(pred, truth))
    assert m["ssim"] == pytest.approx(ssim(pred, truth))
    assert m["ciede2000"] == pytest.approx(ciede2000(pred, truth))
    assert m["colorfulness"] == pytest.approx(colorfulness(pred))
    assert m["colorfulness_truth"] == pytest.approx(colorfulness(truth))
    assert m["delta_colorfulness"] == pytest.approx(delta_colorfulness(pred, truth))


def test_image_metrics_identical():
    img = _random_u8(11, (16, 16))
    m = image_metrics(img, img)
    assert m["psnr"] == PSNR_CAP_DB
    assert m["ssim"] == pytest.approx(1.0)
    assert m["ciede2000"] == 0.0
    assert m["delta_colorfulness"] == 0.0


def test_uint8_and_float_inputs_agree():
    truth_u8, pred_u8 = _random_u8(12, (24, 24)), _random_u8(13, (24, 24))
    truth_f, pred_f = truth_u8 / 255.0, pred_u8 / 255.0
    m_u8, m_f = image_metrics(pred_u8, truth_u8), image_metrics(pred_f, truth_f)
    for k in METRIC_KEYS:
        assert m_u8[k] == pytest.approx(m_f[k], rel=1e-5, abs=1e-6), k
    # Mixed encodings of the same pair also agree.
    assert psnr(pred_u8, truth_f) == pytest.approx(m_u8["psnr"], rel=1e-6)
    np.testing.assert_allclose(ab_histogram([truth_u8]), ab_histogram([truth_f]), atol=1e-12)


# ---------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_deterministic_and_ordered():
    values = np.random.default_rng(0).normal(size=400)
    r1, r2 = bootstrap_ci(values, seed=7), bootstrap_ci(values, seed=7)
    assert r1 == r2
    assert bootstrap_ci(values, seed=8) != r1
    mean, low, high = r1
    assert mean == pytest.approx(values.mean())
    assert low <= mean <= high
    # Percentile bootstrap of a mean ~ mean +- 1.96 * sd / sqrt(n).
    half = 1.96 * values.std() / math.sqrt(values.size)
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)
    # A wider confidence level gives a wider interval.
    _, low90, high90 = bootstrap_ci(values, alpha=0.10, seed=7)
    assert low <= low90 <= high90 <= high


def test_bootstrap_ci_collapses_for_constant_values():
    assert bootstrap_ci([3.0] * 10) == (3.0, 3.0, 3.0)
    assert bootstrap_ci([0.1] * 7) == pytest.approx((0.1, 0.1, 0.1), abs=1e-12)
    assert bootstrap_ci([2.5]) == (2.5, 2.5, 2.5)


def test_bootstrap_ci_rejects_bad_input():
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, float("nan")])


def test_aggregate_structure():
    per_image = [{"psnr": 20.0 + i, "ssim": 0.5} for i in range(20)]
    agg = aggregate(per_image)
    assert list(agg) == ["psnr", "ssim"]
    assert set(agg["psnr"]) == {"mean", "ci_low", "ci_high"}
    assert agg["psnr"]["mean"] == pytest.approx(29.5)
    assert agg["psnr"]["ci_low"] <= 29.5 <= agg["psnr"]["ci_high"]
    assert agg["ssim"] == {"mean": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    assert aggregate(per_image) == agg
    with pytest.raises(ValueError):
        aggregate([])
    with pytest.raises(ValueError):
        aggregate([{"psnr": 1.0}, {"ssim": 1.0}])


def test_ssim_is_the_standard_gaussian_window_form():
    """Wang et al. 2004 (and torchmetrics): 11x11 Gaussian window, sigma 1.5, population statistics."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(3)
    truth = rng.random((40, 48, 3))
    pred = np.clip(truth + rng.normal(0, 0.1, truth.shape), 0, 1)
    c1, c2 = 0.01**2, 0.03**2
    per_channel = []
    for ch in range(3):
        x, y = truth[..., ch], pred[..., ch]
        blur = lambda a: gaussian_filter(a, 1.5, truncate=3.5)  # noqa: E731
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        ssim_map = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        per_channel.append(ssim_map[5:-5, 5:-5].mean())  # skimage crops the half window at the borders
    assert ssim(pred, truth) == pytest.approx(np.mean(per_channel), abs=1e-6)
