"""Multilingual Spoken Words Corpus (MLCommons): one-second keywords in 50 languages.

Layout, as the per-language ``<lang>.tar.gz`` (audio) and ``<lang>_splits.tar.gz`` archives
unpack (INPUT holds ``<lang>/`` for ``--lang``; the splits CSV may sit beside the audio or in
``splits/``)::

    <lang>/clips/<word>/common_voice_<lang>_<n>.opus       48 kHz Opus, one keyword each
    <lang>_splits.csv | <lang>/<lang>_splits.csv | splits/<lang>_splits.csv | splits/<lang>/<lang>_splits.csv
        SET,LINK,WORD,VALID,SPEAKER,GENDER    (SET: TRAIN/DEV/TEST; LINK: <word>/<file>.opus;
                                                GENDER: MALE/FEMALE/OTHER/NAN)

The keyword is the transcript (keyword-spotting label, ``extra["keyword"]``); the speaker is a
Common Voice client hash. The splits CSV (millions of rows for large languages) is read by Beam.
"""

from __future__ import annotations

import apache_beam as beam

from pipelines.sources.base import SourceError
from pipelines.sources.common import (
    DatasetSource,
    UnsafePath,
    any_match,
    failure,
    join,
    layout_message,
    limit_items,
    read_rows,
    resolve_under,
    split_name,
    stem,
)
from schemas import Failure, SourceItem, make_key
from schemas.vocab import GENDERS, LANGUAGES, normalize_gender, normalize_language

LICENSE = "CC BY 4.0 (Multilingual Spoken Words Corpus, MLCommons; derived from Common Voice)"


def row_to_record(row: dict[str, str], clips: str, lang: str) -> SourceItem | Failure:
    link, word = row.get("LINK", ""), row.get("WORD", "")
    key = make_key("mswc", lang, stem(link) or "row", word)
    if not link or not word:
        return failure(key, "mswc", "bad_row", f"splits row without LINK or WORD: {row}")
    try:
        uri = resolve_under(clips, link)
    except UnsafePath as exc:
        return failure(key, "mswc", "unsafe_path", str(exc))
    split = split_name(row.get("SET"))
    if row.get("SET") and split is None:
        return failure(key, "mswc", "unknown_split", f"SET={row.get('SET')!r}")
    return SourceItem(
        key=key,
        uri=uri,
        dataset="mswc",
        source_id=f"{lang}/{link}",
        language=normalize_language(lang),
        transcript=word,
        speaker_id=row.get("SPEAKER") or None,
        gender=normalize_gender(row.get("GENDER")),
        labels=("speech", "spoken word"),
        split=split,
        license=LICENSE,
        extra={"keyword": word, "valid": row.get("VALID", "")},
    )


class MSWCSource(DatasetSource):
    name = "mswc"
    description = "Multilingual Spoken Words Corpus: keyword utterances (Opus) in 50 languages, keyword-spotting labels"
    layout = "<lang>/clips/<word>/*.opus + <lang>_splits.csv (SET,LINK,WORD,VALID,SPEAKER,GENDER)"
    markers = ("*/clips/*/*.opus",)

    def splits_csv(self) -> str | None:
        lang, root = self.settings.language, (self.settings.input or "").rstrip("/")
        candidates = [
            f"{lang}_splits.csv",
            f"{lang}/{lang}_splits.csv",
            f"splits/{lang}_splits.csv",
            f"splits/{lang}/{lang}_splits.csv",
        ]
        return next((join(root, c) for c in candidates if any_match(join(root, c))), None)

    def check(self) -> None:
        lang, root = self.settings.language, (self.settings.input or "").rstrip("/")
        if not root:
            super().check()
        if not any_match(join(root, lang, "clips")) or self.splits_csv() is None:
            missing = [f"{lang}/clips/"] if not any_match(join(root, lang, "clips")) else []
            missing += [f"{lang}_splits.csv"] if self.splits_csv() is None else []
            raise SourceError(layout_message(self.name, root, self.layout, missing))

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"language": sorted(LANGUAGES), "gender": list(GENDERS)}

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        lang = self.settings.language
        clips = join((self.settings.input or "").rstrip("/"), lang, "clips")
        records = read_rows(pipeline, f"mswc {lang} splits", self.splits_csv() or "") | "mswc records" >> beam.Map(
            row_to_record, clips, lang
        )
        return limit_items(records, self.settings.limit, "mswc")
