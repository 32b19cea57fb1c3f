"""VGGSound: 200k 10-s YouTube video clips in 309 classes (Chen et al. 2020).

Layout: ``vggsound.csv`` as published (no header: ``YouTube ID,start seconds,label,split``)
plus the clips you downloaded, anywhere under INPUT, named by YouTube id and start
(``<id>_<start:06d>.mp4``, ``<id>_<start>.wav``, ``<id>.mp4``)::

    vggsound.csv          ---g-f_I2yQ,1,people marching,test
    video/**/<id>_000001.mp4   (or audio/**/... )

Items are videos (``extra["video"] = True``) for the visual stage; the audio track is what is
decoded until that stage exists. train -> train, test -> test. Rows and files are joined by Beam.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import apache_beam as beam

from pipelines.sources.common import (
    DatasetSource,
    failure,
    join,
    join_media_by_youtube_id,
    limit_items,
    pick_media,
    youtube_origin,
)
from schemas import Failure, SourceItem, make_key
from schemas.media import is_video_path

LICENSE = "VGGSound annotations: CC BY 4.0 (VGG, Oxford); video: YouTube (per-video terms)"


def parse_row(line: str) -> Iterator[tuple[str, dict]]:
    fields = next(csv.reader([line])) if line.strip() else []
    if len(fields) >= 4 and not fields[0].startswith("#"):
        yield fields[0].strip(), {"start": fields[1].strip(), "label": fields[2].strip(), "split": fields[3].strip()}


def make_items(ytid: str, rows: list[dict], paths: list[str]) -> Iterator[SourceItem | Failure]:
    for row in sorted(rows, key=lambda r: r["start"]):
        start = int(float(row["start"] or 0))
        key = make_key("vggsound", ytid, f"{start:06d}")
        path = pick_media(paths, float(start))
        if path is None:
            yield failure(
                key, "vggsound", "missing_file", f"no downloaded clip named by YouTube id {ytid} at {start} s"
            )
            continue
        yield SourceItem(
            key=key,
            uri=path,
            dataset="vggsound",
            source_id=f"{ytid}/{start}",
            labels=(row["label"],),
            split="test" if row["split"] == "test" else "train",
            license=LICENSE,
            duration_hint_s=10.0,
            extra={
                "youtube_id": ytid,
                "start_s": start,
                "video": is_video_path(path),
            },
            origin=youtube_origin(ytid, start),
        )


class VGGSoundSource(DatasetSource):
    name = "vggsound"
    description = "VGGSound: YouTube video clips (downloaded by id) in 309 audio-visual classes"
    layout = "vggsound.csv (id,start,label,split; no header) + clips named <id>_<start>.{mp4,wav,...}"
    markers = ("vggsound.csv",)

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        keyed = (
            pipeline
            | "vggsound read" >> beam.io.ReadFromText(join(self.root, "vggsound.csv"))
            | "vggsound parse" >> beam.FlatMap(parse_row)
        )
        records = join_media_by_youtube_id(pipeline, "vggsound", keyed, self.root, make_items)
        return limit_items(records, self.settings.limit, "vggsound")
