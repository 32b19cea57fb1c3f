"""The synthetic demo videos: known cuts, all three scene kinds, narration as audio, same bytes every time."""

from __future__ import annotations

import numpy as np

from pipelines.sources.demo.video import SCENE_SECONDS, encode_video, plan_video, render_frame, video_items
from transforms.decode_stream import decode_bytes


def test_a_plan_covers_the_video_with_scenes_of_bounded_length():
    plan = plan_video("en", seed=0, index=3, narration_s=7.0)
    assert plan.scenes[0].start_s == 0.0
    ends = [s.start_s + s.duration_s for s in plan.scenes]
    assert abs(ends[-1] - plan.duration_s) < 0.02
    assert all(abs(e - s.start_s) < 0.02 for e, s in zip(ends, plan.scenes[1:], strict=False))
    assert all(s.duration_s >= SCENE_SECONDS[0] for s in plan.scenes)
    assert plan.cut_times_s == [s.start_s for s in plan.scenes[1:]]
    assert all(a.image != b.image for a, b in zip(plan.scenes, plan.scenes[1:], strict=False))


def test_static_scenes_do_not_move_and_noisy_scenes_change_only_by_noise():
    plan = plan_video("en", seed=0, index=0, narration_s=7.0)
    for scene in plan.scenes:
        first = round(scene.start_s * 12) + 1
        a, b = render_frame(plan, first).astype(float), render_frame(plan, first + 6).astype(float)
        if scene.kind == "static":
            assert np.array_equal(a, b)
        elif scene.kind == "noisy":
            assert 5 < np.abs(a - b).mean() < 40


def test_the_same_plan_encodes_to_the_same_bytes():
    plan = plan_video("en", seed=0, index=1, narration_s=3.0)
    audio = np.sin(np.arange(22_050 * 3) / 10).astype(np.float32) * 0.1
    assert encode_video(plan, audio) == encode_video(plan, audio)


def test_items_point_at_videos_whose_audio_is_the_narration(demo_videos, tmp_path):
    item = demo_videos[0]
    assert item.dataset == "demo" and item.transcript and item.extra["video_cut_times_s"]
    with open(item.uri, "rb") as f:
        decoded = decode_bytes(f.read())
    assert abs(len(decoded.audio) / decoded.sample_rate - item.duration_hint_s) < 0.1
    assert np.abs(decoded.audio).max() > 0.05  # speech, not silence
    again = next(video_items("en", seed=0, count=1, cache_dir=str(tmp_path)))
    assert again.uri != item.uri and open(again.uri, "rb").read() == open(item.uri, "rb").read()
