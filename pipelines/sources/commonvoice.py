"""Mozilla Common Voice, one locale per run (``--lang`` selects it).

Layout, as the ``cv-corpus-<version>-<date>.tar.gz`` archives unpack (INPUT may be the
locale folder, the ``cv-corpus-*`` folder holding it, or the folder holding that)::

    cv-corpus-17.0-2024-03-15/<locale>/
      clips/common_voice_<locale>_<n>.mp3
      train.tsv dev.tsv test.tsv validated.tsv invalidated.tsv other.tsv  (tab-separated, header)

TSV columns (the set grew over releases; all are optional but ``path``): client_id, path,
sentence_id, sentence, sentence_domain, up_votes, down_votes, age (teens, twenties, thirties,
fourties -- Common Voice's spelling --, fifties, ...), gender (male / female, or male_masculine /
female_feminine / ... since v15), accents (accent before v8), variant, locale, segment. A clip in train/dev/test takes that split; a clip only
in ``validated.tsv`` gets a hashed split. ``--source-option tsv=train,dev,test`` picks the files.
The TSVs (millions of rows) are read by Beam in parallel, never listed in the launcher.
"""

from __future__ import annotations

import csv
from typing import Any

import apache_beam as beam

from pipelines.sources.base import SourceError
from pipelines.sources.common import (
    DatasetSource,
    UnsafePath,
    any_match,
    commonvoice_origin,
    failure,
    glob,
    join,
    layout_message,
    limit_items,
    read_rows,
    resolve_under,
    stem,
)
from schemas import Failure, SourceItem, make_key
from schemas.vocab import AGE_GROUPS, GENDERS, LANGUAGES, normalize_age_group, normalize_gender, normalize_language

TSV_SPLITS = {"train": "train", "dev": "valid", "test": "test", "validated": None, "other": None, "invalidated": None}
DEFAULT_TSVS = "train,dev,test,validated"
LICENSE = "CC0-1.0 (Mozilla Common Voice)"
# Common Voice's own spelling of the forties bucket (every release's TSVs and its site's
# dataset statistics say "fourties"); our vocabulary spells it "forties".
CV_AGE_SPELLINGS = {"fourties": "forties"}
EXTRA_COLUMNS = ("accents", "accent", "variant", "sentence_domain", "segment", "up_votes", "down_votes", "sentence_id")


def cv_age(value: str | None) -> str | None:
    """A Common Voice age bucket (teens ... nineties, "fourties" included) on our age groups."""
    bucket = (value or "").strip().lower()
    return normalize_age_group(CV_AGE_SPELLINGS.get(bucket, bucket))


def row_to_record(
    path: str, value: tuple[int, str | None, str, dict[str, str]], root: str, locale: str
) -> SourceItem | Failure:
    _, split, tsv, row = value
    key = make_key("cv", locale, stem(path))
    try:
        uri = resolve_under(join(root, "clips"), path)
    except UnsafePath as exc:
        return failure(key, "commonvoice", "unsafe_path", f"{tsv}.tsv: {exc}")
    extra: dict[str, Any] = {"locale": row.get("locale") or locale, "tsv": tsv}
    extra.update({c: row[c] for c in EXTRA_COLUMNS if row.get(c)})
    return SourceItem(
        key=key,
        uri=uri,
        dataset="commonvoice",
        source_id=f"{locale}/{path}",
        origin=commonvoice_origin(path),
        language=normalize_language(row.get("locale") or locale),
        transcript=row.get("sentence") or None,
        speaker_id=row.get("client_id") or None,
        gender=normalize_gender(row.get("gender")),
        age=cv_age(row.get("age")),
        labels=("speech",),
        split=split,
        license=LICENSE,
        extra=extra,
    )


class CommonVoiceSource(DatasetSource):
    name = "commonvoice"
    description = "Mozilla Common Voice (one locale per --lang): read speech, transcripts, speaker gender/age/accent"
    layout = "[cv-corpus-*/]<locale>/clips/*.mp3 + <locale>/{train,dev,test,validated}.tsv"
    markers = ("validated.tsv", "clips")

    @property
    def root(self) -> str:
        if self._root is None:
            self._root = self._locale_root() or (self.settings.input or "")
        return self._root

    def _locale_root(self) -> str | None:
        base, lang = (self.settings.input or "").rstrip("/"), self.settings.language
        for candidate in (base, join(base, lang)):
            if any_match(join(candidate, "*.tsv")) and any_match(join(candidate, "clips")):
                return candidate
        found = glob(join(base, "*", lang, "validated.tsv")) or glob(join(base, "*", lang, "train.tsv"))
        return found[0].rsplit("/", 1)[0] if found else None

    @property
    def tsvs(self) -> list[str]:
        names = [t.strip().removesuffix(".tsv") for t in self.option.get("tsv", DEFAULT_TSVS).split(",") if t.strip()]
        unknown = [n for n in names if n not in TSV_SPLITS]
        if unknown:
            raise SourceError(
                f"--source-option tsv: unknown Common Voice table(s) {unknown}; known: {', '.join(TSV_SPLITS)}"
            )
        return names

    def check(self) -> None:
        if not self.settings.input:
            super().check()
        if self._locale_root() is None:
            raise SourceError(
                layout_message(
                    self.name, self.settings.input or "", self.layout, [f"{self.settings.language}/validated.tsv"]
                )
            )
        if not [t for t in self.tsvs if any_match(join(self.root, f"{t}.tsv"))]:
            raise SourceError(f"none of {', '.join(t + '.tsv' for t in self.tsvs)} exists in {self.root!r}")

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"language": sorted(LANGUAGES), "gender": list(GENDERS), "age": list(AGE_GROUPS)}

    def items(self):  # enumeration happens in expand(), read by Beam
        raise NotImplementedError("Common Voice is read in the pipeline: use expand()")

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        root, locale = self.root, self.settings.language
        tables = []
        for priority, tsv in enumerate(self.tsvs):
            path = join(root, f"{tsv}.tsv")
            if not any_match(path):
                continue
            split = TSV_SPLITS[tsv]
            tables.append(
                read_rows(pipeline, f"cv {tsv}", path, delimiter="\t", quoting=csv.QUOTE_NONE)
                | f"cv key {tsv}"
                >> beam.Map(lambda row, p=priority, s=split, t=tsv: (row.get("path", ""), (p, s, t, row)))
            )
        rows = tables | "cv tables" >> beam.Flatten()
        # A clip listed in several tables (train.tsv and validated.tsv) keeps the first table's split.
        records = (
            rows
            | "cv one row per clip" >> beam.CombinePerKey(lambda values: min(values, key=lambda v: v[0]))
            | "cv records"
            >> beam.MapTuple(
                lambda path, value: (
                    row_to_record(path, value, root, locale)
                    if path
                    else failure(
                        make_key("cv", locale, "row", value[2]),
                        "commonvoice",
                        "missing_path",
                        f"{value[2]}.tsv row without a path",
                    )
                )
            )
        )
        return limit_items(records, self.settings.limit, "cv")
