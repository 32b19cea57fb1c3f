"""An honest evaluation protocol for the demo corpus: test voices and test sentences are unseen.

The shard builder splits items at random, so the same espeak voice and the same sentence turn
up in train and test; a model can then "recognise" a test clip by its voice or its words, and
zero-shot prompts that repeat the training captions measure template recall. This re-split
holds out, per language, one voice of each gender (the last speaker id of each, in sorted
order) and a fixed fraction of the sentences (by a stable hash of the transcript):

- ``test``: held-out voice **and** held-out sentence (nothing of it seen in training);
- ``train``: seen voice and seen sentence;
- ``valid``: the mixed rest (a seen voice reading a held-out sentence, or the reverse): used
  for the validation loss and the probes' early stopping, never for the headline figures.

A sample's augmented copies go where the sample goes. Samples are read and written through
the shard contract's record (:class:`schemas.records.SampleMeta`); the output is shards in the
contract layout (``<out>/<dataset>/<split>/000000.tar`` + ``sizes.json`` + stats markers).

:func:`caption_families` abstracts captions into templates (``A {gender} saying
'{transcript}' in an {emotion} voice``), so a report can say which prompt families training
saw (paper Table II prompts are checked against them).
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import tarfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from model.evalset import read_meta
from model.shards import resolve_shards
from model.zeroshot import render_label
from schemas.records import SampleMeta, ShardStats

HELD_OUT_SENTENCES = 0.3
"""Fraction of sentences (per language, by hash) kept out of training."""


def _sentence_held_out(transcript: str, fraction: float) -> bool:
    return zlib.crc32(transcript.strip().lower().encode()) % 1000 < int(fraction * 1000)


def held_out_voices(metas: Iterable[SampleMeta]) -> set[str]:
    """Per (language, gender), the last speaker id in sorted order (needs ≥ 2 speakers there)."""
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for meta in metas:
        speaker = meta.original_data.get("speaker_id")
        if speaker:
            groups[(meta.language, str(meta.original_data.get("gender")))].add(str(speaker))
    return {sorted(speakers)[-1] for speakers in groups.values() if len(speakers) >= 2}


def assign_split(meta: SampleMeta, voices: set[str], sentence_fraction: float = HELD_OUT_SENTENCES) -> str:
    """``train`` / ``valid`` / ``test`` under the protocol (module docstring)."""
    voice_held = meta.original_data.get("speaker_id") in voices
    transcript = meta.original_data.get("transcript") or meta.key
    sentence_held = _sentence_held_out(str(transcript), sentence_fraction)
    if voice_held and sentence_held:
        return "test"
    if not voice_held and not sentence_held:
        return "train"
    return "valid"


def _read_all(specs: list[str]) -> list[tuple[str, dict[str, bytes], SampleMeta]]:
    """Every sample of every split: ``(dataset name, members by extension, record)``."""
    out = []
    for split in ("train", "valid", "test"):
        for url in resolve_shards(specs, split).urls:
            dataset = Path(url).parent.parent.name
            members: dict[str, dict[str, bytes]] = defaultdict(dict)
            with tarfile.open(url) as tar:
                for member in tar:
                    if member.isfile():
                        key, _, extension = member.name.partition(".")
                        members[key][extension] = tar.extractfile(member).read()  # type: ignore[union-attr]
            for key in sorted(members):
                if "json" in members[key]:
                    out.append((dataset, members[key], read_meta(members[key]["json"], split)))
    return out


def _write_split(folder: Path, samples: list[tuple[dict[str, bytes], SampleMeta]], per_shard: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for index, first in enumerate(range(0, len(samples), per_shard)):
        name = f"{index:06d}.tar"
        chunk = samples[first : first + per_shard]
        with tarfile.open(folder / name, "w", format=tarfile.USTAR_FORMAT) as tar:
            for members, meta in chunk:
                for extension, data in sorted(members.items()):
                    if extension == "json":
                        data = json.dumps(meta.to_json_dict(), ensure_ascii=False).encode()
                    info = tarfile.TarInfo(f"{meta.key}.{extension}")
                    info.size, info.mtime, info.mode = len(data), 0, 0o644
                    tar.addfile(info, io.BytesIO(data))
        sizes[name] = len(chunk)
        stats = ShardStats(
            shard=name,
            split=folder.name,
            items_in=len(chunk),
            items_ok=len(chunk),
            items_failed=0,
            samples=len(chunk),
            duration_s=sum(meta.duration_s for _, meta in chunk),
            bytes=(folder / name).stat().st_size,
        )
        (folder / name.replace(".tar", ".stats.json")).write_text(json.dumps(stats.to_dict()))
    (folder / "sizes.json").write_text(json.dumps(sizes))


def resplit(
    specs: list[str], out: Path, sentence_fraction: float = HELD_OUT_SENTENCES, per_shard: int = 128
) -> dict[str, Any]:
    """Write the protocol's splits of ``specs``' samples under ``out``; returns a summary."""
    samples = _read_all(specs)
    voices = held_out_voices(meta for _, _, meta in samples)
    by_split: dict[tuple[str, str], list[tuple[dict[str, bytes], SampleMeta]]] = defaultdict(list)
    for dataset, members, meta in samples:
        split = assign_split(meta, voices, sentence_fraction)
        by_split[(dataset, split)].append((members, dataclasses.replace(meta, split=split)))
    for (dataset, split), chunk in sorted(by_split.items()):
        _write_split(out / dataset / split, chunk, per_shard)
    originals = Counter(split for (_, split), chunk in by_split.items() for _, m in chunk if not m.augmentations)
    return {
        "held_out_voices": sorted(voices),
        "held_out_sentence_fraction": sentence_fraction,
        "clips": dict(originals),
        "rule": "test = held-out voice and held-out sentence; train = seen voice and seen sentence; valid = the rest",
    }


_TASK_FIELDS = {"gender": "gender", "emotion": "emotion", "language": "language"}


def caption_family(text: str, meta: SampleMeta, language: str) -> str:
    """A caption with its sample's transcript and label words replaced by ``{placeholders}``."""
    family = text
    transcript = meta.original_data.get("transcript")
    if transcript:
        family = family.replace(str(transcript), "{transcript}")
    for task, field_name in _TASK_FIELDS.items():
        value = meta.original_data.get(field_name)
        if not value:
            continue
        for word in sorted({render_label(task, str(value), language), str(value)}, key=len, reverse=True):
            if word:
                family = re.sub(rf"\b{re.escape(word)}\b", "{" + task + "}", family, flags=re.IGNORECASE)
    return family


def caption_families(metas: Iterable[SampleMeta], top: int = 12) -> list[dict[str, Any]]:
    """The most frequent caption templates in ``metas`` with their origin, language and count."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for meta in metas:
        for caption in meta.captions:
            counts[(caption_family(caption.text, meta, caption.language), caption.origin, caption.language)] += 1
    return [
        {"family": family, "origin": origin, "language": language, "captions": n}
        for (family, origin, language), n in counts.most_common(top)
    ]


def prompt_seen_in_training(prompt_template: str, families: Iterable[dict[str, Any]], task: str) -> bool:
    """Whether a zero-shot template (``A {label}``) *is* one of the training caption families."""
    as_family = prompt_template.replace("{label}", "{" + task + "}").strip().lower()
    return any(f["family"].strip().lower() == as_family for f in families)
