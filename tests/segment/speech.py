"""Test speech: espeak-ng paragraphs with true word timings, as 48 kHz samples of the shard step."""

from __future__ import annotations

import functools

import numpy as np

from schemas import SAMPLE_RATE, Segment, SourceItem, WordAlignment
from transforms.stage import Sample

PARAGRAPHS: dict[str, list[str]] = {
    "en": [
        "The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single step. "
        "Knowledge is power, and power is the ability to act. We walked along the river until the sun went down "
        "behind the hills. Nobody knew where the old road would lead them.",
        "Every morning the baker opens his shop before dawn. He bakes bread, rolls and small cakes for the whole "
        "village. Children stop by on their way to school to buy something sweet. In the afternoon he rests in "
        "the garden behind the house. At night he reads old books about distant countries and the sea.",
        "The library was quiet except for the sound of turning pages. A student searched for a book about "
        "ancient history. The librarian pointed to a shelf near the window. Outside, the rain fell softly on "
        "the roofs of the city. When the lights went out, everyone waited calmly for the power to return.",
    ],
    "fr": [
        "Le petit chat dort sur le canapé du salon. Ma grand-mère prépare une soupe de légumes pour le dîner. "
        "Nous partirons en vacances au bord de la mer au mois de juillet. Les enfants jouent dans le jardin "
        "pendant que les parents discutent. Demain, il fera beau et chaud dans tout le pays.",
        "La bibliothèque de la ville ouvre ses portes à neuf heures. Les étudiants viennent y travailler en "
        "silence toute la journée. Le soir, la place du marché se remplit de musique et de lumière. Un vieux "
        "pêcheur raconte des histoires de tempêtes et de bateaux perdus.",
    ],
    "de": [
        "Der Hund schläft im Garten unter dem großen Baum. Meine Schwester kocht heute Abend eine Suppe für die "
        "ganze Familie. Im Sommer fahren wir mit dem Zug an die Nordsee. Die Kinder spielen draußen, während die "
        "Eltern im Haus Kaffee trinken. Morgen wird es sonnig und warm im ganzen Land.",
        "Die Bibliothek der Stadt öffnet jeden Morgen um neun Uhr. Viele Studenten arbeiten dort den ganzen Tag "
        "in aller Ruhe. Am Abend füllt sich der Marktplatz mit Musik und Licht. Ein alter Fischer erzählt "
        "Geschichten von Stürmen und verlorenen Schiffen.",
    ],
}


@functools.cache
def paragraph(language: str, index: int = 0, variant: str = "m1"):
    """(text, audio at 48 kHz, true word timings) of one paragraph."""
    import soxr

    from transforms.tts import synthesize

    text = PARAGRAPHS[language][index]
    speech = synthesize(text, language, variant=variant)
    audio = soxr.resample(speech.audio, speech.sample_rate, SAMPLE_RATE).astype(np.float32)
    return text, audio, speech.words


def make_sample(
    key: str,
    audio: np.ndarray,
    language: str = "en",
    transcript: str | None = None,
    words: tuple[WordAlignment, ...] = (),
) -> Sample:
    item = SourceItem(
        key=key,
        uri=f"demo://{key}",
        dataset="test",
        source_id=key,
        language=language,
        transcript=transcript,
        words=words,
    )
    duration = len(audio) / SAMPLE_RATE
    segment = Segment(
        source_key=key,
        index=0,
        start_s=0.0,
        duration_s=duration,
        transcript=transcript,
        words=words,
    )
    return Sample(item=item, audio=audio, segment=segment, source_duration_s=duration)
