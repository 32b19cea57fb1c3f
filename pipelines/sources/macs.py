"""MACS (Multi-Annotator Captioned Soundscapes): 3,930 TAU Urban Acoustic Scenes 2019 clips with
several human captions and tags each (Martín-Morató and Mesaros 2021).

Layout: ``MACS.yaml`` from Zenodo beside the TAU Urban Acoustic Scenes 2019 development audio
(INPUT holds both; the TAU archives unpack into ``TAU-urban-acoustic-scenes-2019-development/audio/``)::

    MACS.yaml     files: - filename: airport-lisbon-1000-40000-a.wav
                           annotations: - {annotator_id: 123, sentence: "...", tags: [adults_talking, ...]}
    TAU-urban-acoustic-scenes-2019-development/audio/<filename>     (or audio/<filename>)

Every sentence is a human caption; the annotators' tags (union) become labels; the acoustic
scene and city come from the file name (``<scene>-<city>-<location>-<segment>-<device>``).
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from pipelines.sources.common import DatasetSource, any_match, join, label_phrase, read_text
from schemas import Failure, SourceItem, make_key

LICENSE = "MACS annotations: CC BY 4.0; audio: TAU Urban Acoustic Scenes 2019 (non-commercial research license)"
AUDIO_FOLDERS = ("TAU-urban-acoustic-scenes-2019-development/audio", "audio", "")
SCENES = (
    "airport",
    "bus",
    "metro",
    "metro_station",
    "park",
    "public_square",
    "shopping_mall",
    "street_pedestrian",
    "street_traffic",
    "tram",
)


class MACSSource(DatasetSource):
    name = "macs"
    description = "MACS: TAU urban soundscapes with several human captions and tags per clip"
    layout = "MACS.yaml + TAU-urban-acoustic-scenes-2019-development/audio/*.wav"
    markers = ("MACS.yaml",)

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"scene": [label_phrase(s) for s in SCENES]}

    def _audio_folder(self) -> str:
        return next(
            (
                join(self.root, f) if f else self.root
                for f in AUDIO_FOLDERS
                if any_match(join(self.root, f, "*.wav") if f else join(self.root, "*.wav"))
            ),
            join(self.root, AUDIO_FOLDERS[0]),
        )

    def items(self) -> Iterator[SourceItem | Failure]:
        data = yaml.safe_load(read_text(join(self.root, "MACS.yaml"))) or {}
        folder = self._audio_folder()
        for number, entry in enumerate(data.get("files", []), start=1):
            filename = str(entry.get("filename", ""))
            key = make_key("macs", filename.rsplit(".", 1)[0] or f"entry{number}")
            annotations = entry.get("annotations") or []
            sentences = tuple(str(a["sentence"]).strip() for a in annotations if a.get("sentence"))
            if not filename or not sentences:
                yield self.fail(key, "bad_row", f"MACS.yaml entry {number} lacks filename or sentences")
                continue
            uri = self.safe_path(key, filename, base=folder)
            tags = sorted({str(t) for a in annotations for t in (a.get("tags") or [])})
            parts = filename.rsplit(".", 1)[0].split("-")
            yield self.item(
                key=key,
                uri=uri,
                dataset="macs",
                source_id=filename,
                labels=tuple(label_phrase(t) for t in tags),
                captions=sentences,
                license=LICENSE,
                duration_hint_s=10.0,
                extra={
                    "scene": parts[0] if parts else "",
                    "city": parts[1] if len(parts) > 1 else "",
                    "annotator_ids": [a.get("annotator_id") for a in annotations],
                },
            )
