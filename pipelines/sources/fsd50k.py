"""FSD50K: 51,197 Freesound clips, multi-labelled with 200 AudioSet-ontology classes (Fonseca et al. 2022).

Layout, as the Zenodo archives unpack (INPUT holds them)::

    FSD50K.ground_truth/dev.csv       fname,labels,mids,split     (labels: "Bark,Dog,Animal"; split train/val)
    FSD50K.ground_truth/eval.csv      fname,labels,mids
    FSD50K.ground_truth/vocabulary.csv   index,label,mid (no header)
    FSD50K.dev_audio/<fname>.wav      FSD50K.eval_audio/<fname>.wav
    FSD50K.metadata/{dev,eval}_clips_info_FSD50K.json   {fname: {title, description, tags, license, uploader}}  (optional)

dev/train -> train, dev/val -> valid, eval -> test. Labels include their ontology ancestors,
as published. The per-clip Creative Commons license and the uploader come from the clip info.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from pipelines.sources.common import (
    DatasetSource,
    any_match,
    freesound_origin,
    join,
    label_phrase,
    read_table,
    read_text,
    split_name,
)
from schemas import Failure, SourceItem, make_key

LICENSE = "FSD50K ground truth: CC BY 4.0; audio: per-clip Creative Commons license (see extra)"


class FSD50KSource(DatasetSource):
    name = "fsd50k"
    description = "FSD50K: Freesound clips with multi-label AudioSet-ontology annotations (200 classes)"
    layout = "FSD50K.ground_truth/{dev,eval}.csv + FSD50K.{dev,eval}_audio/<fname>.wav"
    markers = ("FSD50K.ground_truth/dev.csv",)

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"class": []}  # FSD50K.ground_truth/vocabulary.csv: see classes()

    def classes(self) -> list[str]:
        path = join(self.root, "FSD50K.ground_truth", "vocabulary.csv")
        return [r["label"] for r in read_table(path, fieldnames=["index", "label", "mid"])] if any_match(path) else []

    def _clip_info(self, subset: str) -> dict[str, dict]:
        path = join(self.root, "FSD50K.metadata", f"{subset}_clips_info_FSD50K.json")
        return json.loads(read_text(path)) if any_match(path) else {}

    def items(self) -> Iterator[SourceItem | Failure]:
        for subset in ("dev", "eval"):
            table = join(self.root, "FSD50K.ground_truth", f"{subset}.csv")
            if not any_match(table):
                continue
            info = self._clip_info(subset)
            for number, row in enumerate(read_table(table), start=1):
                fname, labels = row.get("fname", ""), [lab for lab in row.get("labels", "").split(",") if lab]
                key = make_key("fsd50k", subset, fname or f"row{number}")
                if not fname or not labels:
                    yield self.fail(key, "bad_row", f"{subset}.csv row {number} lacks fname or labels")
                    continue
                split = "test" if subset == "eval" else split_name(row.get("split")) or "train"
                uri = self.safe_path(key, f"FSD50K.{subset}_audio/{fname}.wav")
                clip = info.get(fname, {})
                yield self.item(
                    key=key,
                    uri=uri,
                    dataset="fsd50k",
                    source_id=f"{subset}/{fname}",
                    labels=tuple(label_phrase(lab) for lab in labels),
                    split=split,
                    license=clip.get("license") or LICENSE,
                    extra={
                        "mids": row.get("mids", "").split(","),
                        "freesound_id": fname,
                        "title": clip.get("title", ""),
                        "uploader": clip.get("uploader", ""),
                        "tags": clip.get("tags", []),
                    },
                    origin=freesound_origin(fname),
                )
