"""Duplicate audio and eval decontamination, before the plan: small records through shuffles only.

    items ──(decode, fingerprint; the audio stays on the worker)──> (key, 64-byte print, duration)
    eval sets (our shards | adapter folders) ──(same)──────────────> (eval item, print)
          -> file every print under its LSH buckets (transforms/fingerprint.py: 12 bands x 4 probes)
          -> group by bucket -> compare inside each bucket -> verdicts (key -> what it repeats)
    items' (dataset, source id) ⋈ eval sets' (dataset, source id) ─> verdicts
          -> one verdict per key (eval_overlap first, then the smallest key duplicated)
          -> items ⋈ verdicts by key: items without one go on to the plan, the others are failures

Deterministic: inside a bucket the train prints are sorted by key and an item is a
``duplicate_audio`` of the smallest key before it whose audio matches; so the first by key order
lands whatever order the runner delivers. An item matching any eval print is an ``eval_overlap``
naming the eval set and item. Nothing is held globally: a worker holds one bucket at a time.

Cost: the pass decodes every item once more; the print itself costs little beside that decode
(``bench/dedupe.py`` measures both, and how far copies stay apart; figures in README's benchmark
table).

Scale. Through the bucket shuffle go 48 records per item (12 bands x 4 probes) of ~110 bytes
(key, 64-byte print, duration): ~5 KB per item, ~105 GB at 20 M items and ~530 GB at 100 M (the
audio itself is ~0.5 MB per 10-s item and never moves). Buckets: 12 x 2^22 names, so a bucket
holds 48 N / (12 x 2^22) = N / 2^20 prints on average: ~19 at 20 M, ~95 at 100 M; comparisons
(64-byte XOR + popcount, ~1.5 M/s per core) ~ buckets x mean^2 / 2: ~9e9 at 20 M (~2 core-hours),
~2.3e11 at 100 M (~40 core-hours, ~5 % of the decode pass). A worker holds one bucket at a time. A
bucket of more than ``MAX_BUCKET_PRINTS`` distinct prints (one sound repeated, near-silence)
compares each print with the ``MAX_BUCKET_PRINTS`` before it by key only (counted as
``dedupe/wide_buckets``), so its time stays linear; identical prints collapse before comparing.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from schemas import Failure, SourceItem
from schemas.settings import setting
from transforms import storage
from transforms.fingerprint import (
    DURATION_TOLERANCE,
    MAX_DISTANCE,
    MIN_DURATION_SLACK_S,
    Fingerprint,
    bucket_keys,
    distances,
    fingerprint,
)

STAGE = "dedupe"
DUPLICATE = "duplicate_audio"
EVAL_OVERLAP = "eval_overlap"
MAX_BUCKET_PRINTS = 4096
"""Distinct prints a bucket compares all pairs of; beyond, each print meets the 4096 before it."""


@dataclass(frozen=True)
class ScreenSettings:
    """Screening before the plan: duplicate audio and evaluation sets (a decode pass when on)."""

    # Not output-shaping: they decide which items are planned, and the plan is hashed into each
    # shard's fingerprint through its items.
    dedupe_audio: bool = setting(
        False,
        "drop exact and near-duplicate audio across the build (the first key lands; costs a decode pass)",
        shapes_output=False,
    )
    exclude_eval: tuple[str, ...] = setting(
        (),
        "an evaluation corpus whose items must not be trained on: our shards' folder, a folder of files, "
        "or ADAPTER=PATH (esc50=, crema-d=, audiocaps=, clotho=...); drops items sharing a source id or "
        "audio with it (repeatable)",
        shapes_output=False,
        metavar="[ADAPTER=]PATH",
        repeatable=True,
    )
    dedupe_max_distance: float = setting(
        MAX_DISTANCE,
        "share of differing fingerprint bits up to which two recordings are the same audio",
        shapes_output=False,
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.dedupe_max_distance < 0.5:
            raise ValueError("--dedupe-max-distance must be in [0, 0.5)")

    @property
    def active(self) -> bool:
        return self.dedupe_audio or bool(self.exclude_eval)


@dataclass(frozen=True)
class AudioPrint:
    """What crosses the bucket shuffle: a key, its fingerprint bits and duration, and its side.

    ``eval_set`` is empty for the build's own items; for an eval recording it names the set, and
    ``key`` is the eval item's id in it.
    """

    key: str
    bits: bytes
    duration_s: float
    eval_set: str = ""

    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.bits, self.duration_s)


@dataclass(frozen=True)
class Verdict:
    """Why an item does not land: what it repeats (a key, or ``set: item`` of an eval set)."""

    reason: str
    of: str
    distance: float | None = None
    """Bit distance of the audio match; None for a source-id match."""
    eval_set: str = ""
    """The eval set the item overlaps (an ``eval_overlap``)."""

    def rank(self) -> tuple[int, str, float]:
        """Eval overlaps first, then the smallest key; a source-id match before an audio one."""
        return (0 if self.reason == EVAL_OVERLAP else 1, self.of, -1.0 if self.distance is None else self.distance)

    def failure(self, item: SourceItem) -> Failure:
        how = "same source id" if self.distance is None else f"audio distance {self.distance:.3f}"
        verb = "duplicates" if self.reason == DUPLICATE else "overlaps eval item"
        return Failure(
            key=item.key,
            source=item.dataset,
            stage=STAGE,
            reason=self.reason,
            detail=f"{verb} {self.of} ({how})",
            eval_set=self.eval_set,
        )


def source_id_key(dataset: str, source_id: str) -> str:
    """Items of one dataset with one id are one recording (the file extension set aside)."""
    stem, dot, ext = source_id.rpartition(".")
    return f"{dataset}/{stem if dot and '/' not in ext and len(ext) <= 5 else source_id}"


# ----------------------------------------------------------------------------- fingerprints


class FingerprintItems(beam.DoFn):
    """SourceItem -> (bucket, AudioPrint) for each of its LSH buckets; audio never leaves the worker.

    An item that cannot be decoded yields nothing here: it goes on to the build, whose decode
    stage records its failure with the real reason.
    """

    def __init__(self, decode_settings: Any, storage_options: dict | None = None, eval_set: str = "") -> None:
        self.decode_settings = decode_settings
        self.storage_options = storage_options
        self.eval_set = eval_set

    def setup(self) -> None:
        from transforms.decode import build_decode

        storage.configure(self.storage_options)
        self.decode = build_decode(_Config(self.decode_settings))
        self.decode.setup()
        self.undecodable = Metrics.counter(STAGE, "undecodable")
        self.audio_ms = Metrics.counter(STAGE, "audio_ms_fingerprinted")

    def process(self, item: SourceItem) -> Iterator[tuple[str, AudioPrint]]:
        samples, _ = self.decode.process_items([item])
        if not samples:
            self.undecodable.inc()
            return
        fp = fingerprint(samples[0].audio)
        self.audio_ms.inc(int(fp.duration_s * 1000))
        key = f"{item.dataset}/{item.source_id}" if self.eval_set else item.key
        yield from filed(AudioPrint(key, fp.bits, fp.duration_s, self.eval_set), fp)


@dataclass(frozen=True)
class _Config:
    decode: Any


def filed(record: AudioPrint, fp: Fingerprint) -> Iterator[tuple[str, AudioPrint]]:
    for bucket in bucket_keys(fp):
        yield bucket, record


class ShardPrints(beam.DoFn):
    """One tar of our own shards (an eval set) -> its samples' buckets and source ids."""

    def __init__(self, eval_set: str, storage_options: dict | None = None) -> None:
        self.eval_set = eval_set
        self.storage_options = storage_options

    def setup(self) -> None:
        storage.configure(self.storage_options)

    def process(self, tar_path: str) -> Iterator[Any]:
        import json

        import soundfile as sf

        members: dict[str, dict[str, bytes]] = {}
        with storage.open_read(tar_path) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, _, ext = member.name.partition(".")
                members.setdefault(key, {})[ext] = tar.extractfile(member).read()
        for key, parts in sorted(members.items()):
            if "json" not in parts:
                continue
            original = json.loads(parts["json"]).get("original_data", {})
            dataset, source_id = str(original.get("dataset", "")), str(original.get("source_id", ""))
            label = f"{dataset}/{source_id}" if source_id else key
            if source_id:
                yield beam.pvalue.TaggedOutput("ids", (source_id_key(dataset, source_id), (self.eval_set, label)))
            if "flac" in parts:
                audio, rate = sf.read(io.BytesIO(parts["flac"]), dtype="float32")
                fp = fingerprint(audio, rate)
                yield from filed(AudioPrint(label, fp.bits, fp.duration_s, self.eval_set), fp)


# ----------------------------------------------------------------------------- matching


def match_bucket(
    element: tuple[str, Iterable[AudioPrint]], max_distance: float = MAX_DISTANCE, dedupe: bool = True
) -> Iterator[Any]:
    """Verdicts of one bucket: train items matching an eval print, or (``dedupe``) an earlier train item."""
    _, prints = element
    prints = list(prints)
    evals = sorted({(p.eval_set, p.key, p.bits, p.duration_s) for p in prints if p.eval_set})
    if not dedupe and not evals:
        return
    train = sorted({(p.key, p.bits, p.duration_s) for p in prints if not p.eval_set})
    if len(train) > MAX_BUCKET_PRINTS:
        Metrics.counter(STAGE, "wide_buckets").inc()
    eval_bits = _matrix([e[2] for e in evals])
    eval_durations = np.array([e[3] for e in evals])
    train_bits = _matrix([t[1] for t in train])
    train_durations = np.array([t[2] for t in train])
    first_of_bits: dict[tuple[bytes, float], str] = {}
    for index, (key, bits, duration) in enumerate(train):
        if evals:
            near = _near(bits, duration, eval_bits, eval_durations, max_distance)
            if near is not None:
                j, d = near
                yield key, Verdict(EVAL_OVERLAP, f"{evals[j][0]}: {evals[j][1]}", d, evals[j][0])
                continue
        if not dedupe:
            continue
        same = first_of_bits.get((bits, duration))
        if same is not None and same != key:
            yield key, Verdict(DUPLICATE, same, 0.0)
            continue
        first_of_bits.setdefault((bits, duration), key)
        lo = max(0, index - MAX_BUCKET_PRINTS)
        near = _near(bits, duration, train_bits[lo:index], train_durations[lo:index], max_distance)
        if near is not None and train[lo + near[0]][0] != key:
            yield key, Verdict(DUPLICATE, train[lo + near[0]][0], near[1])


def _matrix(rows: list[bytes]) -> np.ndarray:
    if not rows:
        return np.zeros((0, 0), dtype=np.uint8)
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), -1)


def _near(
    bits: bytes, duration: float, others: np.ndarray, durations: np.ndarray, max_distance: float
) -> tuple[int, float] | None:
    """(index, distance) of the first row that is the same audio, or None."""
    if not len(others):
        return None
    longer = np.maximum(durations, duration)
    same_length = np.abs(durations - duration) <= np.maximum(MIN_DURATION_SLACK_S, DURATION_TOLERANCE * longer)
    d = distances(bits, others)
    hits = np.flatnonzero(same_length & (d <= max_distance))
    return (int(hits[0]), round(float(d[hits[0]]), 3)) if len(hits) else None


def _first_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    return min(verdicts, key=Verdict.rank)


def _split_verdicts(element: tuple[str, dict[str, list]]) -> Iterator[Any]:
    _, joined = element
    verdicts = joined["verdict"]
    for item in joined["item"]:
        if verdicts:
            yield beam.pvalue.TaggedOutput("failures", verdicts[0].failure(item))
        else:
            yield item


def _id_verdicts(element: tuple[str, dict[str, list]]) -> Iterator[tuple[str, Verdict]]:
    _, joined = element
    if joined["eval"]:
        eval_set, label = min(tuple(pair) for pair in joined["eval"])
        for key in sorted(set(joined["train"])):
            yield key, Verdict(EVAL_OVERLAP, f"{eval_set}: {label}", eval_set=eval_set)


# ----------------------------------------------------------------------------- eval sets


@dataclass(frozen=True)
class EvalSet:
    """An evaluation corpus: our shards (``adapter`` None) or a folder an adapter reads."""

    name: str
    path: str
    adapter: str | None = None


def parse_eval_sets(specs: Iterable[str]) -> list[EvalSet]:
    """``PATH`` (our shards, else a folder) or ``ADAPTER=PATH`` (esc50=..., crema-d=...)."""
    sets = []
    for spec in specs:
        adapter, sep, path = spec.partition("=")
        if not sep or "/" in adapter or ":" in adapter:
            adapter, path = "", spec
        path = path.rstrip("/") or path
        name = os.path.basename(path) or path
        if not storage.exists(path):
            raise ValueError(f"--exclude-eval: {path!r} does not exist")
        if not adapter and not is_shards(path):
            if storage.list_files(storage.join(path, "*", "*", "sizes.json")):
                raise ValueError(f"--exclude-eval: {path!r} holds several corpora; name one (<root>/<name>)")
            adapter = "folder"
        if adapter:
            _check_adapter(adapter, path)
        sets.append(EvalSet(name=name, path=path, adapter=adapter or None))
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"--exclude-eval: two eval sets share a name ({', '.join(names)}); rename a folder")
    return sets


def _check_adapter(adapter: str, path: str) -> None:
    from pipelines.sources.base import SourceError, SourceSettings, make_source

    try:
        make_source(adapter, SourceSettings(input=path)).check()
    except SourceError as exc:
        raise ValueError(f"--exclude-eval {adapter}={path}: {exc}") from None


def is_shards(path: str) -> bool:
    return storage.exists(storage.join(path, "dataset_card.json")) or bool(
        storage.list_files(storage.join(path, "*", "sizes.json"))
    )


class _EvalRecords(beam.PTransform):
    """One eval set -> {"prints": its (bucket, AudioPrint), "ids": its (source id, eval item)}."""

    def __init__(self, eval_set: EvalSet, decode_settings: Any, storage_options: dict | None) -> None:
        super().__init__()
        self.eval_set, self.decode_settings, self.storage_options = eval_set, decode_settings, storage_options

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        es = self.eval_set
        if es.adapter is None:
            tars = storage.list_files(storage.join(es.path, "*", "*.tar"))
            out = (
                pbegin
                | "Tars" >> beam.Create(tars)
                | "Reshuffle" >> beam.Reshuffle()
                | "Prints" >> beam.ParDo(ShardPrints(es.name, self.storage_options)).with_outputs("ids", main="prints")
            )
            return {"prints": out.prints, "ids": out.ids}
        from pipelines.sources.base import SourceSettings, make_source

        source = make_source(es.adapter, SourceSettings(input=es.path))
        source.check()
        items = source.expand(pbegin.pipeline) | "ItemsOnly" >> beam.Filter(lambda r: isinstance(r, SourceItem))
        prints = items | "Prints" >> beam.ParDo(FingerprintItems(self.decode_settings, self.storage_options, es.name))
        ids = items | "Ids" >> beam.Map(
            lambda it, name=es.name: (source_id_key(it.dataset, it.source_id), (name, f"{it.dataset}/{it.source_id}"))
        )
        return {"prints": prints, "ids": ids}


class ScreenItems(beam.PTransform):
    """SourceItems -> items that land (main) and ``duplicate_audio`` / ``eval_overlap`` failures."""

    def __init__(
        self,
        decode_settings: Any,
        dedupe_audio: bool,
        eval_sets: list[EvalSet],
        storage_options: dict | None = None,
        max_distance: float = MAX_DISTANCE,
    ) -> None:
        super().__init__()
        self.decode_settings = decode_settings
        self.dedupe_audio = dedupe_audio
        self.eval_sets = eval_sets
        self.storage_options = storage_options
        self.max_distance = max_distance

    def expand(self, items: beam.PCollection) -> Any:
        pipeline = items.pipeline
        prints = [items | "Fingerprint" >> beam.ParDo(FingerprintItems(self.decode_settings, self.storage_options))]
        id_verdicts = []
        if self.eval_sets:
            eval_ids = []
            for es in self.eval_sets:
                out = pipeline | f"Eval {es.name}" >> _EvalRecords(es, self.decode_settings, self.storage_options)
                prints.append(out["prints"])
                eval_ids.append(out["ids"])
            train_ids = items | "TrainIds" >> beam.Map(lambda it: (source_id_key(it.dataset, it.source_id), it.key))
            id_verdicts.append(
                {"train": train_ids, "eval": eval_ids | "EvalIds" >> beam.Flatten()}
                | "JoinIds" >> beam.CoGroupByKey()
                | "IdVerdicts" >> beam.FlatMap(_id_verdicts)
            )
        max_distance = self.max_distance
        bucket_verdicts = (
            prints
            | "AllPrints" >> beam.Flatten()
            | "GroupByBucket" >> beam.GroupByKey()
            | "MatchBuckets" >> beam.FlatMap(match_bucket, max_distance=max_distance, dedupe=self.dedupe_audio)
        )
        verdicts = (
            [bucket_verdicts, *id_verdicts]
            | "AllVerdicts" >> beam.Flatten()
            | "OneVerdictPerKey" >> beam.CombinePerKey(_first_verdict)
        )
        return (
            {"item": items | "ByKey" >> beam.Map(lambda it: (it.key, it)), "verdict": verdicts}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "Screen" >> beam.FlatMap(_split_verdicts).with_outputs("failures", main="items")
        )
