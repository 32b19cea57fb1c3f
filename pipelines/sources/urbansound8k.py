"""UrbanSound8K: 8,732 urban sound excerpts (<= 4 s) in 10 classes, 10 folds (Salamon et al. 2014).

Layout, as ``UrbanSound8K.tar.gz`` unpacks (INPUT is ``UrbanSound8K/`` or the folder holding it)::

    UrbanSound8K/
      metadata/UrbanSound8K.csv   slice_file_name,fsID,start,end,salience,fold,classID,class
      audio/fold<N>/<fsID>-<classID>-<occurrence>-<slice>.wav

Fold ``--source-option test_fold=N`` (default 10) is the test split, the others train
(``none``: hashed). Salience 1 = foreground, 2 = background.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, freesound_origin, join, label_phrase, read_table
from pipelines.sources.esc50 import fold_split
from schemas import Failure, SourceItem, make_key

LICENSE = "CC BY-NC 3.0 (UrbanSound8K, Salamon, Jacoby and Bello 2014; clips from Freesound)"
PHRASES = {
    "air_conditioner": "an air conditioner", "car_horn": "a car horn", "children_playing": "children playing",
    "dog_bark": "a dog barking", "drilling": "drilling", "engine_idling": "an engine idling", "gun_shot": "a gun shot",
    "jackhammer": "a jackhammer", "siren": "a siren", "street_music": "street music",
}  # fmt: skip
SALIENCE = {"1": "foreground", "2": "background"}


class UrbanSound8KSource(DatasetSource):
    name = "urbansound8k"
    description = "UrbanSound8K: 8,732 urban sound clips in 10 classes (10 folds)"
    layout = "UrbanSound8K/{metadata/UrbanSound8K.csv, audio/fold<N>/*.wav}"
    markers = ("metadata/UrbanSound8K.csv", "audio/fold*")

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"class": sorted(PHRASES), "prompt": [PHRASES[c] for c in sorted(PHRASES)]}

    def items(self) -> Iterator[SourceItem | Failure]:
        test_fold = self.option.get("test_fold", "10")
        for number, row in enumerate(read_table(join(self.root, "metadata", "UrbanSound8K.csv")), start=1):
            filename, category, fold = row.get("slice_file_name", ""), row.get("class", ""), row.get("fold", "")
            key = make_key("us8k", filename.rsplit(".", 1)[0] or f"row{number}")
            if not filename or not category or not fold:
                yield self.fail(key, "bad_row", f"UrbanSound8K.csv row {number} lacks slice_file_name, class or fold")
                continue
            parts = filename.split("-")
            if len(parts) < 2 or parts[1] != row.get("classID"):
                yield self.fail(
                    key, "mislabelled", f"{filename}: class id in the name disagrees with classID {row.get('classID')}"
                )
                continue
            uri = self.safe_path(key, f"audio/fold{fold}/{filename}")
            start, end = float(row.get("start") or 0), float(row.get("end") or 0)
            yield self.item(
                key=key,
                uri=uri,
                dataset="urbansound8k",
                source_id=filename,
                labels=(PHRASES.get(category, label_phrase(category)),),
                split=fold_split(fold, test_fold),
                license=LICENSE,
                duration_hint_s=round(end - start, 3) if end > start else None,
                extra={
                    "class": category,
                    "fold": int(fold),
                    "salience": SALIENCE.get(row.get("salience", ""), ""),
                    "freesound_id": row.get("fsID", ""),
                },
                origin=freesound_origin(row.get("fsID")),
            )
