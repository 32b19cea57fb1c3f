"""EmoV-DB: four English speakers reading CMU Arctic sentences in five emotions (Adigwe et al. 2018).

Layout, as the OpenSLR 115 archives ``<speaker>_<Emotion>.tar.gz`` unpack (or the "sorted"
``<speaker>/<Emotion>/`` variant); INPUT holds those folders and, optionally, the CMU Arctic
prompt list ``cmuarctic.data`` shipped in the EmoV-DB repository::

    bea_Amused/amused_1-15_0001.wav      <emotion>_<session>_<NNNN>.wav; NNNN = arctic_a<NNNN>
    jenie_Angry/anger_1-28_0002.wav
    cmuarctic.data                        ( arctic_a0001 "Author of the danger trail, ..." )

Speakers: bea and jenie female, josh and sam male. Emotions: Amused, Angry, Disgusted, Neutral,
Sleepy. Without ``cmuarctic.data`` items have no transcript and are described by emotion.
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
EMOTIONS = ("Amused", "Angry", "Disgusted", "Neutral", "Sleepy")
ARCTIC_LINE = re.compile(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$')


class EmoVDBSource(DatasetSource):
    name = "emov-db"
    description = "EmoV-DB: emotional English speech (amused, angry, disgusted, neutral, sleepy) of 4 speakers"
    layout = "<speaker>_<Emotion>/<emotion>_<session>_<NNNN>.wav (or <speaker>/<Emotion>/...) [+ cmuarctic.data]"
    markers = ("*_*/*_*_[0-9][0-9][0-9][0-9].wav",)

    @classmethod
    def locate(cls, input_root: str) -> str | None:
        base = (input_root or "").rstrip("/")
        for pattern in ("*_{e}/*.wav", "*/{e}/*.wav"):
            if base and any(any_match(join(base, pattern.format(e=e))) for e in EMOTIONS):
                return base
        return None

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"emotion": [normalize_emotion(e) or e.lower() for e in EMOTIONS], "language": ["en"]}

    def items(self) -> Iterator[SourceItem | Failure]:
        prompts_path = join(self.root, "cmuarctic.data")
        prompts = {}
        if any_match(prompts_path):
            prompts = dict(m.groups() for m in map(ARCTIC_LINE.match, read_text(prompts_path).splitlines()) if m)
        paths = glob(join(self.root, "*", "*.wav")) + glob(join(self.root, "*", "*", "*.wav"))
        for path in paths:
            folder = posixpath.dirname(path)
            speaker, _, emotion = posixpath.basename(folder).partition("_")
            if not emotion:  # sorted layout: <speaker>/<Emotion>/
                speaker, emotion = posixpath.basename(posixpath.dirname(folder)), posixpath.basename(folder)
            name = stem(path)
            key = make_key("emovdb", speaker, emotion, name)
            number = re.search(r"_(\d{4})$", name)
            if speaker.lower() not in SPEAKERS or emotion.capitalize() not in EMOTIONS or not number:
                yield self.fail(
                    key,
                    "mislabelled",
                    f"{posixpath.basename(folder)}/{name}.wav: unknown speaker/emotion or no sentence number",
                )
                continue
            sentence_id = f"arctic_a{number.group(1)}"
            yield SourceItem(
                key=key,
                uri=path,
                dataset="emov-db",
                source_id=f"{speaker}/{emotion}/{name}",
                language="en",
                transcript=prompts.get(sentence_id),
                speaker_id=speaker.lower(),
                gender=SPEAKERS[speaker.lower()],
                emotion=normalize_emotion(emotion),
                labels=("speech",),
                license=LICENSE,
                extra={"emotion_label": emotion.lower(), "sentence_id": sentence_id},
            )
