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


STORY: dict[str, list[str]] = {
    "en": [
        "The train left the station a few minutes after seven.",
        "My neighbour grows tomatoes, beans and tall yellow flowers in her garden.",
        "We should have taken the road through the forest instead of the highway.",
        "The museum will close early on Friday because of the public holiday.",
        "A small boat was drifting slowly towards the rocks near the lighthouse.",
        "She wrote a long letter to her brother who lives on the other side of the world.",
        "The teacher asked the class to read the first chapter before Monday.",
        "Fresh snow covered the mountains, and the valley below was silent.",
        "He forgot his umbrella at the cafe and walked home in the rain.",
        "The market sells cheese, honey and warm bread every Saturday morning.",
        "Our team finished the project two days before the deadline.",
        "The old clock in the hall stopped at a quarter past three.",
        "Please turn off the lights when you leave the office tonight.",
        "The doctor said that a short walk every day would help her recover.",
        "Birds were singing in the trees while the farmer fed the horses.",
        "The bridge over the river was built more than two hundred years ago.",
    ],
    "fr": [
        "Le train est parti de la gare quelques minutes après sept heures.",
        "Ma voisine cultive des tomates, des haricots et de grandes fleurs jaunes.",
        "Nous aurions dû prendre la route de la forêt plutôt que l'autoroute.",
        "Le musée fermera plus tôt vendredi à cause du jour férié.",
        "Un petit bateau dérivait lentement vers les rochers près du phare.",
        "Elle a écrit une longue lettre à son frère qui habite à l'autre bout du monde.",
        "Le professeur a demandé à la classe de lire le premier chapitre avant lundi.",
        "La neige fraîche couvrait les montagnes et la vallée restait silencieuse.",
        "Il a oublié son parapluie au café et il est rentré sous la pluie.",
        "Le marché vend du fromage, du miel et du pain chaud tous les samedis.",
        "Notre équipe a terminé le projet deux jours avant la date prévue.",
        "La vieille horloge du couloir s'est arrêtée à trois heures et quart.",
        "Éteignez les lumières quand vous quittez le bureau ce soir.",
        "Le médecin a dit qu'une courte promenade chaque jour l'aiderait à guérir.",
        "Les oiseaux chantaient dans les arbres pendant que le fermier nourrissait les chevaux.",
        "Le pont sur la rivière a été construit il y a plus de deux cents ans.",
    ],
    "de": [
        "Der Zug verließ den Bahnhof ein paar Minuten nach sieben Uhr.",
        "Meine Nachbarin pflanzt Tomaten, Bohnen und hohe gelbe Blumen in ihrem Garten.",
        "Wir hätten die Straße durch den Wald statt der Autobahn nehmen sollen.",
        "Das Museum schließt am Freitag früher wegen des Feiertags.",
        "Ein kleines Boot trieb langsam auf die Felsen beim Leuchtturm zu.",
        "Sie schrieb ihrem Bruder, der am anderen Ende der Welt wohnt, einen langen Brief.",
        "Die Lehrerin bat die Klasse, das erste Kapitel vor Montag zu lesen.",
        "Frischer Schnee bedeckte die Berge, und das Tal darunter war still.",
        "Er vergaß seinen Regenschirm im Café und ging im Regen nach Hause.",
        "Der Markt verkauft jeden Samstagmorgen Käse, Honig und warmes Brot.",
        "Unser Team hat das Projekt zwei Tage vor dem Termin abgeschlossen.",
        "Die alte Uhr im Flur blieb um Viertel nach drei stehen.",
        "Bitte mach das Licht aus, wenn du heute Abend das Büro verlässt.",
        "Der Arzt sagte, dass ein kurzer Spaziergang jeden Tag ihr helfen würde.",
        "Die Vögel sangen in den Bäumen, während der Bauer die Pferde fütterte.",
        "Die Brücke über den Fluss wurde vor mehr als zweihundert Jahren gebaut.",
    ],
}
"""Sentences of the long recordings: with :data:`PARAGRAPHS`', each said once per recording."""


@functools.cache
def recording(language: str, variant: str = "m1"):
    """(text, audio at 48 kHz, true word timings) of one long continuous recording: every sentence
    of the language (:data:`PARAGRAPHS` and :data:`STORY`) once, interleaved (2-3 minutes)."""
    import soxr

    from transforms.tts import synthesize

    story = [sentence for paragraph in PARAGRAPHS[language] for sentence in _sentences(paragraph)]
    extra = STORY[language]
    text = (
        " ".join(s for pair in zip(story, extra) for s in pair)
        + " "
        + " ".join(story[len(extra) :] + extra[len(story) :])
    )
    speech = synthesize(text.strip(), language, variant=variant)
    audio = soxr.resample(speech.audio, speech.sample_rate, SAMPLE_RATE).astype(np.float32)
    return text, audio, speech.words


def _sentences(paragraph: str) -> list[str]:
    out, current = [], []
    for token in paragraph.split():
        current.append(token)
        if token.endswith((".", "!", "?")):
            out.append(" ".join(current))
            current = []
    return out + ([" ".join(current)] if current else [])


def web_windows(language: str, window_s: float, offset_s: float = 0.37, variant: str = "m1"):
    """Fixed windows of ``window_s`` cut from :func:`recording` from ``offset_s`` on, as web clips
    are cut: through words, not between them. Each is (48 kHz audio, true words whose midpoint
    lies inside it, with times relative to the window, how many words the cuts went through)."""
    _, audio, words = recording(language, variant)
    size = int(window_s * SAMPLE_RATE)
    out = []
    for first in range(int(offset_s * SAMPLE_RATE), len(audio) - size + 1, size):
        start, end = first / SAMPLE_RATE, (first + size) / SAMPLE_RATE
        inside = tuple(
            WordAlignment(w.word, round(w.start_s - start, 3), w.duration_s)
            for w in words
            if start <= w.start_s + w.duration_s / 2 < end
        )
        cut = sum(1 for w in words if w.start_s < start < w.end_s or w.start_s < end < w.end_s)
        out.append((audio[first : first + size], inside, cut))
    return out
