"""EMNS (Emotive Narrative Storytelling, OpenSLR 136): one British English female voice actor,
utterances labelled with emotion, expressiveness level and a natural-language description.

Layout, as ``metadata.csv`` and ``raw_webm.tar.xz`` (or ``cleaned_webm.tar.xz``) unpack (INPUT
holds both)::

    metadata.csv     pipe-separated (|), header:
                     id|utterance|description|emotion|date_created|status|gender|age|level|audio_recording|user_id
                     audio_recording is wavs/recorded_audio_<x>.webm; emotion Happy, Sad, Angry,
                     Excited, Sarcastic, Surprised, Disgust, Neutral; age "20s"; status "Complete"
                     or "Needs Updating"
    raw_webm/recorded_audio_<x>.webm   (cleaned_webm/..., or wavs/<x>.wav when converted)

The description is a template the annotator filled with emphasis marks: "With a {emotion} voice,
{user_id} said {transcription}. Placing emphasis on {two} and {germ cell lineage}." It is kept
as a human caption with its slots filled ("With a sad voice, a woman said 'There are two ...'.
Placing emphasis on 'two' and 'germ cell lineage'."), and the emphasised words in
``extra["emphasis"]``; rows whose status is "Needs Updating" keep no description (theirs still
hold placeholders such as "{Word}"). ``level`` (0-9)
is the intensity. The recording is looked up as listed, else by its name under ``raw_webm/``,
``cleaned_webm/`` or ``wavs/``. A comma-separated metadata.csv (as converted by some tools) is
read too.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, exists, join, read_table, read_text, stem
from schemas import Failure, SourceItem, make_key
from schemas.vocab import normalize_age_group, normalize_emotion, normalize_gender

LICENSE = "CC BY 4.0 (EMNS, Noriy et al. 2023)"
EMOTIONS = ("neutral", "happy", "sad", "angry", "excited", "sarcastic", "disgusted", "surprised")
AUDIO_FOLDERS = ("raw_webm", "cleaned_webm", "wavs")
SLOT = re.compile(r"\{([^{}]*)\}")


def delimiter_of(path: str) -> str:
    header = read_text(path).split("\n", 1)[0]
    return "|" if header.count("|") > header.count(",") else ","


def age_group(value: str | None) -> str | None:
    """EMNS spells decades as "20s"."""
    decade = re.fullmatch(r"\s*(\d)0s\s*", value or "")
    return normalize_age_group(int(decade.group(1)) * 10) if decade else normalize_age_group(value)


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def fill_description(template: str, utterance: str, emotion: str | None, speaker: str) -> tuple[str, list[str]]:
    """The annotator's template with its slots filled; returns (caption, emphasised words)."""
    emphasis: list[str] = []
    emotion_word = emotion or "neutral"
    text = re.sub(r"\b([Aa])n? \{emotion\}", lambda m: f"{m.group(1)}{article(emotion_word)[1:]} {{emotion}}", template)

    def fill(match: re.Match[str]) -> str:
        slot = match.group(1).strip()
        if slot == "emotion":
            return emotion_word
        if slot == "user_id":
            return speaker
        if slot == "transcription":
            return f"'{utterance}'"
        emphasis.append(slot)
        return f"'{slot}'"

    text = SLOT.sub(fill, text).strip()
    text = re.sub(r"(?<=[^.!?]) With ", " with ", text)  # "... said 'x' With a sad voice."
    text = re.sub(r"([.!?])'([.,])", lambda m: f"{m.group(1)}'" + ("," if m.group(2) == "," else ""), text)
    text = re.sub(r"([.!?]'?\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text[:1].upper() + text[1:], emphasis


class EMNSSource(DatasetSource):
    name = "emns"
    description = "EMNS: emotive British English storytelling speech with emotion, intensity and delivery descriptions"
    layout = (
        "metadata.csv (pipe-separated: id|utterance|description|emotion|...|audio_recording|user_id) + raw_webm/*.webm"
    )
    markers = ("metadata.csv",)

    @classmethod
    def locate(cls, input_root: str) -> str | None:
        base = (input_root or "").rstrip("/")
        path = join(base, "metadata.csv")
        if base and any_match(path):
            header = read_text(path).split("\n", 1)[0]
            columns = {c.strip() for c in re.split(r"[|,]", header)}
            if {"utterance", "audio_recording"} <= columns:
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
        for folder in AUDIO_FOLDERS:
            for candidate in (f"{folder}/{name}", f"{folder}/{stem(name)}.webm", f"{folder}/{stem(name)}.wav"):
                if exists(join(self.root, candidate)):
                    return join(self.root, candidate)
        return uri  # the decoder records it as missing

    def items(self) -> Iterator[SourceItem | Failure]:
        path = join(self.root, "metadata.csv")
        for number, row in enumerate(read_table(path, delimiter=delimiter_of(path)), start=1):
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
            gender = normalize_gender(row.get("gender") or "female")
            captions: tuple[str, ...] = ()
            emphasis: list[str] = []
            if row.get("description") and row.get("status", "").strip().lower() != "needs updating":
                caption, emphasis = fill_description(
                    row["description"],
                    row.get("utterance", ""),
                    emotion,
                    "a woman" if gender == "female" else "a person",
                )
                captions = (caption,)
            yield self.item(
                key=key,
                uri=uri,
                dataset="emns",
                source_id=row.get("id") or stem(listed),
                language="en",
                transcript=row.get("utterance") or None,
                speaker_id=f"emns-{row['user_id']}" if row.get("user_id") else "emns-narrator",
                gender=gender,
                age=age_group(row.get("age")),
                emotion=emotion,
                emotion_intensity=row.get("level") or None,
                labels=("speech",),
                captions=captions,
                license=LICENSE,
                extra={"accent": "British", "status": row.get("status", ""), "emphasis": emphasis},
            )
