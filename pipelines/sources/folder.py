"""Your own data: a folder of audio (or video) files, with or without a manifest.

Layout::

    INPUT/
      manifest.csv | manifest.tsv | manifest.jsonl | metadata.csv | metadata.tsv | metadata.jsonl
      any/sub/folders/clip.wav (.flac .mp3 .opus .ogg .m4a .webm .mp4 ...)
      any/sub/folders/clip.txt          optional transcript (only when there is no manifest)

With a manifest (or ``--source-option manifest=NAME``), each row is one recording. Standard
columns need no mapping: ``path`` (relative to INPUT), ``text`` (a human caption),
``transcript``, ``language``, ``gender``, ``age``, ``emotion``, ``intensity``, ``label``
(several separated by ``;`` or ``|``), ``speaker``, ``split``, ``license``. Other names are
mapped with ``--map path=file,text=caption,language=lang``; ``text=c1+c2`` takes several
caption columns. Human captions are English unless ``--source-option caption_language=xx``.

Without a manifest, every media file is one item: a ``<name>.txt`` beside it is its
transcript (in ``--lang``); otherwise its file name (or, for names like ``0001``, its
folder's name) becomes its label: ``dog_barking.wav`` -> "The sound of dog barking".

A local folder without a manifest (and without ``--limit``) is listed in the workers: the launcher
names listing tasks only (each subfolder, and INPUT's own files in runs of
:data:`LISTING_RUN` names), and the workers walk them and build the items, so a folder of
millions of files never passes through the launcher as items. The items are the same. A flat
folder of at most one run is enumerated in the launcher (cheaper than a listing stage).

A manifest larger than :data:`MANIFEST_IN_WORKERS_BYTES` is read by the workers too (Beam's text
source, split by byte ranges): a 20 M-row manifest never becomes launcher records (nor a job
too large to submit). The items are the same; a row without a path is keyed by its content
instead of its row number, and a CSV field may then not span lines (quoted newlines).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipelines.sources.base import SourceError
from pipelines.sources.common import (
    BAD_ROW,
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    DatasetSource,
    UnsafePath,
    exists,
    glob,
    head_lines,
    header_of,
    join,
    json_row,
    label_phrase,
    read_jsonl,
    read_rows,
    read_table,
    read_text,
    resolve_under,
    split_name,
    suggest_sources,
)
from schemas import Failure, SourceItem, make_key
from schemas.vocab import normalize_age_group, normalize_emotion, normalize_gender, normalize_language
from transforms import storage

LISTING_RUN = 10_000
"""INPUT's own files per listing task (each subfolder is one task, walked whole by a worker). A
folder that is one such run (no subfolders) is enumerated in the launcher: a stage fewer."""

MANIFEST_IN_WORKERS_BYTES = 32 << 20
"""A manifest larger than this (~200 k rows) is read by the workers, not the launcher."""

MANIFEST_NAMES = ("manifest.csv", "manifest.tsv", "manifest.jsonl", "metadata.csv", "metadata.tsv", "metadata.jsonl")
FIELDS = (
    "path",
    "text",
    "transcript",
    "language",
    "gender",
    "age",
    "emotion",
    "intensity",
    "label",
    "speaker",
    "split",
    "license",
)


def parse_map(text: str | None) -> dict[str, list[str]]:
    """``path=file,text=c1+c2`` -> {"path": ["file"], "text": ["c1", "c2"]}; unknown fields refused."""
    mapping: dict[str, list[str]] = {}
    for pair in filter(None, (p.strip() for p in (text or "").split(","))):
        field, _, column = pair.partition("=")
        if not column or field.strip() not in FIELDS:
            raise SourceError(f"--map entry {pair!r} is not FIELD=COLUMN with FIELD one of {', '.join(FIELDS)}")
        mapping[field.strip()] = [c.strip() for c in column.split("+") if c.strip()]
    return mapping


class FolderSource(DatasetSource):
    name = "folder"
    description = (
        "Any folder of audio/video files, with an optional CSV/TSV/JSONL manifest (--map) or <name>.txt transcripts"
    )
    layout = "INPUT/**/*.{wav,flac,mp3,opus,m4a,mp4,...} [+ manifest.{csv,tsv,jsonl} | <name>.txt transcripts]"
    license = "as given by the data owner"

    @property
    def root(self) -> str:
        return (self.settings.input or "").rstrip("/") or "/"

    @functools.cached_property
    def mapping(self) -> dict[str, list[str]]:
        given = parse_map(self.option.get("map"))
        return {field: given.get(field, [field]) for field in FIELDS}

    def manifest(self) -> str | None:
        name = self.option.get("manifest")
        if name:
            try:
                return resolve_under(self.root, name)
            except UnsafePath as exc:
                raise SourceError(f"--source-option manifest: {exc}") from None
        return next((join(self.root, n) for n in MANIFEST_NAMES if exists(join(self.root, n))), None)

    def check(self) -> None:
        if not self.settings.input:
            raise SourceError(f"source 'folder' needs --input (expected layout: {self.layout})")
        manifest = self.manifest()
        if manifest is not None:
            if not exists(manifest):
                raise SourceError(f"manifest {manifest!r} does not exist")
            if manifest.endswith(".jsonl"):  # the first rows only: a manifest may be millions of rows
                columns = set().union(*(json_row(line).keys() for line in head_lines(manifest, 50)))
            else:
                columns = set(header_of(manifest, "\t" if manifest.endswith(".tsv") else ","))
            path_cols = self.mapping["path"]
            if not set(path_cols) <= columns:
                others = suggest_sources(self.root)
                hint = f"; this folder looks like '{others[0]}' — try --source {others[0]}" if others else ""
                raise SourceError(
                    f"manifest {posixpath.basename(manifest)} has no column {path_cols[0]!r} (columns: {', '.join(sorted(columns))}); "
                    f"name the file column with --map path=COLUMN{hint}"
                )
            return
        if not any(p.lower().endswith(MEDIA_EXTENSIONS) for p in self._walk_media()):
            raise SourceError(
                f"no audio or video files ({', '.join(MEDIA_EXTENSIONS)}) and no manifest under {self.root!r}"
            )

    def _rows(self, manifest: str) -> list[dict[str, Any]]:
        if manifest.endswith(".jsonl"):
            return read_jsonl(manifest)
        return read_table(manifest, delimiter="\t" if manifest.endswith(".tsv") else ",")

    def _media(self) -> list[str]:
        if "://" in self.root:
            return [p for p in glob(join(self.root, "**")) if p.lower().endswith(MEDIA_EXTENSIONS)]
        return list(self._walk_media())

    def _walk_media(self, top: str | None = None) -> Iterator[str]:
        """Media files under ``top`` (default the root), folders in name order, hidden ones skipped."""
        if "://" in self.root:
            yield from self._media()
            return
        for folder, dirs, files in os.walk(top or self.root, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            yield from (os.path.join(folder, f) for f in sorted(files) if f.lower().endswith(MEDIA_EXTENSIONS))

    def items(self) -> Iterator[SourceItem | Failure]:
        manifest = self.manifest()
        yield from self._from_manifest(manifest) if manifest else self._from_files()

    # -- listed in the workers

    def listing_tasks(self) -> list[tuple[str, tuple[str, ...]]] | None:
        """What the workers list, or None when the launcher enumerates (a manifest, a remote root,
        ``--limit``): ``("files", names)`` for runs of INPUT's own files, ``("tree", (name,))`` for
        each subfolder; together the files ``_media`` walks, in its order."""
        if self.settings.limit is not None or "://" in self.root or self.manifest():
            return None
        files, trees = [], []
        for _, dirs, names in os.walk(self.root, followlinks=True):  # INPUT itself: os.walk's own split
            trees = sorted(d for d in dirs if not d.startswith("."))
            files = sorted(n for n in names if n.lower().endswith(MEDIA_EXTENSIONS))
            break
        runs = [("files", tuple(files[i : i + LISTING_RUN])) for i in range(0, len(files), LISTING_RUN)]
        return runs + [("tree", (name,)) for name in trees]

    def task_items(self, task: tuple[str, tuple[str, ...]]) -> Iterator[SourceItem | Failure]:
        """The items of one listing task (in a worker)."""
        kind, names = task
        if kind == "files":
            paths: Iterable[str] = (os.path.join(self.root, n) for n in names)
        else:
            paths = self._walk_media(os.path.join(self.root, names[0]))
        yield from self._from_paths(paths)

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        manifest = self.manifest()
        if manifest and self.settings.limit is None and storage.size(manifest) > MANIFEST_IN_WORKERS_BYTES:
            return self._manifest_in_workers(pipeline, manifest)
        tasks = self.listing_tasks()
        if tasks is None or [kind for kind, _ in tasks] in ([], ["files"]):  # small and flat: here
            return super().expand(pipeline)
        return (
            pipeline
            | f"List {self.name}" >> beam.Create(tasks, reshuffle=False)
            | f"Spread {self.name} listing" >> beam.Reshuffle()
            | f"Enumerate {self.name}" >> beam.FlatMap(self.task_items)
        )

    # -- with a manifest

    def _values(self, row: dict[str, Any], field: str) -> list[str]:
        out: list[str] = []
        for column in self.mapping[field]:
            value = row.get(column)
            values = value if isinstance(value, list) else [value]
            out += [str(v).strip() for v in values if v is not None and str(v).strip()]
        return out

    def _one(self, row: dict[str, Any], field: str) -> str | None:
        values = self._values(row, field)
        return values[0] if values else None

    def _from_manifest(self, manifest: str) -> Iterator[SourceItem | Failure]:
        for number, row in enumerate(self._rows(manifest), start=1):
            yield from self._row_items(row, manifest, f"row{number}", f"row {number}")

    def _manifest_in_workers(self, pipeline: beam.Pipeline, manifest: str) -> beam.PCollection:
        label = f"{self.name} manifest"
        if manifest.endswith(".jsonl"):
            rows = (
                pipeline
                | f"Read {label}" >> beam.io.ReadFromText(manifest)
                | f"Parse {label}" >> beam.FlatMap(lambda line: [json_row(line)] if line.strip() else [])
            )
        else:
            rows = read_rows(pipeline, label, manifest, delimiter="\t" if manifest.endswith(".tsv") else ",")
        return rows | f"Enumerate {self.name}" >> beam.FlatMap(self._worker_row_items, manifest)

    def _worker_row_items(self, row: dict[str, Any], manifest: str) -> Iterator[SourceItem | Failure]:
        """A row read by a worker: no row number, so a row without a path is named by its content."""
        digest = hashlib.sha1(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:12]
        yield from self._row_items(row, manifest, f"row-{digest}", "a row")

    def _row_items(self, row: dict[str, Any], manifest: str, name: str, where: str) -> Iterator[SourceItem | Failure]:
        if BAD_ROW in row:
            yield self.fail(
                make_key("folder", name), "bad_manifest_row", f"{posixpath.basename(manifest)} {where}: {row[BAD_ROW]}"
            )
            return
        rel = self._one(row, "path")
        key = make_key("folder", re.sub(r"\.[^./]+$", "", rel) if rel else name)
        if not rel:
            yield self.fail(
                key, "missing_path", f"{posixpath.basename(manifest)} {where} has no {self.mapping['path'][0]!r}"
            )
            return
        uri = self.safe_path(key, rel)
        if isinstance(uri, Failure):
            yield uri
            return
        yield from self._item(key, uri, rel, row)

    def _item(self, key: str, uri: str, rel: str, row: dict[str, Any]) -> Iterator[SourceItem | Failure]:
        emotion_raw, split_raw = self._one(row, "emotion"), self._one(row, "split")
        emotion = normalize_emotion(emotion_raw)
        if emotion_raw and emotion is None:
            yield self.fail(
                key, "unknown_emotion", f"{emotion_raw!r} is not an emotion we know (e.g. neutral, happy, sad, angry)"
            )
            return
        split = split_name(split_raw)
        if split_raw and split is None:
            yield self.fail(key, "unknown_split", f"{split_raw!r} is not train/valid/test (or dev/val/eval)")
            return
        transcript = self._one(row, "transcript")
        labels = [label_phrase(p) for v in self._values(row, "label") for p in re.split(r"[;|]", v) if p.strip()]
        language = self._one(row, "language") or (self.settings.language if transcript else None)
        extra: dict[str, Any] = {"path": rel}
        if self.option.get("caption_language"):
            extra["caption_language"] = normalize_language(self.option["caption_language"])
        if rel.lower().endswith(VIDEO_EXTENSIONS):
            extra["video"] = True
        yield SourceItem(
            key=key,
            uri=uri,
            dataset=self.option.get("dataset", "folder"),
            source_id=rel,
            language=normalize_language(language),
            transcript=transcript,
            speaker_id=self._one(row, "speaker"),
            gender=normalize_gender(self._one(row, "gender")),
            age=normalize_age_group(self._one(row, "age")),
            emotion=emotion,
            emotion_intensity=self._one(row, "intensity"),
            labels=tuple(dict.fromkeys([*(["speech"] if transcript else []), *labels])),
            captions=tuple(self._values(row, "text")),
            split=split,
            license=self._one(row, "license") or self.option.get("license", self.license),
            extra=extra,
        )

    # -- a plain folder

    def _from_files(self) -> Iterator[SourceItem | Failure]:
        yield from self._from_paths(self._media())

    def _from_paths(self, paths: Iterable[str]) -> Iterator[SourceItem | Failure]:
        for path in paths:
            rel = os.path.relpath(path, self.root) if "://" not in self.root else path[len(self.root) + 1 :]
            key = make_key("folder", re.sub(r"\.[^./]+$", "", rel))
            uri = self.safe_path(key, rel)
            if isinstance(uri, Failure):
                yield uri
                continue
            transcript_path = re.sub(r"\.[^./]+$", ".txt", uri)
            row: dict[str, Any] = {}
            if exists(transcript_path):
                row["transcript"] = " ".join(read_text(transcript_path).split())
            else:
                row["label"] = name_label(rel)
            yield from self._item(key, uri, rel, row)


def name_label(rel: str) -> str:
    """A label from a file's name, else its folder's: ``dogs/dog_bark-01.wav`` -> ``dog bark``."""
    for part in (posixpath.basename(rel).rsplit(".", 1)[0], posixpath.basename(posixpath.dirname(rel))):
        words = re.sub(r"[^A-Za-z]+", " ", part).strip()
        if len(words) >= 2:
            return words.lower()
    return "an unlabelled recording"
