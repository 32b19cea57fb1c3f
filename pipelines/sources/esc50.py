"""ESC-50: 2,000 five-second environmental recordings in 50 classes (Piczak 2015).

Layout, as the GitHub archive ``ESC-50-master.zip`` unpacks (INPUT is ``ESC-50-master/`` or
the folder holding it)::

    ESC-50-master/
      audio/<fold>-<freesound id>-<take>-<target>.wav      e.g. audio/1-100032-A-0.wav
      meta/esc50.csv     filename,fold,target,category,esc10,src_file,take

The five folds are for cross-validation: fold ``--source-option test_fold=N`` (default 5) is
the test split, the others train (``test_fold=none``: hashed splits). Each class becomes a
phrase for the caption ("dog" -> "The sound of a dog barking"); the class name is a tag.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, freesound_origin, join, label_phrase, read_table
from schemas import Failure, SourceItem, make_key

LICENSE = "CC BY-NC 3.0 (ESC-50, Piczak 2015; clips from Freesound)"
PHRASES = {
    "dog": "a dog barking", "rooster": "a rooster crowing", "pig": "a pig oinking", "cow": "a cow mooing",
    "frog": "a frog croaking", "cat": "a cat meowing", "hen": "a hen clucking", "insects": "insects buzzing",
    "sheep": "a sheep bleating", "crow": "a crow cawing", "rain": "rain", "sea_waves": "sea waves",
    "crackling_fire": "a crackling fire", "crickets": "crickets chirping", "chirping_birds": "birds chirping",
    "water_drops": "water dripping", "wind": "wind blowing", "pouring_water": "water pouring",
    "toilet_flush": "a toilet flushing", "thunderstorm": "a thunderstorm", "crying_baby": "a baby crying",
    "sneezing": "someone sneezing", "clapping": "clapping", "breathing": "someone breathing",
    "coughing": "someone coughing", "footsteps": "footsteps", "laughing": "someone laughing",
    "brushing_teeth": "someone brushing teeth", "snoring": "someone snoring", "drinking_sipping": "someone drinking",
    "door_wood_knock": "a knock on a wooden door", "mouse_click": "a mouse clicking", "keyboard_typing": "typing on a keyboard",
    "door_wood_creaks": "a wooden door creaking", "can_opening": "a can opening", "washing_machine": "a washing machine",
    "vacuum_cleaner": "a vacuum cleaner", "clock_alarm": "an alarm clock ringing", "clock_tick": "a clock ticking",
    "glass_breaking": "glass breaking", "helicopter": "a helicopter", "chainsaw": "a chainsaw", "siren": "a siren",
    "car_horn": "a car horn", "engine": "an engine running", "train": "a train", "church_bells": "church bells ringing",
    "airplane": "an airplane", "fireworks": "fireworks", "hand_saw": "a hand saw sawing",
}  # fmt: skip


def fold_split(fold: str, test_fold: str) -> str | None:
    if test_fold.lower() == "none":
        return None
    return "test" if fold == test_fold else "train"


class ESC50Source(DatasetSource):
    name = "esc50"
    description = "ESC-50: 2,000 environmental sound clips in 50 classes (5 folds)"
    layout = "ESC-50-master/{meta/esc50.csv, audio/<fold>-<id>-<take>-<target>.wav}"
    markers = ("meta/esc50.csv", "audio")

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"class": sorted(PHRASES), "prompt": [PHRASES[c] for c in sorted(PHRASES)]}

    def items(self) -> Iterator[SourceItem | Failure]:
        test_fold = self.option.get("test_fold", "5")
        for number, row in enumerate(read_table(join(self.root, "meta", "esc50.csv")), start=1):
            filename, category = row.get("filename", ""), row.get("category", "")
            key = make_key("esc50", filename.rsplit(".", 1)[0] or f"row{number}")
            if not filename or not category:
                yield self.fail(key, "bad_row", f"esc50.csv row {number} lacks filename or category")
                continue
            parts = filename.rsplit(".", 1)[0].split("-")
            if len(parts) != 4 or parts[0] != row.get("fold") or parts[3] != row.get("target"):
                yield self.fail(
                    key,
                    "mislabelled",
                    f"{filename}: fold/target in the name disagree with esc50.csv ({row.get('fold')}, {row.get('target')})",
                )
                continue
            uri = self.safe_path(key, f"audio/{filename}")
            yield self.item(
                key=key,
                uri=uri,
                dataset="esc50",
                source_id=filename,
                labels=(PHRASES.get(category, label_phrase(category)),),
                split=fold_split(row.get("fold", ""), test_fold),
                license=LICENSE,
                duration_hint_s=5.0,
                extra={
                    "class": category,
                    "fold": int(row.get("fold") or 0),
                    "esc10": row.get("esc10") == "True",
                    "freesound_id": row.get("src_file", ""),
                },
                origin=freesound_origin(parts[1]),
            )
