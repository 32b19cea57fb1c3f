"""RAVDESS: 24 actors (12 female, 12 male) speaking and singing two statements in 8 emotions.

Layout, as the Zenodo archives (``Audio_Speech_Actors_01-24.zip``, ``Audio_Song_Actors_01-24.zip``,
``Video_*_Actor_NN.zip``) unpack (INPUT holds the ``Actor_NN`` folders)::

    Actor_01/03-01-06-01-02-01-01.wav       (audio-only .wav; full-AV .mp4)

The seven two-digit fields: modality (01 full-AV, 02 video-only, 03 audio-only), vocal channel
(01 speech, 02 song), emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful,
07 disgust, 08 surprised), intensity (01 normal, 02 strong), statement (01 "Kids are talking
by the door", 02 "Dogs are sitting by the door"), repetition (01, 02), actor (01-24; odd
numbers male, even female). Video-only files have no audio and are recorded as failures.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, glob, join, stem
from schemas import Failure, SourceItem, make_key

LICENSE = "CC BY-NC-SA 4.0 (RAVDESS, Livingstone and Russo 2018)"
MODALITIES = {"01": "full-AV", "02": "video-only", "03": "audio-only"}
CHANNELS = {"01": "speech", "02": "song"}
EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgusted",
    "08": "surprised",
}
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}


class RavdessSource(DatasetSource):
    name = "ravdess"
    description = "RAVDESS: acted emotional speech and song (8 emotions, 2 intensities), actor sex from the file name"
    layout = "Actor_NN/<modality>-<channel>-<emotion>-<intensity>-<statement>-<repetition>-<actor>.{wav,mp4}"
    markers = ("Actor_*/*-*-*-*-*-*-*.*",)

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"emotion": list(EMOTIONS.values()), "intensity": list(INTENSITIES.values()), "language": ["en"]}

    def items(self) -> Iterator[SourceItem | Failure]:
        for path in glob(join(self.root, "Actor_*", "*-*-*-*-*-*-*.*")):
            name, folder = stem(path), posixpath.basename(posixpath.dirname(path))
            key = make_key("ravdess", name)
            fields = name.split("-")
            valid = (
                len(fields) == 7
                and fields[0] in MODALITIES
                and fields[1] in CHANNELS
                and fields[2] in EMOTIONS
                and fields[3] in INTENSITIES
                and fields[4] in STATEMENTS
                and fields[5] in ("01", "02")
                and fields[6].isdigit()
                and folder == f"Actor_{fields[6]}"
            )
            if not valid:
                yield self.fail(
                    key, "mislabelled", f"{folder}/{posixpath.basename(path)} does not follow the RAVDESS naming"
                )
                continue
            modality, channel, emotion, intensity, statement, repetition, actor = fields
            if modality == "02":
                yield self.fail(key, "no_audio", "video-only file (modality 02) has no audio track")
                continue
            yield SourceItem(
                key=key,
                uri=path,
                dataset="ravdess",
                source_id=name,
                language="en",
                transcript=STATEMENTS[statement],
                speaker_id=f"actor{actor}",
                gender="male" if int(actor) % 2 else "female",
                emotion=EMOTIONS[emotion],
                emotion_intensity=INTENSITIES[intensity],
                labels=("speech",) if channel == "01" else ("singing",),
                license=LICENSE,
                extra={
                    "modality": MODALITIES[modality],
                    "vocal_channel": CHANNELS[channel],
                    "repetition": int(repetition),
                }
                | ({"video": True} if modality == "01" else {}),
            )
