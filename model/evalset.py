"""Evaluation sets read from clara-corpus shards: embeddings plus the metadata tasks need.

Shards are read in order (no shuffle) through :mod:`model.shards`, one pass; each clip is
embedded as :class:`model.api.ClaraModel` does it (centre crop, no randomness) and only its
embedding, captions and ``original_data`` are kept, so a large test split never sits in
memory as audio. Augmented copies (non-empty ``augmentations``) are left out unless asked
for: evaluating on a noise-mixed twin of a clip would count the same clip twice.
"""

from __future__ import annotations

import io
import json
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
        """``original_data[name]`` per clip (None where missing)."""
        return [meta.get(name) for meta in self.original]

    def languages(self) -> list[str | None]:
        return self.field_values("language")


def iter_samples(
    specs: list[str] | str, split: str, include_augmented: bool = False, limit: int | None = None
) -> Iterator[tuple[str, np.ndarray, dict[str, Any]]]:
    """``(key, mono 48 kHz audio, sample JSON)`` of a split's shards, in shard order."""
    shard_set = resolve_shards(specs, split)
    if not shard_set.urls:
        raise FileNotFoundError(f"no {split} shards under {specs}")
    count = 0
    for raw in wds.tarfile_to_samples()([{"url": url} for url in shard_set.urls]):
        if "json" not in raw or "flac" not in raw:
            continue
        meta = json.loads(raw["json"])
        if meta.get("augmentations") and not include_augmented:
            continue
        wave, rate = sf.read(io.BytesIO(raw["flac"]), dtype="float32", always_2d=True)
        yield raw["__key__"], to_model_rate(wave, rate), meta
        count += 1
        if limit is not None and count >= limit:
            return


def sample_captions(meta: dict[str, Any]) -> list[dict[str, Any]]:
    language = (meta.get("original_data") or {}).get("language")
    if meta.get("captions"):
        return [dict(c) for c in meta["captions"]]
    return [{"text": t, "language": language, "origin": None} for t in meta.get("text", [])]


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
        out.original.append(dict(meta.get("original_data") or {}))
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
                meta = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                language = (meta.get("original_data") or {}).get("language") or "und"
                hours[language] = hours.get(language, 0.0) + float(meta.get("duration_s", 0.0)) / 3600
    return hours
