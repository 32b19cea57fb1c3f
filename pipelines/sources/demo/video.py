"""Synthetic demo videos: scenes with a known cut schedule and TTS narration (issue [visual]).

Each video is a short MP4 (MPEG-4 Part 2 video + AAC): a narration of two demo sentences synthesised by
espeak-ng is its audio track, and its picture is a sequence of scenes made from scikit-image's
bundled sample images (``skimage.data``, no download). Scenes come in three kinds, so scene
detection has something to get wrong:

- ``pan``: the camera drifts slowly across the image, with light sensor noise;
- ``static``: a still image;
- ``noisy``: a still image under heavy per-frame noise (nothing changes but the noise).

The cut times are known (:attr:`VideoPlan.cut_times_s`) and are kept in the item's ``extra`` as
ground truth. Videos are rendered once into a cache folder (any FileSystems path) and are
byte-identical for the same language, seed and index: every random draw is seeded, the muxer
runs in bit-exact mode, and the video codec is FFmpeg's own MPEG-4 encoder (libx264 gave bytes
that changed from one encode to the next within a process).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import cache

import numpy as np

from pipelines.sources.demo.texts import sentences_for
from schemas import SourceItem, make_key
from schemas.vocab import normalize_language
from transforms import storage
from transforms.tts import STYLES, VARIANTS, synthesize

GENERATOR_VERSION = "4"
SCENE_IMAGES: tuple[str, ...] = (
    "astronaut", "coffee", "chelsea", "rocket", "camera", "coins",
    "hubble_deep_field", "immunohistochemistry", "colorwheel", "horse",
)  # fmt: skip
SCENE_KINDS: tuple[str, ...] = ("pan", "static", "noisy")
WIDTH, HEIGHT, VIDEO_FPS = 320, 240, 12
AUDIO_RATE = 22_050
MIN_DURATION_S = 12.0
SCENE_SECONDS = (2.6, 4.4)
DEFAULT_CACHE = os.path.join("data", "cache", "demo_video")
LICENSE = "synthetic: scikit-image sample images (BSD/CC0/public domain), espeak-ng voices (GPL-3.0)"


@dataclass(frozen=True)
class Scene:
    image: str
    kind: str
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class VideoPlan:
    """Everything a demo video is made of; the same plan renders the same bytes."""

    key: str
    language: str
    text: str
    variant: str
    style: str
    duration_s: float
    scenes: tuple[Scene, ...]

    @property
    def cut_times_s(self) -> list[float]:
        """Where a new scene starts (the first scene's start, 0, is not a cut)."""
        return [s.start_s for s in self.scenes[1:]]

    @property
    def digest(self) -> str:
        payload = json.dumps([GENERATOR_VERSION, asdict(self)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def plan_scenes(duration_s: float, rng: random.Random) -> tuple[Scene, ...]:
    """Scenes covering ``duration_s``; consecutive scenes never share an image, kinds rotate."""
    images = list(SCENE_IMAGES)
    rng.shuffle(images)
    kinds = list(SCENE_KINDS)
    rng.shuffle(kinds)
    scenes: list[Scene] = []
    start = 0.0
    while start < duration_s - 1e-6:
        length = round(rng.uniform(*SCENE_SECONDS), 2)
        if duration_s - (start + length) < SCENE_SECONDS[0]:  # no stub scene at the end
            length = round(duration_s - start, 2)
        i = len(scenes)
        scenes.append(Scene(images[i % len(images)], kinds[i % len(kinds)], round(start, 2), length))
        start = round(start + length, 2)
    return tuple(scenes)


def plan_video(language: str, seed: int, index: int, narration_s: float | None = None) -> VideoPlan:
    """The plan of demo video ``index``; ``narration_s`` (the speech's length) sets its duration."""
    rng = random.Random(f"demo-video:{language}:{seed}:{index}")
    variant, style = rng.choice(sorted(VARIANTS)), rng.choice(sorted(STYLES))
    text = " ".join(rng.sample(sentences_for(language, seed=seed), 2))
    duration = max(MIN_DURATION_S, round((narration_s or len(text) / 14.0) + 0.5, 2))
    key = make_key("demovideo", language, f"{seed}", f"{index:05d}")
    return VideoPlan(key, language, text, variant, style, duration, plan_scenes(duration, rng))


@cache
def _canvas(image: str) -> np.ndarray:
    """The sample image as RGB uint8, resized to cover a 1.25x frame (room for panning)."""
    import skimage.data
    from PIL import Image

    pixels = np.asarray(getattr(skimage.data, image)())
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * 255
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    pixels = np.ascontiguousarray(pixels[..., :3].astype(np.uint8))
    w, h = int(WIDTH * 1.25), int(HEIGHT * 1.25)
    return np.asarray(Image.fromarray(pixels).resize((w, h), Image.Resampling.BILINEAR))


def render_frame(plan: VideoPlan, frame_index: int) -> np.ndarray:
    """Frame ``frame_index`` of the video (RGB uint8, HEIGHT x WIDTH)."""
    t = frame_index / VIDEO_FPS
    scene = next((s for s in reversed(plan.scenes) if s.start_s <= t + 1e-9), plan.scenes[0])
    canvas = _canvas(scene.image)
    room_x, room_y = canvas.shape[1] - WIDTH, canvas.shape[0] - HEIGHT
    progress = min(1.0, (t - scene.start_s) / scene.duration_s) if scene.kind == "pan" else 0.5
    x = int(round(room_x * (0.35 + 0.25 * progress)))
    y = int(round(room_y * (0.45 + 0.1 * progress)))
    frame = canvas[y : y + HEIGHT, x : x + WIDTH].astype(np.float32)
    sigma = {"pan": 4.0, "static": 0.0, "noisy": 18.0}[scene.kind]
    if sigma:
        noise_rng = np.random.default_rng([int(plan.digest[:8], 16), frame_index])
        frame += noise_rng.normal(0.0, sigma, frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range planar YUV 4:2:0 (H * 3/2 x W), computed here: left to swscale, the
    conversion made the encoded bytes differ from run to run."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    h, w = y.shape

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).reshape(h // 4, w)

    planes = np.concatenate([y, half(cb), half(cr)], axis=0)
    return np.clip(np.rint(planes), 0, 255).astype(np.uint8)


def encode_video(plan: VideoPlan, audio: np.ndarray, audio_rate: int = AUDIO_RATE) -> bytes:
    """MP4 bytes: MPEG-4 picture of the plan, AAC mono audio track (padded/cut to the duration)."""
    import av

    n_audio = int(round(plan.duration_s * audio_rate))
    track = np.zeros(n_audio, dtype=np.float32)
    track[: min(n_audio, len(audio))] = audio[:n_audio]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4", container_options={"fflags": "+bitexact"}) as out:
        video = out.add_stream("mpeg4", rate=VIDEO_FPS, options={"qscale": "5"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.codec_context.thread_count = 1
        video.codec_context.flags |= av.codec.context.Flags.bitexact
        sound = out.add_stream("aac", rate=audio_rate, layout="mono")
        sound.codec_context.flags |= av.codec.context.Flags.bitexact
        audio_start = 0
        for i in range(int(round(plan.duration_s * VIDEO_FPS))):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(render_frame(plan, i)), format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, VIDEO_FPS)
            out.mux(video.encode(frame))
            while audio_start < min(n_audio, (i + 1) * audio_rate / VIDEO_FPS):  # interleave by time
                out.mux(sound.encode(_audio_frame(track, audio_start, audio_rate)))
                audio_start += 1024
        out.mux(video.encode(None))
        while audio_start < n_audio:
            out.mux(sound.encode(_audio_frame(track, audio_start, audio_rate)))
            audio_start += 1024
        out.mux(sound.encode(None))
    return buffer.getvalue()


def _audio_frame(track: np.ndarray, start: int, rate: int):  # av.AudioFrame
    import av

    chunk = np.ascontiguousarray(track[start : start + 1024][np.newaxis, :])
    frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
    return frame


def render_video(plan_args: tuple[str, int, int], cache_dir: str = DEFAULT_CACHE) -> tuple[VideoPlan, str]:
    """Synthesise the narration, plan, encode and store video (language, seed, index) once.

    Returns the plan and the video's path (any FileSystems path: local, gs://, s3://).
    """
    language, seed, index = plan_args
    draft = plan_video(language, seed, index)
    speech = synthesize(draft.text, language, draft.variant, draft.style)
    plan = plan_video(language, seed, index, narration_s=speech.duration_s)
    path = storage.join(cache_dir, f"{plan.key}-{plan.digest}.mp4")
    if not storage.exists(path):
        storage.write_atomic(path, encode_video(plan, speech.audio, speech.sample_rate))
    return plan, path


def video_items(language: str, seed: int = 0, count: int = 1, cache_dir: str = DEFAULT_CACHE) -> Iterator[SourceItem]:
    """``count`` demo video items of a language (rendered into ``cache_dir`` on first use)."""
    for index in range(count):
        plan, path = render_video((language, seed, index), cache_dir)
        yield SourceItem(
            key=plan.key,
            uri=path,
            dataset="demo",
            source_id=f"{language}/{seed}/video-{index:05d}",
            language=normalize_language(language),
            transcript=plan.text,
            speaker_id=f"espeak-{language}-{plan.variant}",
            gender=VARIANTS[plan.variant],
            emotion=plan.style,
            labels=("speech",),
            license=LICENSE,
            duration_hint_s=plan.duration_s,
            extra={
                "tts_voice": f"{language}+{plan.variant}",
                "tts_style": plan.style,
                "video_cut_times_s": plan.cut_times_s,
                "video_scenes": [asdict(s) for s in plan.scenes],
            },
        )
