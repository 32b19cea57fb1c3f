"""EMNS (Emotive Narrative Storytelling, OpenSLR 136): one British English female voice actor,
utterances labelled with emotion, expressiveness level and a natural-language description.

Layout, as ``metadata.csv`` and ``raw_webm.tar.xz`` unpack (INPUT holds both)::

    metadata.csv       id, utterance, description, emotion, date_created, status, gender, age,
                       level, audio_recording (a relative path such as wavs/<name>.webm), ...
    raw_webm/<name>.webm       (or wavs/<name>.wav when converted)

The description (how the line is delivered) is a human caption; ``level`` is the intensity.
The recording is looked up as listed, else by its name under ``raw_webm/`` or ``wavs/``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, exists, join, read_table, stem
from schemas import Failure, SourceItem, make_key
from schemas.vocab import normalize_age_group, normalize_emotion, normalize_gender

LICENSE = "CC BY 4.0 (EMNS, Noriy et al. 2023)"
EMOTIONS = ("neutral", "happy", "sad", "angry", "excited", "sarcastic", "disgusted", "surprised")


class EMNSSource(DatasetSource):
    name = "emns"
    description = "EMNS: emotive British English storytelling speech with emotion, intensity and delivery descriptions"
    layout = "metadata.csv (id,utterance,description,emotion,gender,age,level,audio_recording) + raw_webm/*.webm"
    markers = ("metadata.csv",)

    @classmethod
    def locate(cls, input_root: str) -> str | None:
        base = (input_root or "").rstrip("/")
        path = join(base, "metadata.csv")
        if base and any_match(path):
            from pipelines.sources.common import header_of

            if {"utterance", "audio_recording"} <= set(header_of(path, ",")):
                return base
        return None

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"emotion": list(EMOTIONS), "language": ["en"]}

    def _recording(self, key: str, listed: str) -> str | Failure:
        uri = self.safe_path(key, listed)
        if isinstance(uri, Failure) or exists(uri):
            return uri
        name = posixpath.basename(listed)
        for candidate in (f"raw_webm/{name}", f"raw_webm/{stem(name)}.webm", f"wavs/{name}", f"wavs/{stem(name)}.wav"):
            if exists(join(self.root, candidate)):
                return join(self.root, candidate)
        return uri  # the decoder records it as missing

    def items(self) -> Iterator[SourceItem | Failure]:
        for number, row in enumerate(read_table(join(self.root, "metadata.csv")), start=1):
            listed = row.get("audio_recording", "")
            key = make_key("emns", row.get("id") or stem(listed) or f"row{number}")
            if not listed:
                yield self.fail(key, "bad_row", f"metadata.csv row {number} has no audio_recording")
                continue
            emotion = normalize_emotion(row.get("emotion"))
            if row.get("emotion") and emotion is None:
                yield self.fail(key, "mislabelled", f"unknown emotion {row.get('emotion')!r}")
                continue
            uri = self._recording(key, listed)
            if isinstance(uri, Failure):
                yield uri
                continue
            yield SourceItem(
                key=key,
                uri=uri,
                dataset="emns",
                source_id=row.get("id") or stem(listed),
                language="en",
                transcript=row.get("utterance") or None,
                speaker_id="emns-narrator",
                gender=normalize_gender(row.get("gender") or "female"),
                age=normalize_age_group(row.get("age")),
                emotion=emotion,
                emotion_intensity=row.get("level") or None,
                labels=("speech",),
                captions=tuple(c for c in [row.get("description", "")] if c),
                license=LICENSE,
                extra={"accent": "British", "status": row.get("status", "")},
            )
