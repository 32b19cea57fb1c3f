"""Last in-shard stage: a sample becomes its two shard members, ``<key>.flac`` and ``<key>.json``."""

from __future__ import annotations

import os
import threading

import numpy as np
import soundfile as sf

from schemas import SAMPLE_RATE, SampleMeta
from transforms.audio import encode_flac
from transforms.stage import Sample

_SCRATCH = threading.local()


def sample_meta(sample: Sample, split: str) -> SampleMeta:
    """The per-sample JSON: LAION's text/tag/original_data plus captions, segment, alignment."""
    item = sample.item
    original = {
        "dataset": item.dataset,
        "source_id": item.source_id,
        "language": item.language,
        "gender": item.gender,
        "emotion": item.emotion,
        "transcript": sample.segment.transcript,
    }
    for name in ("speaker_id", "age", "emotion_intensity", "license"):
        value = getattr(item, name)
        if value is not None:
            original[name] = value
    if item.labels:
        original["labels"] = list(item.labels)
    if item.extra:
        original["extra"] = dict(item.extra)
    original.update(sample.original_data)
    segment = None
    if sample.source_duration_s is not None:
        segment = {
            "index": sample.segment.index,
            "start_s": round(sample.segment.start_s, 4),
            "duration_s": round(len(sample.audio) / SAMPLE_RATE, 4),
            "source_duration_s": round(sample.source_duration_s, 4),
        }
    return SampleMeta(
        key=sample.key,
        text=tuple(c.text for c in sample.captions),
        tag=tuple(sample.tags),
        original_data=original,
        captions=tuple(sample.captions),
        duration_s=round(len(sample.audio) / SAMPLE_RATE, 4),
        split=split,
        segment=segment,
        alignment=tuple(sample.segment.words),
        augmentations=tuple(sample.augmentations),
    )


def flac_bytes(audio: np.ndarray) -> bytes:
    """:func:`transforms.audio.encode_flac`'s bytes, encoded into an in-memory file (``memfd``).

    libsndfile writing to a Python file object calls back into Python ~150 times a clip, each
    call waiting for the GIL: with worker threads (the local runner's), one thread's encoding
    stalled behind the other's Python work. Into a file descriptor it runs without the GIL.
    """
    fd = getattr(_SCRATCH, "fd", None)
    if fd is None:
        if not hasattr(os, "memfd_create"):  # not Linux: the Python file object
            return encode_flac(audio)
        fd = _SCRATCH.fd = os.memfd_create("clara-flac", os.MFD_CLOEXEC)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    with sf.SoundFile(fd, "w", SAMPLE_RATE, 1, "PCM_16", format="FLAC", closefd=False) as f:
        f.write(np.clip(audio, -1.0, 1.0 - 1.0 / 32768))  # as encode_flac: clipped, not wrapped
    return os.pread(fd, os.lseek(fd, 0, os.SEEK_END), 0)


def encode(sample: Sample, split: str) -> tuple[SampleMeta, bytes]:
    """(metadata, FLAC bytes) of a sample."""
    return sample_meta(sample, split), flac_bytes(sample.audio)
