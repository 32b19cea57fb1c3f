"""Visual-stage fixtures: demo videos, hand-made videos (good and bad) and a tiny saved CoCa."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

TINY_COCA = {
    "embed_dim": 64,
    "vision_cfg": {
        "image_size": 64,
        "layers": 1,
        "width": 64,
        "head_width": 32,
        "patch_size": 16,
        "attentional_pool": True,
        "attn_pooler_heads": 4,
        "output_tokens": True,
    },
    "text_cfg": {
        "context_length": 76,
        "vocab_size": 49408,
        "width": 64,
        "heads": 2,
        "layers": 1,
        "embed_cls": True,
        "output_tokens": True,
    },
    "multimodal_cfg": {
        "context_length": 76,
        "vocab_size": 49408,
        "width": 64,
        "heads": 2,
        "layers": 1,
        "attn_pooler_heads": 4,
    },
    "custom_text": True,
}
"""A CoCa small enough to build, save, load and generate in about a second on one core."""


def encode(
    frame_at: Callable[[int], np.ndarray],
    n_frames: int,
    fps: int = 10,
    fmt: str = "mp4",
    audio_s: float | None = 1.0,
    pts: list[int] | None = None,
) -> bytes:
    """A video in memory: ``frame_at(i)`` (RGB uint8) for each frame, optional silent AAC track."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as out:
        first = frame_at(0)
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.height, video.width = first.shape[:2]
        video.pix_fmt = "yuv420p"
        sound = out.add_stream("aac", rate=22_050, layout="mono") if audio_s else None
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(frame_at(i), format="rgb24")
            frame.pts, frame.time_base = (pts[i] if pts else i), Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            for start in range(0, int(audio_s * 22_050), 1024):
                chunk = np.full((1, 1024), 0.01, dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 22_050, start
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    return buffer.getvalue()


SAMPLE_IMAGES = ("astronaut", "camera", "coins", "moon", "coffee", "chelsea", "rocket", "clock")


def scene_image(seed: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """A picture (RGB uint8, ``size`` = (height, width)) from scikit-image's bundled samples:
    different seeds below 8, different scenes."""
    import skimage.data
    from PIL import Image

    pixels = np.asarray(getattr(skimage.data, SAMPLE_IMAGES[seed % len(SAMPLE_IMAGES)])())
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    return np.asarray(Image.fromarray(pixels[..., :3]).resize((size[1], size[0]), Image.Resampling.BILINEAR))


@pytest.fixture(scope="session")
def tiny_coca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny CoCa architecture (config JSON) and its weights, saved to disk **marked as trained**:
    random in truth, they stand in for a real release so the caption path can be tested."""
    import open_clip
    import torch

    from transforms.visual.coca import save_checkpoint
    from transforms.weights import WeightsProvenance

    folder = tmp_path_factory.mktemp("coca")
    config = folder / "coca_tiny_test.json"
    config.write_text(json.dumps(TINY_COCA))
    open_clip.add_model_config(str(config))
    torch.manual_seed(0)
    model = open_clip.create_model("coca_tiny_test")
    # open_clip leaves the decoder's output projection uninitialised (zeros here): every logit is
    # then 0 and "greedy" decoding samples uniformly. Random values make decoding deterministic.
    projection = model.text_decoder.text_projection
    with torch.no_grad():
        torch.nn.init.normal_(projection, std=projection.shape[0] ** -0.5)
    checkpoint = folder / "coca_tiny_test.pt"
    save_checkpoint(model, str(checkpoint), WeightsProvenance(True, "test:stands-in-for-trained"))
    return {"coca_model": str(config), "coca_pretrained": str(checkpoint), "coca_decoding": "greedy"}


@pytest.fixture(scope="session")
def tiny_coca_random(tiny_coca: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The same tiny CoCa saved the way ``make shards`` makes its offline stand-in
    (``python -m transforms.visual.coca``): random weights, marked random."""
    from transforms.visual.coca import random_checkpoint

    checkpoint = tmp_path_factory.mktemp("coca_random") / "random-coca_tiny_test.pt"
    return {**tiny_coca, "coca_pretrained": random_checkpoint(tiny_coca["coca_model"], str(checkpoint))}


@pytest.fixture(scope="session")
def demo_videos(tmp_path_factory: pytest.TempPathFactory) -> list:
    """Four synthetic demo videos (English narration), rendered once per test session."""
    from pipelines.sources.demo.video import video_items

    return list(video_items("en", seed=0, count=4, cache_dir=str(tmp_path_factory.mktemp("demo_video"))))


@pytest.fixture(scope="session")
def two_scene_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s at 10 fps: scene A for 3 s, scene B for 3 s (cut at 3.0 s), with an audio track."""
    a, b = scene_image(1), scene_image(2)
    path = tmp_path_factory.mktemp("videos") / "two_scenes.mp4"
    path.write_bytes(encode(lambda i: a if i < 30 else b, 60, audio_s=6.0))
    return path


@pytest.fixture(scope="session")
def bad_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Videos that can't give frames, named by the reason they should fail with."""
    d = tmp_path_factory.mktemp("bad")
    picture = scene_image(3)
    files = {
        "not_a_video": d / "corrupt.mp4",
        "no_video_stream": d / "audio_only.mp4",
        "no_video_frames": d / "zero_frames.mkv",
        "truncated_mp4": d / "truncated.mp4",
        "missing_file": d / "missing.mp4",
    }
    files["not_a_video"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as out:
        sound = out.add_stream("aac", rate=22_050, layout="mono")
        for start in range(0, 22_050, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 22_050, start
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    files["no_video_stream"].write_bytes(buffer.getvalue())
    files["no_video_frames"].write_bytes(encode(lambda i: picture, 0, fmt="matroska"))
    full = encode(lambda i: picture, 30)
    files["truncated_mp4"].write_bytes(full[: len(full) // 3])  # moov atom at the end: cut off
    return files
