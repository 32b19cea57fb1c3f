"""Berlin Database of Emotional Speech (Emo-DB): 10 actors, 10 German sentences, 7 emotions.

Layout, as ``download.zip`` unpacks (INPUT holds ``wav/``; ``lablaut/``, ``silb/`` etc. are ignored)::

    wav/03a01Fa.wav      speaker (03) · text code (a01) · emotion letter (F) · version (a)

Emotion letters (German): W Ärger/Wut (anger), L Langeweile (boredom), E Ekel (disgust),
A Angst (fear), F Freude (happiness), T Trauer (sadness), N neutral. Speakers, sex and age
from the corpus documentation. Transcripts are German; the captions' templates are English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, glob, join, stem
from schemas import Failure, SourceItem, make_key
from schemas.vocab import normalize_age_group, normalize_emotion

LICENSE = "Free for research (Emo-DB, Burkhardt et al. 2005, TU Berlin)"
SPEAKERS = {"03": ("male", 31), "08": ("female", 34), "09": ("female", 21), "10": ("male", 32), "11": ("male", 26),
            "12": ("male", 30), "13": ("female", 32), "14": ("female", 35), "15": ("male", 25), "16": ("female", 31)}  # fmt: skip
TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}
# The corpus' emotion names on the words our vocabulary knows ("boredom" -> "bored", not "sleepy").
VOCABULARY_WORDS = {"boredom": "bored"}
NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


def emotion_of(name: str) -> str:
    """An Emo-DB emotion name on the shared vocabulary."""
    word = VOCABULARY_WORDS.get(name, name)
    return normalize_emotion(word) or word


class EmoDBSource(DatasetSource):
    name = "emodb"
    description = "Berlin Emo-DB: acted emotional German speech (7 emotions), speaker sex and age"
    layout = "wav/<speaker><text><emotion><version>.wav, e.g. wav/03a01Fa.wav"
    markers = ("wav/[0-9][0-9][ab][0-9][0-9]?[a-z].wav",)

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"emotion": sorted({emotion_of(e) for e in EMOTIONS.values()}), "language": ["de"]}

    def items(self) -> Iterator[SourceItem | Failure]:
        for path in glob(join(self.root, "wav", "*.wav")):
            name = stem(path)
            key = make_key("emodb", name)
            match = NAME.match(name)
            if (
                not match
                or match.group(1) not in SPEAKERS
                or match.group(2) not in TEXTS
                or match.group(3) not in EMOTIONS
            ):
                yield self.fail(key, "mislabelled", f"{name}.wav is not <speaker><text><emotion><version>")
                continue
            speaker, text_code, letter, version = match.groups()
            gender, age = SPEAKERS[speaker]
            yield SourceItem(
                key=key,
                uri=path,
                dataset="emodb",
                source_id=name,
                language="de",
                transcript=TEXTS[text_code],
                speaker_id=speaker,
                gender=gender,
                age=normalize_age_group(age),
                emotion=emotion_of(EMOTIONS[letter]),
                labels=("speech",),
                license=LICENSE,
                extra={"emotion_label": EMOTIONS[letter], "text_code": text_code, "version": version},
            )
