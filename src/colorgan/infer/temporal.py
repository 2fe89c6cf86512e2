"""Temporal consistency for video chroma: carry the previous frame's chroma along optical flow and blend it with
the network's new prediction where the flow can be trusted.

Everything here works on the small gray frames the network sees (its working size), so it costs about a
millisecond a frame. Pure functions of numpy arrays: no model, no files.

Trust, per pixel, needs both:
- forward-backward consistency: following the flow from frame t to t-1 and back again lands where it started
  (occlusions and failed matches do not);
- a small warped-gray error: the previous frame, warped, looks like this one (after matching mean brightness,
  so film flicker does not count as a mismatch).
A scene cut (the gray histogram jumps) or a frame where little of the flow can be trusted resets the state:
the prediction is taken as it is. The last few frames are kept: when the previous frame cannot be followed, or
was itself a fresh start, the frames before it are tried too, so the chroma is carried across a flash frame, a
frame or two of damage or a one-frame cut-away instead of starting the shot afresh twice.

`Stabilizer` holds each frame back for as many frames as a gap may span, so that a frame bridged over can be
mended too: one that still shows the shot (damage, a flash) or shows nothing of its own (burnt out white, black)
gets the shot's chroma, carried along the flow between the frames either side; one that shows something else (a
cut-away) keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np


@dataclass(frozen=True)
class TemporalSettings:
    carry: float = 0.95  # weight of the carried chroma where the flow is fully trusted (0 = per frame)
    max_flow_mismatch: float = 1.0  # px at working size: forward-backward mismatch beyond this is not trusted
    max_gray_error: float = 24.0  # gray levels (of 255) between this frame and the previous one, warped
    cut_distance: float = 0.5  # half-L1 distance of gray histograms (0..1) above which a new shot starts
    min_trusted: float = 0.3  # below this fraction of trusted pixels the flow has failed: start afresh
    bridge_frames: int = 2  # a gap of at most this many frames that match nothing is bridged from the frame before


@dataclass(frozen=True)
class TemporalState:
    """What the next frame needs from this one, and what happened to it (for tests and the benchmark)."""

    gray: np.ndarray  # (h, w) uint8, brightness-normalized
    ab: np.ndarray  # (h, w, 2) float32, the chroma that was output
    trusted: float = 0.0  # fraction of pixels whose chroma was carried (0 when it started afresh)
    index: int = 0  # the frame's place since the state last started from nothing
    source: int | None = None  # the index of the frame whose chroma it carried; None: it started afresh
    earlier: tuple[TemporalState, ...] = ()  # the frames before this one, newest first, that a later one may follow

    @property
    def reset(self) -> bool:
        """This frame started afresh (the first frame, a cut, or failed flow)."""
        return self.source is None

    @property
    def bridged(self) -> bool:
        """Its chroma was carried from a frame before the previous one, across a gap."""
        return self.source is not None and self.source < self.index - 1


def normalize_gray(gray: np.ndarray) -> np.ndarray:
    """(h, w) uint8 -> the same picture at mean 128 and standard deviation 48, so that global brightness and
    contrast flicker changes neither the flow nor the histogram."""
    g = gray.astype(np.float32)
    return np.clip((g - g.mean()) * (48.0 / max(float(g.std()), 1.0)) + 128.0, 0, 255).astype(np.uint8)


def estimate_flow(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(h, w, 2) float32 flow such that frame[y, x] ~ reference[(y, x) + flow[y, x]] (flow[..., 0] is x).

    DIS (Kroeger et al. 2016), medium preset: about a millisecond at 128 px, and within a tenth of a pixel on a
    plain pan where the ultrafast preset is off by a quarter.
    """
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(np.ascontiguousarray(frame), np.ascontiguousarray(reference), None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image sampled at (y, x) + flow[y, x], bilinearly; samples beyond the edge repeat the edge."""
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def flow_trust(
    frame: np.ndarray, previous: np.ndarray, backward: np.ndarray, forward: np.ndarray, settings: TemporalSettings
) -> np.ndarray:
    """(h, w) float32 in [0, 1]: how far the chroma carried along `backward` (frame -> previous) can be trusted.

    `forward` is the flow previous -> frame. Each test is a soft ramp: full trust up to half its threshold, none
    beyond it, so the blend has no hard seams.
    """
    h, w = backward.shape[:2]
    mismatch = np.linalg.norm(backward + warp(forward, backward), axis=2)
    warped = warp(previous.astype(np.float32), backward)
    error = frame.astype(np.float32) - warped
    gray_error = np.abs(error - error.mean())
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    src_x, src_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    # Not newly in view (half a pixel of slack: a still edge pixel's flow is rarely exactly 0).
    inside = (src_x >= -0.5) & (src_x <= w - 0.5) & (src_y >= -0.5) & (src_y <= h - 0.5)
    trust = _ramp(mismatch, settings.max_flow_mismatch) * _ramp(gray_error, settings.max_gray_error) * inside
    # A pixel is trusted only as far as its neighbours are: a lone match inside an occlusion is luck.
    return cv2.erode(trust, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)


def _ramp(error: np.ndarray, limit: float) -> np.ndarray:
    return np.clip(2.0 - 2.0 * error / limit, 0.0, 1.0).astype(np.float32)


def histogram_distance(a: np.ndarray, b: np.ndarray, bins: int = 32) -> float:
    """Half the L1 distance of two uint8 images' gray histograms: 0 same distribution, 1 disjoint."""
    ha = np.bincount(a.ravel() >> (8 - int(np.log2(bins))), minlength=bins) / a.size
    hb = np.bincount(b.ravel() >> (8 - int(np.log2(bins))), minlength=bins) / b.size
    return float(np.abs(ha - hb).sum() / 2)


def stabilize(
    state: TemporalState | None,
    gray: np.ndarray,
    predicted_ab: np.ndarray,
    settings: TemporalSettings = TemporalSettings(),
) -> tuple[np.ndarray, TemporalState]:
    """One frame: working-size gray (h, w) uint8 and the network's chroma (h, w, 2) -> the chroma to output,
    and the state for the next frame. `state` None (the first frame) starts afresh."""
    normalized = normalize_gray(gray)
    predicted_ab = predicted_ab.astype(np.float32)
    if state is None or settings.carry <= 0:
        return predicted_ab, TemporalState(normalized, predicted_ab, index=0 if state is None else state.index + 1)
    index = state.index + 1
    # The previous frame and up to bridge_frames before it; kept without their own history, so nothing chains.
    earlier = (replace(state, earlier=()), *state.earlier)[: settings.bridge_frames + 1]
    # A previous frame that started afresh may be the flash or the damage itself: the frames before it compete.
    best = best_carry(earlier if state.reset else earlier[:1], normalized, predicted_ab, settings)
    if best is None and not state.reset:
        best = best_carry(earlier[1:], normalized, predicted_ab, settings)
    if best is None:
        return predicted_ab, TemporalState(normalized, predicted_ab, index=index, earlier=earlier)
    ab, trusted, source = best
    return ab, TemporalState(normalized, ab, trusted, index=index, source=source.index, earlier=earlier)


def best_carry(
    candidates: tuple[TemporalState, ...], normalized: np.ndarray, predicted_ab: np.ndarray, settings: TemporalSettings
) -> tuple[np.ndarray, float, TemporalState] | None:
    """The carry from whichever candidate frame this one follows best: (chroma, fraction trusted, that frame)."""
    best = None
    for candidate in candidates:
        ab, trusted = carry_from(candidate, normalized, predicted_ab, settings)
        if ab is not None and (best is None or trusted > best[1]):
            best = ab, trusted, candidate
    return best


def carry_from(
    state: TemporalState, normalized: np.ndarray, predicted_ab: np.ndarray, settings: TemporalSettings
) -> tuple[np.ndarray | None, float]:
    """`state`'s chroma carried onto this (normalized) frame and blended with the prediction where trusted, and the
    fraction trusted; None for the chroma where the frame is a new shot or the flow failed."""
    if state.gray.shape != normalized.shape or histogram_distance(state.gray, normalized) > settings.cut_distance:
        return None, 0.0
    backward = estimate_flow(normalized, state.gray)
    forward = estimate_flow(state.gray, normalized)
    trust = flow_trust(normalized, state.gray, backward, forward, settings)
    trusted = float(trust.mean())
    if trusted < settings.min_trusted:
        return None, trusted
    weight = (settings.carry * trust)[..., None]
    return weight * warp(state.ab, backward) + (1.0 - weight) * predicted_ab, trusted


@dataclass
class _Held:
    index: int  # its TemporalState's
    gray: np.ndarray  # as given: the test of whether it shows the shot needs its clipping
    ab: np.ndarray
    item: object


@dataclass
class Stabilizer:
    """`stabilize` over a stream: frames go in in order, and come out in order, (item, chroma), at most
    `settings.bridge_frames` frames later, with the frames that a later one bridged over mended (module docstring).
    `flush` at the end, or before anything that breaks the flow (a change of size), returns the rest."""

    settings: TemporalSettings = TemporalSettings()
    state: TemporalState | None = None
    held: list[_Held] = field(default_factory=list)

    def push(self, gray: np.ndarray, predicted_ab: np.ndarray, item: object = None) -> list[tuple[object, np.ndarray]]:
        ab, self.state = stabilize(self.state, gray, predicted_ab, self.settings)
        if self.state.bridged:
            self._mend_gap(gray)
        self.held.append(_Held(self.state.index, gray, ab, item))
        delay = self.settings.bridge_frames if self.settings.carry > 0 else 0
        cut = max(0, len(self.held) - delay)
        released, self.held = self.held[:cut], self.held[cut:]
        return [(h.item, h.ab) for h in released]

    def flush(self) -> list[tuple[object, np.ndarray]]:
        """Every frame still held, and a fresh start for the next one."""
        released, self.held, self.state = self.held, [], None
        return [(h.item, h.ab) for h in released]

    def _mend_gap(self, gray: np.ndarray) -> None:
        """The held frames between the newest frame (`gray`, bridged) and its source that show the shot take the
        chroma carried to them."""
        after = self.state
        source = next(s for s in after.earlier if s.index == after.source)
        # after -> source again (carry_from had it for a moment): bridged frames are rare, and this costs a millisecond.
        flow = estimate_flow(after.gray, source.gray)
        span = after.index - source.index
        for held in self.held:
            if not source.index < held.index < after.index:
                continue
            # Where the frame between sits, by linear motion: back from `after` towards the source.
            toward = -(after.index - held.index) / span * flow
            if shows_the_same_scene(held.gray, warp(gray, toward)):
                carried = warp(after.ab, toward)
                held.ab = self.settings.carry * carried + (1.0 - self.settings.carry) * held.ab


def shows_the_same_scene(frame: np.ndarray, expected: np.ndarray, min_shown: float = 0.1) -> bool:
    """Whether `frame` (uint8 gray) is what `expected` shows, whatever its brightness: the pixels it does not clip
    follow `expected` (correlation at least 0.5), or it clips nearly all of them (a burnt-out flash, black)."""
    shown = (frame > 4) & (frame < 251)
    if shown.mean() < min_shown:
        return True
    a, b = frame[shown].astype(np.float64), expected[shown].astype(np.float64)
    if a.std() < 1.0 or b.std() < 1.0:
        return a.std() < 1.0  # a flat frame shows nothing of its own
    return float(np.corrcoef(a, b)[0, 1]) >= 0.5
