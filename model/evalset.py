"""Evaluation sets read from clara-corpus shards: embeddings plus the metadata tasks need.

Shards are read in order (no shuffle) through :mod:`model.shards`, one pass; each clip is
embedded as :class:`model.api.ClaraModel` does it (centre crop, no randomness) and only its
embedding, captions and ``original_data`` are kept, so a large test split never sits in
memory as audio. Augmented copies (non-empty ``augmentations``) are left out unless asked
for: evaluating on a noise-mixed twin of a clip would count the same clip twice.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soundfile as sf
import torch
import webdataset as wds

from model.api import ClaraModel, to_model_rate
from model.shards import resolve_shards
from schemas.records import SampleMeta


@dataclass
class EvalSet:
    """One split's clips: keys, embeddings ``[N, E]`` and per-clip metadata."""

    keys: list[str] = field(default_factory=list)
    embeddings: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0))
    captions: list[list[dict[str, Any]]] = field(default_factory=list)
    """Per clip, its captions as ``{"text", "language", "origin"}`` (LAION ``text`` when absent)."""
    original: list[dict[str, Any]] = field(default_factory=list)
    durations_s: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)

    def field_values(self, name: str) -> list[Any]:
        """``original_data[name]`` per clip (None where missing); a dotted name reads nested
        records (``extra.truth.rate_level``)."""
        return [nested_value(meta, name) for meta in self.original]

    def languages(self) -> list[str | None]:
        return self.field_values("language")


def nested_value(record: dict[str, Any], name: str) -> Any:
    """``record[a][b]...`` for the dotted name ``a.b...`` (None where a step is missing)."""
    node: Any = record
    for part in name.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def read_meta(raw_json: bytes | str, split: str) -> SampleMeta:
    """A sample's JSON as the contract's record (LAION-style JSON without captions, tags or a
    duration too: those read as empty / 0 s)."""
    return SampleMeta.from_json(raw_json, tag=(), split=split, duration_s=0.0)


def iter_samples(
    specs: list[str] | str, split: str, include_augmented: bool = False, limit: int | None = None
) -> Iterator[tuple[str, np.ndarray, SampleMeta]]:
    """``(key, mono 48 kHz audio, sample record)`` of a split's shards, in shard order."""
    count = 0
    for raw, meta in _records(specs, split, include_augmented):
        wave, rate = sf.read(io.BytesIO(raw["flac"]), dtype="float32", always_2d=True)
        yield raw["__key__"], to_model_rate(wave, rate), meta
        count += 1
        if limit is not None and count >= limit:
            return


def iter_metas(specs: list[str] | str, split: str, include_augmented: bool = False) -> Iterator[SampleMeta]:
    """The sample records of :func:`iter_samples`, in the same order, without decoding any audio."""
    for _, meta in _records(specs, split, include_augmented):
        yield meta


def _records(specs: list[str] | str, split: str, include_augmented: bool) -> Iterator[tuple[dict, SampleMeta]]:
    shard_set = resolve_shards(specs, split)
    if not shard_set.urls:
        raise FileNotFoundError(f"no {split} shards under {specs}")
    for raw in wds.tarfile_to_samples()([{"url": url} for url in shard_set.urls]):
        if "json" not in raw or "flac" not in raw:
            continue
        meta = read_meta(raw["json"], split)
        if meta.augmentations and not include_augmented:
            continue
        yield raw, meta


def sample_captions(meta: SampleMeta) -> list[dict[str, Any]]:
    """The record's captions as ``{"text", "language", "origin"}`` dicts."""
    return [caption.to_dict() for caption in meta.captions]


def load_eval_set(
    model: ClaraModel,
    specs: list[str] | str,
    split: str = "test",
    include_augmented: bool = False,
    limit: int | None = None,
    batch_size: int = 32,
    projected: bool = True,
) -> EvalSet:
    """Embed a split's clips (see module docstring)."""
    out = EvalSet()
    pending: list[np.ndarray] = []
    chunks: list[torch.Tensor] = []

    def flush() -> None:
        if pending:
            chunks.append(model.get_audio_embeddings(pending, batch_size=batch_size, projected=projected))
            pending.clear()

    for key, wave, meta in iter_samples(specs, split, include_augmented, limit):
        out.keys.append(key)
        out.captions.append(sample_captions(meta))
        out.original.append(dict(meta.original_data))
        out.durations_s.append(len(wave) / 48_000)
        pending.append(wave)
        if len(pending) >= batch_size * 8:
            flush()
    flush()
    width = model.embed_dim if projected else model.model.audio_encoder.out_dim
    out.embeddings = torch.cat(chunks) if chunks else torch.zeros(0, width)
    return out


def split_hours(specs: list[str] | str, split: str = "train") -> dict[str, float]:
    """Hours of audio per language in a split, from the sample JSONs only (no audio decoded)."""
    hours: dict[str, float] = {}
    for url in resolve_shards(specs, split).urls:
        with tarfile.open(url) as tar:
            for member in tar:
                if not member.name.endswith(".json"):
                    continue
                meta = read_meta(tar.extractfile(member).read(), split)  # type: ignore[union-attr]
                hours[meta.language] = hours.get(meta.language, 0.0) + meta.duration_s / 3600
    return hours
