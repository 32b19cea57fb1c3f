"""Frame sampling: a time grid by presentation time, small grayscale + RGB copies, sniffing."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.visual.conftest import encode, scene_image
from transforms.visual.frames import FrameReader, FrameSettings, VideoError, looks_like_video, sampled_frames


def test_frames_are_sampled_on_a_time_grid(two_scene_video):
    frames = list(sampled_frames(str(two_scene_video), FrameSettings(fps=2.0)))
    assert [f.time_s for f in frames] == pytest.approx([i / 2 for i in range(12)])
    assert [f.index for f in frames] == list(range(12))


def test_frames_have_a_small_gray_copy_and_an_rgb_copy_never_upscaled(two_scene_video):
    frame = next(iter(sampled_frames(str(two_scene_video), FrameSettings(fps=1.0, gray_width=48))))
    assert frame.gray.dtype == np.float32 and frame.gray.shape == (36, 48)
    assert 0.0 <= frame.gray.min() <= frame.gray.max() <= 1.0
    assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == (96, 128, 3)  # 96 < 224: kept as is


def test_variable_frame_rate_still_gives_one_frame_per_grid_step():
    pts = [0, 1, 2, 10, 11, 25, 26, 27, 40, 41]  # gaps of up to 1.4 s at time base 1/10
    data = encode(lambda i: scene_image(i), len(pts), fps=10, pts=pts, audio_s=None)
    times = [f.time_s for f in FrameReader(io.BytesIO(data), FrameSettings(fps=1.0))]
    assert times == pytest.approx([0.0, 1.0, 2.5, 4.0])  # first frame at or after each second


def test_a_stream_larger_than_the_pixel_limit_is_refused(two_scene_video):
    with pytest.raises(VideoError) as error:
        list(FrameReader(str(two_scene_video), FrameSettings(max_pixels=64 * 64)))
    assert error.value.reason == "video_too_large"


@pytest.mark.parametrize(
    ("uri", "head", "expected"),
    [
        ("clip.MP4", b"", True),
        ("gs://bucket/a/clip.webm?x=1", b"", True),
        ("speech.wav", b"RIFF\x00\x00\x00\x00WAVE", False),
        ("blob", b"\x00\x00\x00\x20ftypisom\x00\x00", True),
        ("blob", b"\x00\x00\x00\x20ftypM4A \x00\x00", False),
        ("blob", b"\x1a\x45\xdf\xa3" + b"\x00" * 12, True),
        ("blob", b"RIFF\x00\x00\x00\x00AVI LIST", True),
    ],
)
def test_videos_are_recognised_by_extension_or_container_signature(uri, head, expected):
    assert looks_like_video(uri, head) is expected
