"""AudioSet: 10-s YouTube segments with labels from a 527-class ontology (Gemmeke et al. 2017).

Layout: the segment CSVs and class index as Google publishes them, plus the audio you
downloaded, anywhere under INPUT, named by YouTube id (``<id>.wav``, ``Y<id>.wav``,
``Y<id>_30.000_40.000.wav``, ``<id>_<start>.flac``, ...)::

    balanced_train_segments.csv  unbalanced_train_segments.csv  eval_segments.csv
        "# ..." comment lines, then  YTID, start_seconds, end_seconds, "/m/09x0r,/m/05zppz"
    class_labels_indices.csv     index,mid,display_name
    audio/**/<youtube id>[...].{wav,flac,m4a,opus,webm,mp4}

balanced/unbalanced train -> train, eval -> test. Labels become their display names
("Dog", "Bark" -> "The sound of dog and bark"). The segment CSVs (2 M rows) and the file
listing are read and joined by Beam.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import apache_beam as beam

from pipelines.sources.common import (
    DatasetSource,
    any_match,
    failure,
    join,
    join_media_by_youtube_id,
    label_phrase,
    limit_items,
    pick_media,
    read_table,
    youtube_origin,
)
from schemas import Failure, SourceItem, make_key

LICENSE = "AudioSet labels: CC BY 4.0 (Google); audio: YouTube (per-video terms)"
SEGMENT_FILES = {"balanced_train_segments": "train", "unbalanced_train_segments": "train", "eval_segments": "test"}


def parse_segment(line: str, subset: str) -> Iterator[tuple[str, dict]]:
    if not line.strip() or line.lstrip().startswith("#"):
        return
    fields = next(csv.reader([line], skipinitialspace=True))
    if len(fields) >= 4:
        yield (
            fields[0].strip(),
            {
                "start": fields[1],
                "end": fields[2],
                "mids": [m.strip() for m in fields[3].split(",") if m.strip()],
                "subset": subset,
            },
        )


def phrase(name: str) -> str:
    words = label_phrase(name)
    return "a person speaking" if words == "speech" else words


def make_items(ytid: str, rows: list[dict], paths: list[str], names: dict[str, str]) -> Iterator[SourceItem | Failure]:
    row = sorted(rows, key=lambda r: (r["subset"] != "eval_segments", r["subset"], r["start"]))[0]
    key = make_key("audioset", ytid, str(int(float(row["start"] or 0))))
    path = pick_media(paths, float(row["start"] or 0))
    if path is None:
        yield failure(key, "audioset", "missing_file", f"no downloaded audio named by YouTube id {ytid}")
        return
    unknown = [m for m in row["mids"] if m not in names]
    if unknown or not row["mids"]:
        yield failure(key, "audioset", "mislabelled", f"labels not in class_labels_indices.csv: {unknown or 'none'}")
        return
    start, end = float(row["start"] or 0), float(row["end"] or 0)
    yield SourceItem(
        key=key,
        uri=path,
        dataset="audioset",
        source_id=f"{ytid}/{row['start']}",
        labels=tuple(phrase(names[m]) for m in row["mids"]),
        split=SEGMENT_FILES[row["subset"]],
        license=LICENSE,
        duration_hint_s=round(end - start, 3) if end > start else None,
        extra={"youtube_id": ytid, "start_s": start, "end_s": end, "mids": row["mids"], "subset": row["subset"]},
        origin=youtube_origin(ytid, start),
    )


class AudioSetSource(DatasetSource):
    name = "audioset"
    description = "AudioSet: YouTube segments (downloaded by id) with labels from the 527-class ontology"
    layout = "{balanced_train,unbalanced_train,eval}_segments.csv + class_labels_indices.csv + audio files named by YouTube id"
    markers = ("class_labels_indices.csv", "*_segments.csv")

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"class": []}  # read from class_labels_indices.csv: see labels_of()

    def labels_of(self) -> dict[str, str]:
        return {
            r["mid"]: r["display_name"] for r in read_table(join(self.root, "class_labels_indices.csv")) if r.get("mid")
        }

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        names = self.labels_of()
        tables = [
            pipeline
            | f"audioset read {name}" >> beam.io.ReadFromText(join(self.root, f"{name}.csv"))
            | f"audioset parse {name}" >> beam.FlatMap(parse_segment, name)
            for name in SEGMENT_FILES
            if any_match(join(self.root, f"{name}.csv"))
        ]
        keyed = tables | "audioset rows" >> beam.Flatten()
        records = join_media_by_youtube_id(
            pipeline, "audioset", keyed, self.root, lambda i, r, p: make_items(i, r, p, names)
        )
        return limit_items(records, self.settings.limit, "audioset")
