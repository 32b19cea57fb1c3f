"""AudioCaps: 10-s AudioSet clips with human captions (Kim et al. 2019); one per train clip, five
per validation/test clip.

Layout: the caption CSVs of the AudioCaps repository plus the audio you downloaded from
YouTube, anywhere under INPUT, named either by YouTube id (``<id>.wav``, ``Y<id>.wav``,
``<id>_<start>.flac``: aac-datasets, audioset-style tools) or by AudioCaps id, as the widely
used ``audiocaps-download`` package writes them (``<split>/<audiocap_id>.<ext>``, one copy per
caption row, ``.ogg`` by default)::

    dataset/train.csv  dataset/val.csv  dataset/test.csv   audiocap_id,youtube_id,start_time,caption
    audio/**/<youtube id>[...].{wav,flac,mp3,m4a,opus,ogg,webm,mp4}
    {train,val,test}/<audiocap_id>.{ogg,wav,mp3,m4a}

train -> train, val -> valid, test -> test. All captions of a clip are kept as human captions;
a clip's audio is the file named by the smallest of its rows' AudioCaps ids, else by its YouTube
id. Clips whose audio was not downloaded are recorded as missing. Rows and the file listing are
joined by Beam (no list of files in the launcher).
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io import fileio

from pipelines.sources.common import (
    MEDIA_EXTENSIONS,
    DatasetSource,
    any_match,
    failure,
    header_of,
    join,
    limit_items,
    pick_media,
    read_rows,
    stem,
    youtube_id,
    youtube_origin,
)
from schemas import Failure, SourceItem, make_key

LICENSE = "AudioCaps captions: MIT; audio: YouTube (per-video terms), via AudioSet (CC BY 4.0 labels)"
CSV_SPLITS = {"train": "train", "val": "valid", "test": "test"}


def media_keys(path: str) -> list[tuple[str, str]]:
    """How a downloaded file can be found: ("cap", audiocap_id) for ``123.ogg``, ("yt", id) by YouTube id."""
    if not path.lower().endswith(MEDIA_EXTENSIONS):
        return []
    name, ytid = stem(path), youtube_id(path)
    return ([("cap", name)] if name.isdigit() else []) + ([("yt", ytid)] if ytid else [])


def by_audiocap_id(paths: list[str], group: list[dict[str, str]]) -> str | None:
    """The file named by the smallest AudioCaps id among a clip's rows (the tool writes one per row)."""
    for row in sorted(
        group, key=lambda r: int(r.get("audiocap_id") or 0) if (r.get("audiocap_id") or "").isdigit() else 0
    ):
        for path in paths:
            if stem(path) == row.get("audiocap_id"):
                return path
    return None


def make_items(ytid: str, rows: list[dict[str, str]], paths: list[str]) -> Iterator[SourceItem | Failure]:
    by_start: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_start.setdefault(row.get("start_time", "0"), []).append(row)
    named_by_youtube = [p for p in paths if youtube_id(p) == ytid]
    for start, group in sorted(by_start.items()):
        key = make_key("audiocaps", ytid, start)
        path = by_audiocap_id(paths, group) or pick_media(named_by_youtube, float(start or 0))
        if path is None:
            yield failure(
                key, "audiocaps", "missing_file", f"no downloaded audio named by YouTube id {ytid} or AudioCaps id"
            )
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
            origin=youtube_origin(ytid, start),
        )


class AudioCapsSource(DatasetSource):
    name = "audiocaps"
    description = "AudioCaps: AudioSet clips (named by YouTube or AudioCaps id) with human captions"
    layout = (
        "[dataset/]{train,val,test}.csv (audiocap_id,youtube_id,start_time,caption) + audio named by YouTube id "
        "or <split>/<audiocap_id>.<ext> (audiocaps-download)"
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
        rows = tables | "audiocaps rows" >> beam.Flatten()
        files = (
            pipeline
            | "audiocaps ListMedia" >> fileio.MatchFiles(join(self.media_root, "**"), empty_match_treatment="ALLOW")
            | "audiocaps MediaKeys" >> beam.FlatMap(lambda m: [(k, m.path) for k in media_keys(m.path)])
        )
        # Files named by AudioCaps id reach their clip's YouTube id through the rows.
        by_cap = (
            {
                "ytid": rows
                | "audiocaps cap ids"
                >> beam.Map(lambda r: (("cap", r.get("audiocap_id", "")), r.get("youtube_id", ""))),
                "path": files,
            }
            | "audiocaps JoinCapIds" >> beam.CoGroupByKey()
            | "audiocaps CapFiles"
            >> beam.FlatMap(lambda kv: [(y, p) for y in set(kv[1]["ytid"]) for p in kv[1]["path"]])
        )
        by_yt = files | "audiocaps YtFiles" >> beam.FlatMap(lambda kv: [(kv[0][1], kv[1])] if kv[0][0] == "yt" else [])
        media = (by_cap, by_yt) | "audiocaps Media" >> beam.Flatten()
        records = (
            {"rows": rows | "audiocaps by id" >> beam.Map(lambda r: (r.get("youtube_id", ""), r)), "files": media}
            | "audiocaps JoinMedia" >> beam.CoGroupByKey()
            | "audiocaps MakeItems"
            >> beam.FlatMap(
                lambda kv: make_items(kv[0], list(kv[1]["rows"]), sorted(set(kv[1]["files"]))) if kv[1]["rows"] else []
            )
        )
        return limit_items(records, self.settings.limit, "audiocaps")
