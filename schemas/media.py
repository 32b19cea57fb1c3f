"""The media files the corpus accepts, by extension: one list for every reader.

Sources list input folders with it, the noise bank lists noise folders with it, the visual
stage tells video from audio with it. An extension is a hint only: a decoder sniffs the
bytes, and a video whose extension is missing here is still recognised by its container
signature (``transforms/visual/frames.py``). Neither ``.ts`` (also TypeScript source) nor
``.gif`` (never has a sound track) is listed.
"""

from __future__ import annotations

AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".flac", ".mp3", ".opus", ".ogg", ".m4a", ".aac", ".wma", ".aiff", ".aif", ".webm",
)  # fmt: skip
"""Audio files (``.webm`` is both: audio-only WebM is common)."""

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".mts", ".m2ts",
    ".flv", ".3gp", ".ogv", ".wmv", ".asf", ".vob",
)  # fmt: skip
"""Containers worth opening for pictures (the visual stage); their sound track is the sample."""

MEDIA_EXTENSIONS: tuple[str, ...] = tuple(dict.fromkeys(AUDIO_EXTENSIONS + VIDEO_EXTENSIONS))
"""Everything an input folder may hold as a sample."""


def extension(path: str) -> str:
    """The lower-case extension of a path or URI (query string ignored): ``"a/B.WAV?x=1"`` -> ``".wav"``."""
    name = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[1].lower() if "." in name else ""


def is_audio_path(path: str) -> bool:
    return extension(path) in AUDIO_EXTENSIONS


def is_video_path(path: str) -> bool:
    return extension(path) in VIDEO_EXTENSIONS


def is_media_path(path: str) -> bool:
    return extension(path) in MEDIA_EXTENSIONS
