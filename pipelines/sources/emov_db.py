"""EmoV-DB: four English speakers reading CMU Arctic sentences in five emotions (Adigwe et al. 2018).

Layouts (INPUT holds the speaker folders and, optionally, the CMU Arctic prompt list
``cmuarctic.data`` the EmoV-DB README points to)::

    bea_Amused/amused_1-15_0001.wav       OpenSLR 115: one <speaker>_<Emotion>.tar.gz per folder
    bea/amused/amused_1-15_0001.wav       the "sorted" download (<speaker>/<emotion>/, lower case)
    cmuarctic.data                        ( arctic_a0001 "Author of the danger trail, ..." )

A file is ``<emotion>_<annotation range>_<NNNN>.wav`` (README: "anger_1-28_0011.wav"), NNNN the
Arctic sentence number; the emotion is read from that name (anger, amused, disgust, neutral,
sleepiness), so the folder case and nesting do not matter. The speaker is the first folder
named after one of bea, jenie, josh, sam (bea and jenie female, josh and sam male). Without
``cmuarctic.data`` items have no transcript and are described by emotion.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, glob, join, read_text, stem
from schemas import Failure, SourceItem, make_key
from schemas.vocab import normalize_emotion

LICENSE = "Apache-2.0 (EmoV-DB, Adigwe et al. 2018); sentences from CMU ARCTIC"
SPEAKERS = {"bea": "female", "jenie": "female", "josh": "male", "sam": "male"}
# The file names' emotion words (and the folders' spellings) -> the label kept in extra.
EMOTION_WORDS = {
    "amused": "amused",
    "anger": "angry",
    "angry": "angry",
    "disgust": "disgusted",
    "disgusted": "disgusted",
    "neutral": "neutral",
    "sleepiness": "sleepy",
    "sleepy": "sleepy",
}
NAME = re.compile(r"^(?P<emotion>[a-z]+)_(?P<range>[^_]+)_(?P<number>\d{4})$", re.IGNORECASE)
ARCTIC_LINE = re.compile(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$')


class EmoVDBSource(DatasetSource):
    name = "emov-db"
    description = "EmoV-DB: emotional English speech (amused, angry, disgusted, neutral, sleepy) of 4 speakers"
    layout = "<speaker>_<Emotion>/ or <speaker>/<emotion>/ holding <emotion>_<range>_<NNNN>.wav [+ cmuarctic.data]"
    markers = ("*/amused_*_[0-9][0-9][0-9][0-9].wav",)

    @classmethod
    def locate(cls, input_root: str) -> str | None:
        base = (input_root or "").rstrip("/")
        if not base:
            return None
        for depth in ("*", "*/*"):
            for word in ("amused", "anger", "disgust", "neutral", "sleepiness"):
                if any_match(join(base, depth, f"{word}_*_[0-9][0-9][0-9][0-9].wav")):
                    return base
        return None

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        labels = sorted({normalize_emotion(e) or e for e in EMOTION_WORDS.values()})
        return {"emotion": labels, "language": ["en"]}

    def _prompts(self) -> dict[str, str]:
        path = join(self.root, "cmuarctic.data")
        if not any_match(path):
            return {}
        return dict(m.groups() for m in map(ARCTIC_LINE.match, read_text(path).splitlines()) if m)

    def items(self) -> Iterator[SourceItem | Failure]:
        prompts = self._prompts()
        for path in glob(join(self.root, "*", "*.wav")) + glob(join(self.root, "*", "*", "*.wav")):
            rel = path[len(self.root.rstrip("/")) + 1 :]
            folders = rel.split("/")[:-1]
            speaker = next((s for f in folders if (s := f.split("_")[0].lower()) in SPEAKERS), None)
            name = stem(path)
            parsed = NAME.match(name)
            word = parsed.group("emotion").lower() if parsed else ""
            key = make_key("emovdb", speaker or folders[0].split("_")[0], name)
            if speaker is None or word not in EMOTION_WORDS or not parsed:
                yield self.fail(
                    key,
                    "mislabelled",
                    f"{rel}: not <speaker>[_<Emotion>]/<emotion>_<range>_<NNNN>.wav of a known speaker",
                )
                continue
            emotion = EMOTION_WORDS[word]
            sentence_id = f"arctic_a{parsed.group('number')}"
            yield SourceItem(
                key=key,
                uri=path,
                dataset="emov-db",
                source_id=posixpath.join(*folders, name),
                language="en",
                transcript=prompts.get(sentence_id),
                speaker_id=speaker,
                gender=SPEAKERS[speaker],
                emotion=normalize_emotion(emotion),
                labels=("speech",),
                license=LICENSE,
                extra={"emotion_label": emotion, "sentence_id": sentence_id},
            )
