"""Stream sampled frames out of a video with PyAV: the frame set V^F of paper Appendix B.

Frames are decoded one at a time (FFmpeg's own threads decode) and sampled on a time grid of
``fps`` frames per second by presentation time, so variable, extreme or missing frame rates all
give the same grid. Only the sampled frames are converted to numpy: a small grayscale copy for
SSIM (``gray_width`` wide) and an RGB copy with its shorter side at ``rgb_short_side`` for the
captioner (CoCa resizes to 224 anyway). Nothing holds more than the frame at hand, so a long or
huge video costs time, not memory. The audio track is not touched here: it goes through the
normal audio path (``transforms/decode.py``).

Every way a video can be unusable raises :class:`VideoError` with a short ``reason``; a stream
that breaks after some frames were read ends the iteration and is reported by
:attr:`FrameReader.truncated` instead (the frames before the damage are still good).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from schemas.media import is_video_path
from transforms import storage


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
    max_pixels: int = 8192 * 8192
    """Refuse streams larger than this (a decoded frame of such a stream is already ~200 MB)."""
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
    try:
        f = storage.open_read(uri)
    except FileNotFoundError as exc:
        raise VideoError("missing_file", str(exc)[:200]) from None
    except storage.StorageError as exc:  # transient faults that outlasted the retry budget
        raise VideoError("storage_error", str(exc)[:200]) from None
    except Exception as exc:  # noqa: BLE001 - permission, I/O, object-store errors
        raise VideoError("unreadable_file", f"{type(exc).__name__}: {exc}"[:200]) from None
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
        except Exception as exc:  # noqa: BLE001 - FFmpeg's many ways to refuse a file
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
        if self.width * self.height > self.settings.max_pixels:
            raise VideoError("video_too_large", f"{self.width}x{self.height} > {self.settings.max_pixels} pixels")
        stream.thread_type = "AUTO"
        return stream

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
                if relative > self.settings.max_duration_s:
                    self.truncated = f"longer than {self.settings.max_duration_s:.0f} s"
                    return
                if relative + 1e-6 < next_time:
                    continue
                yield self._convert(frame, index, max(0.0, relative))
                index += 1
                next_time = (math.floor(relative / step + 1e-6) + 1) * step
        except VideoError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged stream: keep what came before it
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
