"""Stream sampled frames out of a video with PyAV: the frame set V^F of paper Appendix B.

Frames are decoded one at a time (FFmpeg's own threads decode) and sampled on a time grid of
``fps`` frames per second by presentation time, so variable, extreme or missing frame rates all
give the same grid. Only the sampled frames are converted to numpy: a small grayscale copy for
SSIM (``gray_width`` wide) and an RGB copy with its shorter side at ``rgb_short_side`` for the
captioner (CoCa resizes to 224 anyway). Nothing holds more than the frame at hand. The audio
track is not touched here: it goes through the normal audio path (``transforms/decode.py``).

A video's bytes are outside bytes: the pipeline decodes them in the decode child
(:class:`transforms.decode_worker.DecodeWorker`, memory limit and a real kill on timeout) through
:func:`scan_video`, which runs :data:`FRAMES_JOB` there (frames -> SSIM scene starts) and gets
back the scene-start frames. What a stream may cost is capped
(:class:`FrameSettings`): its frame size and pixels (``video_too_large``, from the header and from
every decoded frame), its frame count and frames per second of video (``too_many_frames``: frames
that take no time cost decoding all the same), and its duration (decoding stops there).

Every way a video can be unusable raises :class:`VideoError` with a short ``reason``; a stream
that breaks after some frames were read ends the iteration and is reported by
:attr:`FrameReader.truncated` instead (the frames before the damage are still good).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

import numpy as np

from schemas.media import is_video_path
from transforms.audio import AudioError
from transforms.decode_stream import _reader as byte_reader
from transforms.decode_worker import ChildJob, DecodeWorker
from transforms.visual.scenes import (
    DEFAULT_MIN_SCENE_S,
    DEFAULT_THRESHOLD,
    KeyFrame,
    SceneDetector,
    SceneStart,
    key_frames,
)

DECODE_THREADS = 4
"""FFmpeg threads per video: the same frames as any other count, a bounded share of the memory limit."""


class VideoError(Exception):
    """A video whose frames cannot be used; ``reason`` names the failure kind."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class FrameSettings:
    """How frames are sampled and what is kept of each."""

    fps: float = 1.0
    gray_width: int = 48
    """Width of the SSIM copy: small averages away sensor noise and compression grain."""
    rgb_short_side: int = 224
    max_pixels: int = 7680 * 4320
    """Refuse frames with more pixels (8K UHD passes; a decoded 8192x8192 frame is already ~100 MB)."""
    max_side: int = 8192
    """Refuse frames wider or taller than this."""
    max_frames: int = 3 * 3600 * 60
    """Refuse streams with more frames than this (3 h at 60 fps)."""
    max_frame_rate: float = 1000.0
    """Refuse streams with more frames than this per second of video (counted from the first frame,
    plus one second): frames stamped a tick apart, or all at one time, are decoded all the same."""
    max_duration_s: float = 3 * 3600.0

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"frame fps must be positive, got {self.fps}")
        if self.gray_width < 16 or self.rgb_short_side < 16:
            raise ValueError("gray_width and rgb_short_side must be at least 16")


@dataclass(frozen=True)
class SampledFrame:
    """One frame on the sampling grid."""

    index: int
    """Position on the sampling grid (0, 1, 2, ... in decoding order)."""
    time_s: float
    """Presentation time relative to the start of the video stream."""
    gray: np.ndarray
    """float32 in [0, 1], ``gray_width`` wide."""
    rgb: np.ndarray
    """uint8 H x W x 3, shorter side ``rgb_short_side`` (never upscaled)."""


def looks_like_video(uri: str, head: bytes = b"") -> bool:
    """Worth opening as a video: a video extension, or a container signature in ``head``.

    The answer is a hint; whether a video stream exists is only known once PyAV opens it
    (an .mp4 may hold audio only).
    """
    if is_video_path(uri):
        return True
    if len(head) < 12:
        return False
    return (
        head[4:8] == b"ftyp"
        and head[8:12] not in (b"M4A ", b"M4B ", b"M4P ")  # MP4/MOV, not m4a
        or head[:4] == b"\x1a\x45\xdf\xa3"  # Matroska / WebM
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head[:4] == b"\x00\x00\x01\xba"  # MPEG program stream
        or head[:3] == b"FLV"
        or (head[0] == 0x47 and len(head) > 188 and head[188] == 0x47)  # MPEG transport stream
    )


@contextmanager
def open_uri(uri: str) -> Iterator[BinaryIO]:
    """A seekable binary file for ``uri`` through :mod:`transforms.storage` (local, gs://, s3://)."""
    from transforms import storage  # Beam's file systems: not imported by the decode child

    try:
        f = storage.open_read(uri)
    except Exception as exc:
        raise _read_error(exc) from None
    try:
        yield f
    finally:
        f.close()


def _scaled(width: int, height: int, target: int, by: str) -> tuple[int, int]:
    """(w, h) with ``width`` (by='width') or the shorter side (by='short') at ``target``; even, >= 8."""
    side = width if by == "width" else min(width, height)
    scale = min(1.0, target / side) if by == "short" else target / width
    w = max(8, int(round(width * scale / 2)) * 2)
    h = max(8, int(round(height * scale / 2)) * 2)
    return w, h


class FrameReader:
    """Iterate the sampled frames of one video; after iterating, ``truncated`` says whether
    decoding stopped early on a damaged stream, and ``frames_decoded`` how many were decoded."""

    def __init__(self, source: BinaryIO | str, settings: FrameSettings = FrameSettings()) -> None:
        self.source = source
        self.settings = settings
        self.truncated: str | None = None
        self.frames_decoded = 0
        self.width = 0
        self.height = 0

    def __iter__(self) -> Iterator[SampledFrame]:
        import av

        try:
            container = av.open(self.source, mode="r", metadata_errors="ignore")
        except Exception as exc:  # FFmpeg's many ways to refuse a file
            raise VideoError("not_a_video", f"{type(exc).__name__}: {exc}"[:200]) from None
        with container:
            stream = self._video_stream(container)
            yield from self._sample(container, stream)

    def _video_stream(self, container: Any) -> Any:
        streams = [s for s in container.streams.video if s.codec_context is not None]
        if not streams:
            raise VideoError("no_video_stream", f"streams: {[s.type for s in container.streams]}")
        stream = streams[0]
        self.width, self.height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        self._check_size(self.width, self.height)
        stream.thread_type = "AUTO"
        stream.thread_count = DECODE_THREADS
        return stream

    def _check_size(self, width: int, height: int) -> None:
        limits = self.settings
        if width * height > limits.max_pixels or max(width, height) > limits.max_side:
            raise VideoError(
                "video_too_large",
                f"{width}x{height} frames (at most {limits.max_pixels} pixels and {limits.max_side} a side)",
            )

    def _check_count(self, relative_s: float) -> None:
        limits, count = self.settings, self.frames_decoded
        if count > limits.max_frames or count > limits.max_frame_rate * (max(0.0, relative_s) + 1.0):
            raise VideoError(
                "too_many_frames",
                f"{count} frames decoded by {max(0.0, relative_s):.3f} s of video "
                f"(at most {limits.max_frames}, {limits.max_frame_rate:.0f} a second)",
            )

    def _sample(self, container: Any, stream: Any) -> Iterator[SampledFrame]:
        step = 1.0 / self.settings.fps
        origin: float | None = None
        if stream.start_time is not None and stream.time_base is not None:
            origin = float(stream.start_time * stream.time_base)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        next_time, index, last_time = 0.0, 0, -math.inf
        try:
            for frame in container.decode(stream):
                self.frames_decoded += 1
                time_s = frame.time if frame.time is not None else last_time + 1.0 / rate
                if origin is None:
                    origin = time_s
                relative = time_s - origin
                last_time = time_s
                self._check_size(frame.width, frame.height)
                self._check_count(relative)
                if relative > self.settings.max_duration_s:
                    self.truncated = f"longer than {self.settings.max_duration_s:.0f} s"
                    return
                if relative + 1e-6 < next_time:
                    continue
                yield self._convert(frame, index, max(0.0, relative))
                index += 1
                next_time = (math.floor(relative / step + 1e-6) + 1) * step
        except (VideoError, MemoryError):
            raise
        except Exception as exc:  # a damaged stream: keep what came before it
            if index == 0:
                raise VideoError("corrupt_video", f"{type(exc).__name__}: {exc}"[:200]) from None
            self.truncated = f"{type(exc).__name__}: {exc}"[:200]
        if index == 0:
            raise VideoError("no_video_frames", f"{self.frames_decoded} frames decoded")

    def _convert(self, frame: Any, index: int, time_s: float) -> SampledFrame:
        width, height = frame.width, frame.height
        gw, gh = _scaled(width, height, self.settings.gray_width, "width")
        rw, rh = _scaled(width, height, self.settings.rgb_short_side, "short")
        gray = frame.to_ndarray(format="gray", width=gw, height=gh, interpolation="AREA")
        rgb = frame.to_ndarray(format="rgb24", width=rw, height=rh, interpolation="AREA")
        return SampledFrame(index=index, time_s=round(time_s, 3), gray=gray.astype(np.float32) / 255.0, rgb=rgb)


def sampled_frames(uri: str, settings: FrameSettings = FrameSettings()) -> Iterator[SampledFrame]:
    """The sampled frames of the video at ``uri`` (a convenience over :class:`FrameReader`)."""
    with open_uri(uri) as f:
        yield from FrameReader(f, settings)


# -- scene-start frames, scanned in the decode child ----------------------------------------------


@dataclass(frozen=True)
class SceneScan:
    """What one scan of a video asks: how frames are sampled and capped, and how scenes are found."""

    frames: FrameSettings = FrameSettings()
    ssim_threshold: float = DEFAULT_THRESHOLD
    min_scene_s: float = DEFAULT_MIN_SCENE_S
    max_scenes: int = 64

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SceneScan:
        return cls(**{**values, "frames": FrameSettings(**values["frames"])})


@dataclass
class VideoScenes:
    """What one video yielded: its scene-start frames (RGB kept until captioned) and figures."""

    frames: list[KeyFrame]
    scene_count: int
    frames_sampled: int
    truncated: str | None
    size: tuple[int, int]
    captions: dict[int, str] = field(default_factory=dict)
    """frame index -> cleaned caption ("" when CoCa produced nothing readable)."""


_PART_HEAD = struct.Struct(">I")


def _prepare_child() -> None:
    """The frame decoder's and SSIM's imports, before the child's memory limit is set."""
    import av  # noqa: F401
    from skimage.metrics import structural_similarity  # noqa: F401


def _scan_in_child(source: bytes | bytearray | str, params: dict, send: Callable[[bytes], None]) -> dict:
    """The child's side of :func:`scan_video`: each scene-start frame as a part, then the figures."""
    scan = SceneScan.from_dict(params)
    try:
        file = open(source, "rb") if isinstance(source, str) else byte_reader(source)
    except FileNotFoundError as exc:
        raise VideoError("missing_file", str(exc)[:200]) from None
    except OSError as exc:
        raise VideoError("unreadable_file", f"{type(exc).__name__}: {exc}"[:200]) from None
    with file:
        detector = SceneDetector(scan.ssim_threshold, scan.min_scene_s)
        reader = FrameReader(file, scan.frames)
        for key in key_frames(reader, detector, scan.max_scenes):
            start = key.start
            rgb = np.ascontiguousarray(key.rgb, dtype=np.uint8)
            head = json.dumps([start.frame_index, start.time_s, start.ssim, list(rgb.shape)]).encode()
            send(_PART_HEAD.pack(len(head)) + head + rgb.tobytes())
    return {
        "scene_count": detector.scene_count,
        "frames_sampled": len(detector.similarities) + 1,
        "truncated": reader.truncated,
        "size": [reader.width, reader.height],
    }


FRAMES_JOB = ChildJob(prepare=_prepare_child, run=_scan_in_child)
"""The frame scan as a decode-child job (``transforms.visual.frames:FRAMES_JOB``)."""

WORKER_REASONS = {"decode_timeout": "video_timeout", "decode_memory": "video_out_of_memory"}
"""The decode child's own reasons, as the visual stage names them (anything else: ``video_crash``)."""


def scan_video(worker: DecodeWorker, uri: str, scan: SceneScan, max_bytes: int = 2 * 1024**3) -> VideoScenes:
    """The scene-start frames of the video at ``uri``, decoded in ``worker``'s child under its memory
    limit and timeout (a local file is opened there; other URIs are read here, up to ``max_bytes``,
    and sent). Raises :class:`VideoError`."""
    path = uri if "://" not in uri else None
    data = b"" if path is not None else _read_video(uri, max_bytes)
    try:
        parts, summary = worker.run_job("transforms.visual.frames:FRAMES_JOB", asdict(scan), data, path)
    except AudioError as exc:
        if exc.reason in WORKER_REASONS:
            raise VideoError(WORKER_REASONS[exc.reason], exc.detail) from None
        if exc.reason in ("decode_crash", "decode_error"):
            raise VideoError("video_crash" if exc.reason == "decode_crash" else "video_error", exc.detail) from None
        raise VideoError(exc.reason, exc.detail) from None
    frames = [_key_frame(part, scan) for part in parts[: scan.max_scenes]]
    width, height = summary["size"]
    return VideoScenes(
        frames, int(summary["scene_count"]), int(summary["frames_sampled"]), summary["truncated"], (width, height)
    )


def _read_video(uri: str, max_bytes: int) -> bytes:
    from transforms import storage

    try:
        return storage.read_bytes(uri, max_bytes=max_bytes)
    except storage.FileTooLarge:
        raise VideoError("file_too_large", f"> {max_bytes} bytes") from None
    except Exception as exc:
        raise _read_error(exc) from None


def _read_error(exc: Exception) -> VideoError:
    """The failure a video's read raised, as its reason: missing, the store failing past its retry
    budget, or anything else (permission, I/O, object-store errors)."""
    from transforms import storage

    if isinstance(exc, FileNotFoundError):
        return VideoError("missing_file", str(exc)[:200])
    if isinstance(exc, storage.StorageError):
        return VideoError("storage_error", str(exc)[:200])
    return VideoError("unreadable_file", f"{type(exc).__name__}: {exc}"[:200])


def _key_frame(part: bytearray, scan: SceneScan) -> KeyFrame:
    """One part from the child: a scene start and its RGB frame (checked against what was asked)."""
    (length,) = _PART_HEAD.unpack_from(part)
    index, time_s, ssim, shape = json.loads(part[_PART_HEAD.size : _PART_HEAD.size + length])
    pixels = memoryview(part)[_PART_HEAD.size + length :]
    if len(shape) != 3 or shape[2] != 3 or max(shape[:2]) > scan.frames.max_side or math.prod(shape) != len(pixels):
        raise VideoError("video_crash", f"the frame decoder sent a frame of shape {shape} in {len(pixels)} bytes")
    rgb = np.frombuffer(pixels, dtype=np.uint8).reshape(shape)
    return KeyFrame(SceneStart(int(index), float(time_s), None if ssim is None else float(ssim)), rgb)
