"""Scene changes by SSIM between consecutive sampled frames (paper Appendix B, Eq. 4).

Eq. 4 reads C^v = { I2T(V_i) | SSIM(V_i, V_{i+1}) > θ }. Taken literally that captions the
frames that did *not* change (similarity above the threshold), which contradicts the text
around it ("frames that exhibit a significant change in scene content"). We implement the
intent: a sampled frame **starts a new scene** when its SSIM with the previous sampled frame
drops **below** θ (SSIM < θ), and the scene-start frames — plus the very first frame, which
starts the first scene — are the ones captioned. SSIM is 1 for identical frames and falls
towards 0 (or below) as structure changes, so a *higher* θ finds *more* scenes.

A minimum scene length (``min_scene_s``) keeps flicker, flashes and fast motion from producing
a caption per frame: a drop below θ less than ``min_scene_s`` after the current scene started
is not a new scene. SSIM is computed on small grayscale copies (``frames.FrameSettings.
gray_width``, 48 px by default) with Gaussian weights (σ = 1.5, as in Wang et al. 2004): small
copies average away sensor noise and compression grain, and make slow camera motion look
like what it is — the same scene. The default θ = 0.3 was set on the synthetic demo videos
(``pipelines/sources/demo/video.py``): on 24 of them (en, fr) at 48 px, consecutive frames
across a cut scored at most 0.21 and within a panning, static or noisy scene at least 0.40.
Known limit: two smooth, dim pictures (scikit-image's moon and clock) score ~0.5 and merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.3
DEFAULT_MIN_SCENE_S = 2.0


def frame_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two grayscale float frames in [0, 1] (1 = identical); frames of different shapes
    (a resolution change mid-stream) are as different as frames can be."""
    if a.shape != b.shape:
        return -1.0
    win = min(7, *(s - (1 - s % 2) for s in a.shape))  # odd, no larger than the frame
    if win < 3:
        return 1.0 if np.allclose(a, b, atol=1e-3) else -1.0
    from skimage.metrics import structural_similarity  # scipy under it: only video items pay its import

    return float(
        structural_similarity(
            a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, win_size=win
        )
    )


@dataclass(frozen=True)
class SceneStart:
    """A sampled frame that starts a scene."""

    frame_index: int
    time_s: float
    ssim: float | None
    """SSIM with the previous sampled frame (None for the first frame of the video)."""


class SceneDetector:
    """Online scene-start detection over sampled grayscale frames (holds one frame)."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, min_scene_s: float = DEFAULT_MIN_SCENE_S) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"SSIM threshold must lie in [-1, 1], got {threshold}")
        if min_scene_s < 0:
            raise ValueError(f"min scene length must be >= 0, got {min_scene_s}")
        self.threshold = threshold
        self.min_scene_s = min_scene_s
        self._previous: np.ndarray | None = None
        self._scene_start_s = 0.0
        self.similarities: list[float] = []
        self.scene_count = 0

    def push(self, frame_index: int, time_s: float, gray: np.ndarray) -> SceneStart | None:
        """Feed the next sampled frame; returns a :class:`SceneStart` when it starts a scene."""
        previous, self._previous = self._previous, gray
        if previous is None:
            self._scene_start_s = time_s
            self.scene_count += 1
            return SceneStart(frame_index, time_s, None)
        similarity = frame_similarity(previous, gray)
        self.similarities.append(similarity)
        if similarity < self.threshold and time_s - self._scene_start_s >= self.min_scene_s - 1e-6:
            self._scene_start_s = time_s
            self.scene_count += 1
            return SceneStart(frame_index, time_s, round(similarity, 4))
        return None


def detect_scene_starts(
    frames: Iterable[tuple[float, np.ndarray]],
    threshold: float = DEFAULT_THRESHOLD,
    min_scene_s: float = DEFAULT_MIN_SCENE_S,
) -> list[SceneStart]:
    """Scene starts of a sequence of ``(time_s, gray frame)``; the first frame always starts one."""
    detector = SceneDetector(threshold, min_scene_s)
    starts = [detector.push(i, t, gray) for i, (t, gray) in enumerate(frames)]
    return [s for s in starts if s is not None]


@dataclass(frozen=True)
class KeyFrame:
    """A scene start with the RGB frame to caption."""

    start: SceneStart
    rgb: np.ndarray


def key_frames(frames: Iterable, detector: SceneDetector, max_scenes: int) -> Iterator[KeyFrame]:
    """The scene-start frames of a stream of :class:`frames.SampledFrame`: the first ``max_scenes``
    of them, while the whole stream is still read (``detector.scene_count`` counts them all).

    Only scene starts keep their RGB copy: memory is bounded by ``max_scenes`` frames.
    """
    kept = 0
    for frame in frames:
        start = detector.push(frame.index, frame.time_s, frame.gray)
        if start is not None and kept < max_scenes:
            kept += 1
            yield KeyFrame(start, frame.rgb)
