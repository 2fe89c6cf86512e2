import numpy as np
import pytest

from colorgan.evaluation.video_metrics import channel_histograms, color_distribution_consistency, js_divergence


def _frames(count, rng, flicker=0.0):
    base = rng.integers(40, 200, (24, 32, 3)).astype(np.float32)
    out = []
    for _ in range(count):
        tint = np.array([1 + rng.uniform(-flicker, flicker), 1, 1 - rng.uniform(-flicker, flicker)], np.float32)
        out.append(np.clip(base * tint, 0, 255).astype(np.uint8))
    return out


def test_identical_frames_score_zero_and_a_moving_still_picture_too():
    rng = np.random.default_rng(0)
    still = _frames(8, rng)
    assert color_distribution_consistency(still) == 0.0
    rolled = [np.roll(still[0], t, axis=1) for t in range(8)]  # the same colors moved: no distribution change
    assert color_distribution_consistency(rolled) == pytest.approx(0.0, abs=1e-12)


def test_flicker_raises_it_and_more_flicker_raises_it_more():
    rng = np.random.default_rng(1)
    small, large = (color_distribution_consistency(_frames(10, rng, f)) for f in (0.05, 0.3))
    assert 0 < small < large <= np.log(2)


def test_pairs_across_a_cut_are_left_out():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((8, 8, 3), np.uint8)
    blue[..., 2] = 200
    frames = [red] * 5 + [blue] * 5
    assert color_distribution_consistency(frames) > 0.1
    starts = [t == 0 or t == 5 for t in range(10)]
    assert color_distribution_consistency(frames, starts) == 0.0


def test_js_divergence_is_symmetric_and_bounded_by_ln2():
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert js_divergence(p, q) == pytest.approx(np.log(2))
    a, b = np.array([0.2, 0.3, 0.5]), np.array([0.5, 0.4, 0.1])
    assert js_divergence(a, b) == pytest.approx(js_divergence(b, a))


def test_bad_frames_are_refused_by_shape():
    with pytest.raises(ValueError, match="uint8"):
        channel_histograms(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="two frames"):
        color_distribution_consistency([np.zeros((4, 4, 3), np.uint8)])
