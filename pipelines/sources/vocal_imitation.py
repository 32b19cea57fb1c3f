"""Vocal Imitation Set (Kim et al., DCASE 2018) and the Fine-grained Vocal Imitation Set (Kim and
Pardo 2019): crowd-sourced vocal imitations of Freesound recordings of AudioSet-ontology classes.

Layouts (INPUT holds the unpacked release; tables are tab-separated ``.txt``, the imitation
tables with a leading unnamed index column)::

    v1.1 (README "Description of directories and files"):
      vocal_imitations.txt              imitation_id, imitation_filename, category_id, category_d1..d6,
                                        reference_filename, included, draft, training, participant_id, ...
      original_recordings_classes.txt   filename, classname, category_d1..d6, is_reference, multi_labeled
      vocal_imitations/{included,excluded}/<imitation_filename>
      original_recordings/reference/<filename>
      original_recordings/non_reference/<classname>/<filename>
    v1.0:
      vocal_imitations.txt, reference_audio_categories.txt (category_id, category_d1..d6, reference_filename)
      included/ excluded/ reference_recordings/
    Fine-grained VIS: vocal_imitations.txt, with the audio in any folder (found by file name).

A class is the deepest non-empty ``category_dN`` of the AudioSet ontology path (never the
``000Animal_...`` class-folder name); its phrase keeps the parent when the parent narrows it
("cat growling", "duck quack", but "bicycle bell", "cowbell"). The whole path is kept in
``extra["ontology"]``. Only final imitations that met the publisher's inclusion criteria (the
``included`` set) become samples; drafts, training takes and rejected imitations are
``excluded_take`` records (``--source-option excluded=true`` keeps rejected final takes); an
audio file that no table lists is an ``unlisted_file`` record.
Recordings are described as "<class>", imitations as "a person vocally imitating <class>".
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, glob, join, label_phrase, read_text
from schemas import Failure, SourceItem, make_key
from schemas.media import is_audio_path

LICENSE = "CC BY 4.0 (Vocal Imitation Set, Kim, Ghei, Pardo and Duan 2018)"
CATEGORY_COLUMNS = tuple(f"category_d{n}" for n in range(1, 7))
IMITATION_FOLDERS = {True: ("vocal_imitations/included", "included"), False: ("vocal_imitations/excluded", "excluded")}
REFERENCE_FOLDERS = ("original_recordings/reference", "reference_recordings")


def truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes", "t")


def read_tsv(path: str) -> list[dict[str, str]]:
    """A tab-separated table; a leading unnamed column (the pandas index) gets the name ``""``."""
    reader = csv.DictReader(io.StringIO(read_text(path)), delimiter="\t")
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str)} for row in reader]


def ontology(row: dict[str, str]) -> list[str]:
    return [row[c] for c in CATEGORY_COLUMNS if row.get(c)]


def class_phrase(path: list[str]) -> str:
    """The deepest class, with its parent when the parent is a specific, single-named class."""
    if not path:
        return "an unlabelled sound"
    leaf = path[-1]
    phrase = leaf
    if len(path) >= 4:  # depth >= 3 parents are specific classes (Cat, Duck, Crow), not groupings
        parent = path[-2]
        leaf_words = set(re.findall(r"[a-z]+", leaf.lower()))
        if "," not in parent and "(" not in parent and not leaf_words & set(re.findall(r"[a-z]+", parent.lower())):
            phrase = f"{parent} {leaf}"
    return label_phrase(re.sub(r",?\s*etc\.?$", "", phrase).strip())


class VocalImitationSource(DatasetSource):
    name = "vocal-imitation"
    description = (
        "Vocal Imitation Set / Fine-grained VIS: vocal imitations of AudioSet-ontology sounds and the originals"
    )
    layout = (
        "vocal_imitations.txt (TSV) + vocal_imitations/{included,excluded}/ (v1.0: included/, excluded/) "
        "[+ original_recordings_classes.txt + original_recordings/ | reference_audio_categories.txt + reference_recordings/]"
    )
    markers = ("vocal_imitations.txt",)

    def _audio_files(self) -> dict[str, str]:
        base = self.root.rstrip("/")
        return {p[len(base) + 1 :]: p for p in glob(join(base, "**")) if is_audio_path(p)}

    def items(self) -> Iterator[SourceItem | Failure]:
        files = self._audio_files()
        by_name: dict[str, str] = {}
        for rel, path in sorted(files.items()):
            by_name.setdefault(posixpath.basename(rel), path)
        used: set[str] = set()
        yield from self._imitations(files, by_name, used)
        yield from self._recordings(files, used)
        for rel in sorted(files):
            if posixpath.basename(rel) not in used:
                yield self.fail(
                    make_key("vis", "file", rel.rsplit(".", 1)[0]),
                    "unlisted_file",
                    f"{rel}: in no table of the release",
                )

    def _imitations(
        self, files: dict[str, str], by_name: dict[str, str], used: set[str]
    ) -> Iterator[SourceItem | Failure]:
        with_excluded = truthy(self.option.get("excluded"))
        for number, row in enumerate(read_tsv(join(self.root, "vocal_imitations.txt")), start=1):
            filename = row.get("imitation_filename") or row.get("filename") or ""
            used.add(filename)
            key = make_key("vis", "imi", row.get("imitation_id") or filename.rsplit(".", 1)[0] or f"row{number}")
            included = truthy(row.get("included"))
            take = "draft" if truthy(row.get("draft")) else "training" if truthy(row.get("training")) else None
            if take or (not included and not with_excluded):
                why = f"a {take} take" if take else "rejected by the publisher's raters (not in the included set)"
                yield self.fail(key, "excluded_take", f"{filename}: {why}")
                continue
            path = ontology(row)
            if not filename or not path:
                yield self.fail(key, "bad_row", f"vocal_imitations.txt row {number} lacks a file name or a category")
                continue
            folders = IMITATION_FOLDERS[included]
            found = next((files[f"{f}/{filename}"] for f in folders if f"{f}/{filename}" in files), None)
            uri = found or by_name.get(filename) or self.safe_path(key, f"{folders[0]}/{filename}")
            participant = (row.get("participant_id") or "").removesuffix(".0")
            yield self.item(
                key=key,
                uri=uri,
                dataset="vocal-imitation",
                source_id=f"imitation/{filename}",
                speaker_id=participant or None,
                labels=(f"a person vocally imitating {class_phrase(path)}",),
                license=LICENSE,
                extra={
                    "kind": "vocal imitation",
                    "class": path[-1],
                    "ontology": " > ".join(path),
                    "reference": row.get("reference_filename", ""),
                    "satisfaction": row.get("satisfaction", ""),
                },
            )

    def _recordings(self, files: dict[str, str], used: set[str]) -> Iterator[SourceItem | Failure]:
        classes = join(self.root, "original_recordings_classes.txt")
        categories = join(self.root, "reference_audio_categories.txt")
        if any_match(classes):
            rows = [
                (r.get("filename", ""), r.get("classname", ""), truthy(r.get("is_reference")), r)
                for r in read_tsv(classes)
            ]
        elif any_match(categories):
            rows = [(r.get("reference_filename", ""), "", True, r) for r in read_tsv(categories)]
        else:
            return
        used.update(r[0] for r in rows)
        for number, (filename, classname, is_reference, row) in enumerate(rows, start=1):
            path = ontology(row)
            # A non-reference recording may serve several classes: the class is part of its key.
            prefix = re.match(r"\d+", classname or filename)
            key = make_key(
                "vis", "rec", prefix.group(0) if prefix else "", filename.rsplit(".", 1)[0] or f"row{number}"
            )
            if not filename or not path:
                yield self.fail(key, "bad_row", f"recording table row {number} lacks a file name or a category")
                continue
            candidates = REFERENCE_FOLDERS if is_reference else (f"original_recordings/non_reference/{classname}",)
            found = next((files[f"{f}/{filename}"] for f in candidates if f"{f}/{filename}" in files), None)
            uri = found or self.safe_path(key, f"{candidates[0]}/{filename}")
            yield self.item(
                key=key,
                uri=uri,
                dataset="vocal-imitation",
                source_id=f"recording/{classname + '/' if classname else ''}{filename}",
                labels=(class_phrase(path),),
                license=LICENSE,
                extra={
                    "kind": "sound recording",
                    "class": path[-1],
                    "ontology": " > ".join(path),
                    "reference": is_reference,
                },
            )
