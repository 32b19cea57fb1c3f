"""Multilingual Spoken Words Corpus (MLCommons): one-second keywords in 50 languages.

Layout, as the per-language ``audio/<lang>.tar.gz`` and ``splits/<lang>.tar.gz`` archives
unpack (INPUT holds ``<lang>/`` for ``--lang``; the splits CSV may sit beside the audio or in
``splits/``)::

    <lang>/clips/<word>/common_voice_<lang>_<n>.opus       48 kHz Opus, one keyword each
    <lang>_splits.csv | <lang>/<lang>_splits.csv | splits/<lang>_splits.csv | splits/<lang>/<lang>_splits.csv
        SET,LINK,WORD,VALID,SPEAKER,GENDER    (SET: TRAIN/DEV/TEST; LINK: <word>/<file>.opus;
                                                VALID: TRUE/FALSE; GENDER: MALE/FEMALE/OTHER/NAN)

The keyword is the transcript (keyword-spotting label, ``extra["keyword"]``); the speaker is a
Common Voice client hash ("NA" when unknown). The splits CSV (millions of rows for large
languages) is read by Beam.

Keys: one Common Voice clip yields several keywords, so a key is clip + keyword. Keywords are
mostly non-Latin in many languages (Russian, Arabic, Persian, Tamil, Greek, Georgian...), so a
keyword that is not already key-safe becomes its ASCII part plus a stable hash of its NFC form
(``абзар`` -> ``u-<12 hex>``): distinct keywords never share a key, and a rerun gives the same keys.

``VALID=FALSE`` rows (the publisher's flag that a sample failed its validity check; their
speaker is "NA") are not shard material: each is a ``invalid_sample`` failure record, counted in
the dataset card's failures by reason. ``--source-option valid=all`` keeps them instead, with
``extra["valid"] = False`` in the sample's ``original_data``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import apache_beam as beam

from pipelines.sources.base import SourceError
from pipelines.sources.common import (
    DatasetSource,
    UnsafePath,
    any_match,
    commonvoice_origin,
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


def keyword_slug(word: str) -> str:
    """A key-safe, deterministic stand-in for a keyword: itself when already safe, else its
    ASCII part plus a hash of its NFC form, so non-Latin keywords never collide."""
    word = unicodedata.normalize("NFC", word.strip())
    if re.fullmatch(r"[A-Za-z0-9_-]+", word):
        return word
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=6).hexdigest()
    ascii_part = re.sub(r"[^A-Za-z0-9]+", "_", word).strip("_")
    return f"{ascii_part}-{digest}" if ascii_part else f"u-{digest}"


def is_valid(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes")


def row_to_record(row: dict[str, str], clips: str, lang: str, keep_invalid: bool = False) -> SourceItem | Failure:
    link, word = row.get("LINK", ""), row.get("WORD", "")
    key = make_key("mswc", lang, stem(link) or "row", keyword_slug(word) if word else "")
    if not link or not word:
        return failure(key, "mswc", "bad_row", f"splits row without LINK or WORD: {row}")
    valid = is_valid(row.get("VALID"))
    if not valid and not keep_invalid:
        return failure(key, "mswc", "invalid_sample", f"VALID={row.get('VALID')!r} in the splits CSV: {link}")
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
        origin=commonvoice_origin(link),  # the Common Voice clip the keyword was cut from
        language=normalize_language(lang),
        transcript=word,
        speaker_id=row.get("SPEAKER") if row.get("SPEAKER") not in ("", "NA", "NAN", None) else None,
        gender=normalize_gender(row.get("GENDER")),
        labels=("speech", "spoken word"),
        split=split,
        license=LICENSE,
        extra={"keyword": word, "valid": valid},
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
        keep_invalid = self.option.get("valid", "true").strip().lower() == "all"
        records = read_rows(pipeline, f"mswc {lang} splits", self.splits_csv() or "") | "mswc records" >> beam.Map(
            row_to_record, clips, lang, keep_invalid
        )
        return limit_items(records, self.settings.limit, "mswc")
