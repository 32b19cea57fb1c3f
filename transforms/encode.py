"""Last in-shard stage: a sample becomes its two shard members, ``<key>.flac`` and ``<key>.json``."""

from __future__ import annotations

from schemas import SAMPLE_RATE, SampleMeta
from transforms.audio import encode_flac
from transforms.stage import Sample


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
    if item.origin:
        original["origin"] = item.origin
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


def encode(sample: Sample, split: str) -> tuple[SampleMeta, bytes]:
    """(metadata, FLAC bytes) of a sample."""
    return sample_meta(sample, split), encode_flac(sample.audio)
