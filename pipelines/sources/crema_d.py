"""CREMA-D: 7,442 clips of 91 actors speaking 12 sentences in six emotions (Cao et al. 2014).

Layout, as the GitHub / Kaggle distribution unpacks (INPUT is ``CREMA-D/`` or the folder holding it)::

    CREMA-D/
      AudioWAV/<ActorID>_<Sentence>_<Emotion>_<Intensity>.wav     e.g. 1001_DFA_ANG_XX.wav
      VideoDemographics.csv      ActorID,Age,Sex,Race,Ethnicity   (optional: gender and age)

Sentence codes are the 12 scripted sentences below; emotions ANG, DIS, FEA, HAP, NEU, SAD;
intensity LO, MD, HI or XX (unspecified). Caption: "A woman saying 'It's eleven o'clock' in an
angry voice". A file whose name doesn't follow the convention is recorded as mislabelled.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, glob, join, read_table, stem
from schemas import Failure, SourceItem, make_key
from schemas.vocab import normalize_age_group, normalize_gender

LICENSE = "Open Database License / Database Contents License (CREMA-D, Cao et al. 2014)"
SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
EMOTIONS = {"ANG": "angry", "DIS": "disgusted", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
INTENSITIES = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}


class CremaDSource(DatasetSource):
    name = "crema-d"
    description = "CREMA-D: acted emotional English speech (6 emotions, 4 intensities), actor sex and age"
    layout = "AudioWAV/<actor>_<sentence>_<emotion>_<intensity>.wav + VideoDemographics.csv"
    markers = ("AudioWAV/*_*_*_*.wav",)

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {
            "emotion": sorted(set(EMOTIONS.values())),
            "intensity": sorted(set(INTENSITIES.values())),
            "language": ["en"],
        }

    def items(self) -> Iterator[SourceItem | Failure]:
        demographics_path = join(self.root, "VideoDemographics.csv")
        actors = (
            {r.get("ActorID", ""): r for r in read_table(demographics_path)} if any_match(demographics_path) else {}
        )
        for path in glob(join(self.root, "AudioWAV", "*.wav")):
            name = stem(path)
            key = make_key("cremad", name)
            parts = name.split("_")
            if len(parts) != 4 or parts[1] not in SENTENCES or parts[2] not in EMOTIONS or parts[3] not in INTENSITIES:
                yield self.fail(key, "mislabelled", f"{name}.wav is not <actor>_<sentence>_<emotion>_<intensity>")
                continue
            actor, sentence, emotion, intensity = parts
            demographics = actors.get(actor, {})
            yield SourceItem(
                key=key,
                uri=path,
                dataset="crema-d",
                source_id=name,
                language="en",
                transcript=SENTENCES[sentence],
                speaker_id=actor,
                gender=normalize_gender(demographics.get("Sex")),
                age=normalize_age_group(demographics.get("Age")),
                emotion=EMOTIONS[emotion],
                emotion_intensity=INTENSITIES[intensity],
                labels=("speech",),
                license=LICENSE,
                extra={k.lower(): demographics[k] for k in ("Race", "Ethnicity") if demographics.get(k)},
            )
