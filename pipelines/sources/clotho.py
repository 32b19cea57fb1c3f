"""Clotho v2: 15-30 s Freesound clips, each with five human captions (Drossos et al. 2020).

Layout, as the Zenodo archives unpack (INPUT holds them)::

    clotho_captions_development.csv   file_name,caption_1,...,caption_5
    clotho_captions_validation.csv
    clotho_captions_evaluation.csv
    clotho_metadata_<split>.csv       file_name,keywords,sound_id,sound_link,start_end_samples,manufacturer,license
    development/<file_name>.wav   validation/...   evaluation/...   (clotho_audio_<split>.7z)

development -> train, validation -> valid, evaluation -> test. Every caption is kept as its
own human caption; the Freesound keywords (';'-separated) and per-clip license come along.

Encodings: the v2/v2.1 metadata CSVs are ISO-8859-1 (Latin-1), the caption CSVs UTF-8
(aac-datasets reads them so); each table is decoded as UTF-8 when it is valid UTF-8 and as
Latin-1 otherwise, so keywords such as "café" and file names with accents survive.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, freesound_origin, join
from schemas import Failure, SourceItem, make_key
from transforms.storage import read_bytes

LICENSE = "Clotho captions: Tampere University license; audio: per-clip Freesound license (see extra)"
SPLITS = {"development": "train", "validation": "valid", "evaluation": "test"}


def decode(data: bytes) -> str:
    """UTF-8 when the bytes are UTF-8 (a BOM is dropped), else Latin-1 (Clotho's metadata CSVs)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_clotho_table(path: str) -> list[dict[str, str]]:
    """Rows of one Clotho CSV (header row), values stripped, in whichever encoding it was written."""
    reader = csv.DictReader(io.StringIO(decode(read_bytes(path))))
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str)} for row in reader]


class ClothoSource(DatasetSource):
    name = "clotho"
    description = "Clotho: Freesound clips with five human captions each (audio captioning)"
    layout = "clotho_captions_{development,validation,evaluation}.csv + {development,validation,evaluation}/*.wav"
    markers = ("clotho_captions_*.csv",)

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {}

    def items(self) -> Iterator[SourceItem | Failure]:
        for subset, split in SPLITS.items():
            captions_path = join(self.root, f"clotho_captions_{subset}.csv")
            if not any_match(captions_path):
                continue
            metadata_path = join(self.root, f"clotho_metadata_{subset}.csv")
            metadata = (
                {r.get("file_name", ""): r for r in read_clotho_table(metadata_path)}
                if any_match(metadata_path)
                else {}
            )
            for number, row in enumerate(read_clotho_table(captions_path), start=1):
                file_name = row.get("file_name", "")
                key = make_key("clotho", subset[:3], file_name.rsplit(".", 1)[0] or f"row{number}")
                captions = tuple(row[c] for c in sorted(row) if c.startswith("caption") and row.get(c))
                if not file_name or not captions:
                    yield self.fail(
                        key, "bad_row", f"clotho_captions_{subset}.csv row {number} lacks file_name or captions"
                    )
                    continue
                uri = self.safe_path(key, f"{subset}/{file_name}")
                meta = metadata.get(file_name, {})
                keywords = tuple(k.strip() for k in meta.get("keywords", "").split(";") if k.strip())
                yield self.item(
                    key=key,
                    uri=uri,
                    dataset="clotho",
                    source_id=f"{subset}/{file_name}",
                    captions=captions,
                    split=split,
                    license=meta.get("license") or LICENSE,
                    extra={
                        "keywords": list(keywords),
                        "freesound_id": meta.get("sound_id", ""),
                        "sound_link": meta.get("sound_link", ""),
                    },
                    origin=freesound_origin(meta.get("sound_id")),
                )
