"""AudioCaps: 10-s AudioSet clips with human captions (Kim et al. 2019); one per train clip, five
per validation/test clip.

Layout: the caption CSVs of the AudioCaps repository plus the audio you downloaded from
YouTube, anywhere under INPUT, named by YouTube id (``<id>.wav``, ``Y<id>.wav``,
``<id>_<start>.flac``, ...)::

    dataset/train.csv  dataset/val.csv  dataset/test.csv   audiocap_id,youtube_id,start_time,caption
    audio/**/<youtube id>[...].{wav,flac,mp3,m4a,opus,webm,mp4}

train -> train, val -> valid, test -> test. All captions of a clip are kept as human captions.
Clips whose audio was not downloaded are recorded as missing. Rows and the file listing are
joined by Beam (no list of files in the launcher).
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from pipelines.sources.common import (
    DatasetSource,
    any_match,
    failure,
    header_of,
    join,
    join_media_by_youtube_id,
    limit_items,
    pick_media,
    read_rows,
)
from schemas import Failure, SourceItem, make_key

LICENSE = "AudioCaps captions: MIT; audio: YouTube (per-video terms), via AudioSet (CC BY 4.0 labels)"
CSV_SPLITS = {"train": "train", "val": "valid", "test": "test"}


def make_items(ytid: str, rows: list[dict[str, str]], paths: list[str]) -> Iterator[SourceItem | Failure]:
    by_start: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_start.setdefault(row.get("start_time", "0"), []).append(row)
    for start, group in sorted(by_start.items()):
        key = make_key("audiocaps", ytid, start)
        path = pick_media(paths, float(start or 0))
        if path is None:
            yield failure(key, "audiocaps", "missing_file", f"no downloaded audio named by YouTube id {ytid}")
            continue
        captions = tuple(
            dict.fromkeys(
                r["caption"] for r in sorted(group, key=lambda r: r.get("audiocap_id", "")) if r.get("caption")
            )
        )
        yield SourceItem(
            key=key,
            uri=path,
            dataset="audiocaps",
            source_id=f"{ytid}/{start}",
            captions=captions,
            split=CSV_SPLITS.get(group[0].get("_csv", "")),
            license=LICENSE,
            duration_hint_s=10.0,
            extra={
                "youtube_id": ytid,
                "start_s": float(start or 0),
                "audiocap_ids": [r.get("audiocap_id", "") for r in group],
            },
        )


class AudioCapsSource(DatasetSource):
    name = "audiocaps"
    description = "AudioCaps: AudioSet clips (downloaded by YouTube id) with human captions"
    layout = (
        "[dataset/]{train,val,test}.csv (audiocap_id,youtube_id,start_time,caption) + audio files named by YouTube id"
    )
    markers = ("dataset/*.csv",)

    @classmethod
    def locate(cls, input_root: str) -> str | None:
        base = (input_root or "").rstrip("/")
        for folder in (join(base, "dataset"), base):
            csvs = [join(folder, f"{n}.csv") for n in CSV_SPLITS if any_match(join(folder, f"{n}.csv"))]
            if base and csvs and "audiocap_id" in header_of(csvs[0], ","):
                return folder
        return None

    @property
    def media_root(self) -> str:
        return (self.settings.input or "").rstrip("/")

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        tables = [
            read_rows(pipeline, f"audiocaps {name}", join(self.root, f"{name}.csv"))
            | f"audiocaps tag {name}" >> beam.Map(lambda r, n=name: {**r, "_csv": n})
            for name in CSV_SPLITS
            if any_match(join(self.root, f"{name}.csv"))
        ]
        keyed = (
            tables
            | "audiocaps rows" >> beam.Flatten()
            | "audiocaps by id" >> beam.Map(lambda r: (r.get("youtube_id", ""), r))
        )
        records = join_media_by_youtube_id(pipeline, "audiocaps", keyed, self.media_root, make_items)
        return limit_items(records, self.settings.limit, "audiocaps")
