"""What every dataset adapter shares: safe paths, metadata tables, layout checks, streaming.

* Paths named in metadata are never trusted: :func:`resolve_under` refuses ``..``, absolute
  paths, URLs and (locally) symlinks that lead out of INPUT.
* Metadata is read through :mod:`transforms.storage` (Beam's ``FileSystems``) so ``gs://`` and
  ``s3://`` inputs work like local folders (:func:`read_text`, :func:`read_table`,
  :func:`read_jsonl`, :func:`glob`); the media extensions are :mod:`schemas.media`'s.
* :class:`DatasetSource` checks the publisher's layout before any work (its ``markers``:
  file globs relative to the dataset root, which may also be one folder down, as archives
  unpack) and, when they are missing, names the adapters that do recognise the folder.
* Adapters over millions of rows read their metadata inside the pipeline
  (:func:`read_rows`) and honour ``--limit`` deterministically (:func:`limit_items`).
"""

from __future__ import annotations

import csv
import functools
import glob as pyglob
import io
import json
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio

from pipelines.sources.base import REGISTRY, Source, SourceError, source_class
from schemas import Failure, SourceItem
from schemas.media import MEDIA_EXTENSIONS, VIDEO_EXTENSIONS  # noqa: F401 - the adapters import them from here
from transforms import storage
from transforms.storage import join

SOURCE_STAGE = "source"


class UnsafePath(ValueError):
    """A path from metadata that would lead outside the dataset's folder."""


# ---------------------------------------------------------------- paths and files


def exists(path: str) -> bool:
    """Whether ``path`` exists (retried on transient faults); a store that cannot answer raises
    :class:`transforms.storage.StorageError`, never "absent" (which would make a ``missing_file``)."""
    return storage.exists(path)


def glob(pattern: str) -> list[str]:
    """Files matching a glob (``**`` crosses folders), sorted; [] when none match. A listing that
    fails raises :class:`transforms.storage.StorageError` (the run stops with its message) rather
    than an empty dataset."""
    return storage.list_files(pattern)


def any_match(pattern: str) -> bool:
    """Whether a glob matches at least one file (stops at the first one on local disks)."""
    if "://" in pattern:
        return bool(glob(pattern))
    return next(pyglob.iglob(pattern, recursive=True), None) is not None


def read_text(path: str) -> str:
    """A metadata file as text: a BOM dropped, undecodable bytes replaced (publishers' files vary)."""
    return storage.read_text(path, encoding="utf-8-sig", errors="replace")


def read_table(
    path: str, delimiter: str = ",", fieldnames: list[str] | None = None, quoting: int = csv.QUOTE_MINIMAL
) -> list[dict[str, str]]:
    """Rows of a CSV/TSV file as dicts (header row unless ``fieldnames``), values stripped."""
    reader = csv.DictReader(io.StringIO(read_text(path)), fieldnames=fieldnames, delimiter=delimiter, quoting=quoting)
    return [
        {(k or "").strip(): (v or "").strip() if isinstance(v, str) else v for k, v in row.items()} for row in reader
    ]


BAD_ROW = "\x00bad row"
"""Where :func:`json_row` says why a line is not a JSON object (a key no table column has)."""


def json_row(line: str) -> dict[str, Any]:
    """One JSONL line as a row; a line that is not a JSON object becomes a row naming the problem."""
    try:
        row = json.loads(line)
    except ValueError as exc:
        return {BAD_ROW: f"not JSON ({exc})"}
    return row if isinstance(row, dict) else {BAD_ROW: f"a JSON {type(row).__name__}, not an object"}


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """The rows of a JSONL file (blank lines skipped; a bad line is a :data:`BAD_ROW` row)."""
    return [json_row(line) for line in read_text(path).splitlines() if line.strip()]


def resolve_under(root: str, relative: str) -> str:
    """``root`` joined with a metadata path, refusing anything that leaves ``root``."""
    rel = (relative or "").strip().replace("\\", "/")
    if not rel:
        raise UnsafePath("empty path")
    if "://" in rel or rel.startswith("/") or re.match(r"^[A-Za-z]:", rel):
        raise UnsafePath(f"absolute path {relative!r}")
    if ".." in rel.split("/"):
        raise UnsafePath(f"path {relative!r} climbs out with '..'")
    path = join(root, posixpath.normpath(rel))
    if "://" not in root:
        real_root = _real_dir(os.path.abspath(root))
        parent, name = os.path.split(path)
        real = (
            os.path.realpath(path) if os.path.islink(path) else os.path.join(_real_dir(os.path.abspath(parent)), name)
        )
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise UnsafePath(f"path {relative!r} leads outside the input folder (symlink)")
    return path


@functools.lru_cache(maxsize=4096)
def _real_dir(folder: str) -> str:
    """A folder's real path, resolved once per folder rather than once per file in it."""
    return os.path.realpath(folder)


def stem(path: str) -> str:
    base = posixpath.basename(path.rstrip("/"))
    return base.rsplit(".", 1)[0] if "." in base else base


def failure(key: str, source: str, reason: str, detail: str = "") -> Failure:
    """A failure record for a metadata row (stage ``source``)."""
    return Failure(key=key, source=source, stage=SOURCE_STAGE, reason=reason, detail=detail[:500])


def split_name(value: str | None) -> str | None:
    """A dataset's split name on ours: train / valid / test (None when unknown)."""
    key = (value or "").strip().lower()
    if key in ("train", "training", "dev-train", "development", "balanced_train", "unbalanced_train"):
        return "train"
    if key in ("valid", "validation", "val", "dev", "devel"):
        return "valid"
    if key in ("test", "testing", "eval", "evaluation"):
        return "test"
    return None


def label_phrase(label: str) -> str:
    """A class name as words: ``Dog_bark`` -> ``dog bark`` (acronyms keep their case)."""
    words = re.sub(r"[_]+", " ", label).strip().split()
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)


# ---------------------------------------------------------------- layout checks


class DatasetSource(Source):
    """An adapter of a publisher's on-disk layout.

    ``markers`` are file globs relative to the dataset root that must all match; the root is
    INPUT itself or, as archives unpack, its single matching subfolder (``LibriSpeech/``,
    ``ESC-50-master/``). ``license`` is recorded on every item.
    """

    markers: tuple[str, ...] = ()
    license: str = ""
    _root: str | None = None

    @property
    def root(self) -> str:
        if self._root is None:
            self._root = self.locate(self.settings.input or "") or (self.settings.input or "")
        return self._root

    @property
    def option(self) -> dict[str, str]:
        return self.settings.options

    @classmethod
    def locate(cls, input_root: str) -> str | None:
        """The folder holding the layout: INPUT or (local inputs) one of its direct subfolders."""
        if not input_root or not cls.markers:
            return None
        base = input_root.rstrip("/") or "/"
        candidates = [base]
        if "://" not in base and os.path.isdir(base):
            candidates += sorted(e.path for e in os.scandir(base) if e.is_dir() and not e.name.startswith("."))
        return next((c for c in candidates if all(any_match(join(c, m)) for m in cls.markers)), None)

    @classmethod
    def detect(cls, input_root: str) -> bool:
        return bool(cls.markers) and cls.locate(input_root) is not None

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        """Label vocabularies for zero-shot prompts: {"emotion": [...], "class": [...], ...}."""
        return {}

    def check(self) -> None:
        super().check()
        if self.locate(self.settings.input or "") is None:
            missing = [m for m in self.markers if not any_match(join(self.settings.input or "", m))]
            raise SourceError(layout_message(self.name, self.settings.input or "", self.layout, missing))

    def fail(self, key: str, reason: str, detail: str = "") -> Failure:
        return failure(key, self.name, reason, detail)

    def item(self, key: str, uri: str | Failure, **fields: Any) -> SourceItem | Failure:
        """The item at ``uri``, or the failure that :meth:`safe_path` gave in place of a path."""
        if isinstance(uri, Failure):
            return uri
        return SourceItem(key=key, uri=uri, **fields)

    def safe_path(self, key: str, relative: str, base: str | None = None) -> str | Failure:
        """A metadata path under the root, or a failure record when it is unsafe."""
        try:
            return resolve_under(base or self.root, relative)
        except UnsafePath as exc:
            return self.fail(key, "unsafe_path", str(exc))


def layout_message(name: str, input_root: str, layout: str, missing: list[str]) -> str:
    """One sentence: what was expected, what is missing, and which adapter might fit."""
    others = [n for n in suggest_sources(input_root) if n != name]
    hint = (
        f"; this folder looks like '{others[0]}' — try --source {others[0]}"
        if others
        else "; no adapter recognises it ('folder' reads any folder of audio files)"
    )
    return f"source '{name}' expects {layout} under {input_root!r}, but {', '.join(missing) or 'its layout'} was not found{hint}"


def suggest_sources(input_root: str) -> list[str]:
    """Names of the adapters whose layout markers are found under ``input_root``."""
    found = []
    for name in sorted(REGISTRY):
        if name in ("demo", "folder"):
            continue
        try:
            cls = source_class(name)
        except Exception:  # one broken adapter must not hide the others
            continue
        if issubclass(cls, DatasetSource) and cls.detect(input_root):
            found.append(name)
    return found


# ---------------------------------------------------------------- streaming helpers


def header_of(path: str, delimiter: str) -> list[str]:
    """The header row of a (possibly huge) table, reading only its first line."""
    with storage.open_read(path) as f:
        first = f.readline().decode("utf-8-sig", errors="replace")
    return [c.strip() for c in next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter))]


def head_lines(path: str, count: int) -> list[str]:
    """The first ``count`` non-empty lines of a (possibly huge) text file, reading only those."""
    lines: list[str] = []
    with storage.open_read(path) as f:
        while len(lines) < count and (raw := f.readline()):
            line = raw.decode("utf-8-sig" if not lines else "utf-8", errors="replace").strip()
            if line:
                lines.append(line)
    return lines


def read_rows(
    pipeline: beam.Pipeline, label: str, path: str, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL
) -> beam.PCollection:
    """A PCollection of dict rows of one table, read in parallel by Beam (header from line 1)."""
    columns = header_of(path, delimiter)

    def parse(line: str) -> Iterator[dict[str, str]]:
        if not line.strip():
            return
        values = next(csv.reader([line], delimiter=delimiter, quoting=quoting))
        yield {c: (values[i].strip() if i < len(values) else "") for i, c in enumerate(columns)}

    return (
        pipeline
        | f"Read {label}" >> beam.io.ReadFromText(path, skip_header_lines=1)
        | f"Parse {label}" >> beam.FlatMap(parse)
    )


def limit_items(records: beam.PCollection, limit: int | None, label: str) -> beam.PCollection:
    """Keep the ``limit`` items of smallest key (deterministic); failures pass through."""
    if limit is None:
        return records
    parts = records | f"{label} SplitLimit" >> beam.Partition(lambda r, _: 0 if isinstance(r, SourceItem) else 1, 2)
    kept = (
        parts[0]
        | f"{label} Smallest" >> beam.combiners.Top.Of(limit, key=lambda it: it.key, reverse=True)
        | f"{label} Unlist" >> beam.FlatMap(lambda items: items)
    )
    return (kept, parts[1]) | f"{label} Rejoin" >> beam.Flatten()


def youtube_origin(ytid: str, start_s: float | str | None) -> str:
    """The origin of a YouTube segment, ``youtube:<id>@<start>`` (seconds, no trailing zeros):
    AudioSet's ``30.000``, AudioCaps' ``30`` and VGGSound's ``30`` are one origin."""
    start = round(float(start_s or 0), 3)
    return f"youtube:{ytid}@{start:g}" if ytid else ""


def freesound_origin(sound_id: str | int | None) -> str:
    """The origin of a Freesound sound, ``freesound:<id>`` ("" when the id is not a number)."""
    value = str(sound_id or "").strip()
    return f"freesound:{int(value)}" if value.isdigit() else ""


def commonvoice_origin(path: str | None) -> str:
    """The origin of a Common Voice clip, ``commonvoice:<clip>`` (the file name without its extension,
    ``common_voice_<locale>_<n>``): Common Voice's ``path`` column and MSWC's keyword clips cut from
    it (``<word>/common_voice_<locale>_<n>.opus``) name one clip ("" for another name)."""
    name = stem(path or "")
    return f"commonvoice:{name}" if re.fullmatch(r"common_voice_[A-Za-z-]+_\d+", name) else ""


def youtube_id(path: str) -> str | None:
    """The YouTube id in a downloaded file's name: ``ID.wav``, ``YID.wav``, ``ID_30.000_40.000.wav``, ``ID_000030.mp4``."""
    name = stem(path)
    if len(name) == 11:
        return name
    if name.startswith("Y") and (len(name) == 12 or (len(name) > 12 and name[12] == "_")):
        return name[1:12]
    if len(name) > 11 and name[11] == "_":
        return name[:11]
    return None


def join_media_by_youtube_id(
    pipeline: beam.Pipeline,
    label: str,
    keyed_rows: beam.PCollection,
    root: str,
    make: Any,
    extensions: Iterable[str] = MEDIA_EXTENSIONS,
) -> beam.PCollection:
    """Join metadata rows keyed by YouTube id with the media files found under ``root``.

    ``make(ytid, rows, paths)`` turns one id's metadata rows and matched files into
    SourceItem | Failure records; the file listing is read by Beam, never held in the launcher.
    """
    exts = tuple(extensions)
    files = (
        pipeline
        | f"{label} ListMedia" >> fileio.MatchFiles(join(root, "**"), empty_match_treatment="ALLOW")
        | f"{label} MediaIds"
        >> beam.FlatMap(
            lambda m: [(youtube_id(m.path), m.path)] if m.path.lower().endswith(exts) and youtube_id(m.path) else []
        )
    )
    return (
        {"rows": keyed_rows, "files": files}
        | f"{label} JoinMedia" >> beam.CoGroupByKey()
        | f"{label} MakeItems"
        >> beam.FlatMap(lambda kv: make(kv[0], list(kv[1]["rows"]), sorted(kv[1]["files"])) if kv[1]["rows"] else [])
    )


def pick_media(paths: list[str], start_s: float | None) -> str | None:
    """The downloaded file of one segment when a video id has several (names carry the start)."""
    if len(paths) <= 1 or start_s is None:
        return paths[0] if paths else None
    for path in paths:
        numbers = re.findall(r"\d+(?:\.\d+)?", stem(path)[12:])
        if numbers and abs(float(numbers[0]) - start_s) < 0.5:
            return path
    return None
