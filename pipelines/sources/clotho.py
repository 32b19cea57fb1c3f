"""Clotho v2: 15-30 s Freesound clips, each with five human captions (Drossos et al. 2020).

Layout, as the Zenodo archives unpack (INPUT holds them)::

    clotho_captions_development.csv   file_name,caption_1,...,caption_5
    clotho_captions_validation.csv
    clotho_captions_evaluation.csv
    clotho_metadata_<split>.csv       file_name,keywords,sound_id,sound_link,start_end_samples,manufacturer,license
    development/<file_name>.wav   validation/...   evaluation/...   (clotho_audio_<split>.7z)

development -> train, validation -> valid, evaluation -> test. Every caption is kept as its
own human caption; the Freesound keywords (';'-separated) and per-clip license come along.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, join, read_table
from schemas import Failure, SourceItem, make_key

LICENSE = "Clotho captions: Tampere University license; audio: per-clip Freesound license (see extra)"
SPLITS = {"development": "train", "validation": "valid", "evaluation": "test"}


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
                {r.get("file_name", ""): r for r in read_table(metadata_path)} if any_match(metadata_path) else {}
            )
            for number, row in enumerate(read_table(captions_path), start=1):
                file_name = row.get("file_name", "")
                key = make_key("clotho", subset[:3], file_name.rsplit(".", 1)[0] or f"row{number}")
                captions = tuple(row[c] for c in sorted(row) if c.startswith("caption") and row.get(c))
                if not file_name or not captions:
                    yield self.fail(
                        key, "bad_row", f"clotho_captions_{subset}.csv row {number} lacks file_name or captions"
                    )
                    continue
                uri = self.safe_path(key, f"{subset}/{file_name}")
                if isinstance(uri, Failure):
                    yield uri
                    continue
                meta = metadata.get(file_name, {})
                keywords = tuple(k.strip() for k in meta.get("keywords", "").split(";") if k.strip())
                yield SourceItem(
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
                )
