"""Scene starts by SSIM (paper Eq. 4, with the threshold read as 'a scene starts below θ')."""

from __future__ import annotations

import numpy as np
import pytest

from tests.visual.conftest import scene_image
from transforms.visual.frames import FrameSettings, sampled_frames
from transforms.visual.scenes import SceneDetector, detect_scene_starts, frame_similarity, key_frames


def gray(seed: int, noise: float = 0.0, noise_seed: int = 0) -> np.ndarray:
    image = scene_image(seed, size=(36, 48)).mean(axis=2) / 255.0
    if noise:
        image = image + np.random.default_rng(noise_seed).normal(0, noise, image.shape)
    return image.clip(0, 1).astype(np.float32)


def test_identical_frames_score_one_and_different_scenes_score_low():
    assert frame_similarity(gray(1), gray(1)) == pytest.approx(1.0)
    assert frame_similarity(gray(1), gray(2)) < 0.3


def test_two_smooth_low_contrast_pictures_look_alike_to_ssim():
    """A known limit: moon and clock (both smooth, dim) score above θ at 48 px: one scene."""
    assert frame_similarity(gray(3), gray(7)) > 0.3


def test_a_scene_starts_where_ssim_drops_below_the_threshold_not_above():
    frames = [(float(t), gray(1 if t < 3 else 2)) for t in range(6)]
    starts = detect_scene_starts(frames, threshold=0.3, min_scene_s=0)
    assert [s.time_s for s in starts] == [0.0, 3.0]
    assert starts[0].ssim is None  # the first frame starts the first scene
    assert starts[1].ssim < 0.3


def test_a_higher_threshold_finds_more_scenes():
    frames = [(float(t), gray(1, noise=0.08, noise_seed=t)) for t in range(5)]  # one noisy scene
    assert len(detect_scene_starts(frames, threshold=0.3, min_scene_s=0)) == 1
    assert len(detect_scene_starts(frames, threshold=0.99, min_scene_s=0)) == 5


def test_minimum_scene_length_keeps_a_flash_from_making_two_scenes():
    sequence = [1, 1, 1, 2, 1, 1, 1]  # a one-frame flash of another picture at t = 3
    frames = [(float(t), gray(seed)) for t, seed in enumerate(sequence)]
    assert [s.time_s for s in detect_scene_starts(frames, 0.3, min_scene_s=0)] == [0.0, 3.0, 4.0]
    assert [s.time_s for s in detect_scene_starts(frames, 0.3, min_scene_s=2.0)] == [0.0, 3.0]


def test_a_resolution_change_is_a_new_scene():
    assert frame_similarity(gray(1), gray(1)[:, :40]) == -1.0


def test_threshold_outside_ssim_range_is_refused():
    with pytest.raises(ValueError, match="threshold"):
        SceneDetector(threshold=1.5)


def test_only_max_scenes_key_frames_are_kept_but_all_scenes_are_counted():
    class Frame:
        def __init__(self, i: int) -> None:
            self.index, self.time_s, self.gray, self.rgb = i, float(i), gray(i), np.zeros((2, 2, 3), np.uint8)

    detector = SceneDetector(0.3, min_scene_s=0)
    kept = list(key_frames((Frame(i) for i in range(6)), detector, max_scenes=3))  # 6 different pictures
    assert [k.start.frame_index for k in kept] == [0, 1, 2]
    assert detector.scene_count == 6


def test_every_true_cut_is_found_within_one_sampled_frame_and_none_inside_a_scene(demo_videos):
    """Demo videos hold panning, static and noisy-but-unchanged scenes with known cuts."""
    fps = 1.0
    kinds_seen = set()
    for item in demo_videos:
        cuts = item.extra["video_cut_times_s"]
        kinds_seen.update(s["kind"] for s in item.extra["video_scenes"])
        frames = ((f.time_s, f.gray) for f in sampled_frames(item.uri, FrameSettings(fps=fps, gray_width=48)))
        found = [s.time_s for s in detect_scene_starts(frames)][1:]
        assert len(found) == len(cuts), f"{item.key}: cuts {cuts}, found {found}"
        for cut, time_s in zip(cuts, found, strict=True):
            assert abs(time_s - cut) <= 1.0 / fps + 1e-6, f"{item.key}: cut at {cut} found at {time_s}"
    assert kinds_seen == {"pan", "static", "noisy"}
