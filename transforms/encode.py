"""Last in-shard stage: a sample becomes its two shard members, ``<key>.flac`` and ``<key>.json``.

The JSON is the sample's ``SampleMeta``: the item's labels in ``original_data`` with what each
stage recorded there, its captions, segment and alignment; the FLAC is its audio, 48 kHz mono
16-bit. A sample that cannot be encoded is an ``encode_error`` failure; the others go on to the
tar in order.
"""

from __future__ import annotations

from typing import Any

from schemas import SAMPLE_RATE, SPLITS, Failure, SampleMeta
from transforms.audio import encode_flac
from transforms.stage import Encoded, Sample, Stage, StageSpec

STAGE = "encode"


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


class EncodeStage(Stage):
    """Samples -> their shard members (:class:`transforms.stage.Encoded`), in order."""

    name = STAGE

    def process(self, batch: list[Sample]) -> tuple[list[Encoded], list[Failure]]:
        encoded: list[Encoded] = []
        failures: list[Failure] = []
        for sample in batch:
            try:
                if sample.split not in SPLITS:
                    raise ValueError(f"split {sample.split!r} is not one of {', '.join(SPLITS)}")
                meta, flac = encode(sample, sample.split)
            except Exception as exc:  # one sample's error costs that sample, not its batch
                failures.append(sample.fail(STAGE, "encode_error", f"{type(exc).__name__}: {exc}"))
                continue
            encoded.append(Encoded(sample, meta, flac))
        return encoded, failures


def build_encode(config: Any) -> EncodeStage:
    """The encode stage: always on, last."""
    return EncodeStage()


ITEM_KEYS = (
    *("dataset", "source_id", "language", "gender", "emotion", "transcript"),
    *("speaker_id", "age", "emotion_intensity", "license", "labels", "extra", "origin"),
)
"""The ``original_data`` keys :func:`sample_meta` fills from the item (the first six always)."""

SPEC = StageSpec(name=STAGE, settings=None, build=build_encode, order=1000, writes=ITEM_KEYS)
