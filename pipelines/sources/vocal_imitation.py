"""Vocal Imitation Set (Kim et al., DCASE 2018) and the Fine-grained Vocal Imitation Set (Kim and
Pardo 2019): crowd-sourced vocal imitations of Freesound recordings curated from the AudioSet ontology.

Layout, as the Zenodo archives unpack (INPUT holds them; the metadata table's name varies
between releases, so any ``*.csv`` at the top with a file-name column and a label column is used)::

    original_recordings/[<class>/]<file>.wav      the imitated reference recordings
    vocal_imitations/[<class>/]<file>.wav         the imitations
    *.csv (optional)    columns like filename / file_name and label / class / audioset_label

A file's class comes from the table, else from its class folder, else from the words of its
name. Recordings are described as "<class>", imitations as "a person vocally imitating <class>".
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, glob, join, label_phrase, read_table, stem
from pipelines.sources.folder import name_label
from schemas import Failure, SourceItem, make_key

LICENSE = "CC BY 4.0 (Vocal Imitation Set, Kim, Ghei, Pardo and Duan 2018)"
KINDS = {"original_recordings": "rec", "vocal_imitations": "imi"}
FILE_COLUMNS = ("filename", "file_name", "file", "fname")
LABEL_COLUMNS = ("label", "class", "audioset_label", "category", "sound_label")


class VocalImitationSource(DatasetSource):
    name = "vocal-imitation"
    description = (
        "Vocal Imitation Set / Fine-grained VIS: vocal imitations of AudioSet-ontology sounds and the originals"
    )
    layout = "original_recordings/**/*.wav + vocal_imitations/**/*.wav [+ a CSV of file name -> class]"
    markers = ("vocal_imitations", "original_recordings")

    def _labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for table in glob(join(self.root, "*.csv")):
            rows = read_table(table)
            columns = set(rows[0]) if rows else set()
            file_col = next((c for c in FILE_COLUMNS if c in columns), None)
            label_col = next((c for c in LABEL_COLUMNS if c in columns), None)
            if file_col and label_col:
                labels.update({stem(r[file_col]): r[label_col] for r in rows if r.get(file_col) and r.get(label_col)})
        return labels

    def items(self) -> Iterator[SourceItem | Failure]:
        labels = self._labels()
        for folder, kind in KINDS.items():
            base = join(self.root, folder)
            for path in glob(join(base, "**")):
                if not path.lower().endswith((".wav", ".flac", ".mp3")):
                    continue
                rel = path[len(base) + 1 :]
                key = make_key("vis", kind, rel.rsplit(".", 1)[0])
                label = (
                    labels.get(stem(path))
                    or (posixpath.dirname(rel) and label_phrase(posixpath.basename(posixpath.dirname(rel))))
                    or name_label(rel)
                )
                phrase = label_phrase(label)
                yield SourceItem(
                    key=key,
                    uri=path,
                    dataset="vocal-imitation",
                    source_id=f"{folder}/{rel}",
                    labels=(phrase if kind == "rec" else f"a person vocally imitating {phrase}",),
                    license=LICENSE,
                    extra={"kind": "sound recording" if kind == "rec" else "vocal imitation", "class": label},
                )
