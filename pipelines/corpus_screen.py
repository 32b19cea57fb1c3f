"""Cross-dataset dedup and decontamination of one recipe dataset, before its plan.

    items ──(origin)────────────────────────────┐
          ──(decode, fingerprint: LSH buckets)──┤   earlier datasets' side files ─┐
                                                ├── group by origin / by bucket ◄─┤
                                                │                                 └ eval sets' side files
          verdict per key (eval overlap first, then the earliest dataset, then the smallest key)
          -> items without a verdict go on to the shard build and into this dataset's side file;
             the others are failures naming the dataset (or eval set) and item they repeat

A *side file* is what a dataset leaves for the datasets after it: one JSON line per item kept,
``{"key", "origin", "bits", "duration_s", "weak"}`` (``bits``: the 64-byte fingerprint of
:mod:`transforms.fingerprint` in hex; ``weak``: the bits its LSH probes flip, from which its
bucket names are made again), about 300 bytes an item, written as
``SIDE_BUCKETS`` files by a hash of the key, each sorted. Nothing is held globally: the comparison
is two shuffles (by origin, by bucket), like :mod:`pipelines.dedupe`'s, with the earlier datasets'
records read from their side files by Beam.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np

from pipelines.dedupe import EVAL_OVERLAP, FingerprintItems, _matrix, _near
from schemas import Failure, SourceItem
from transforms import storage
from transforms.fingerprint import (
    _LSH_ORDER,
    BAND_BITS,
    BITS,
    LSH_BANDS,
    MAX_DISTANCE,
    PROBE_BITS,
    Fingerprint,
    bucket_keys,
    fingerprint,
)

STAGE = "corpus"
CROSS_DUPLICATE = "cross_duplicate"
SIDE_BUCKETS = 16
"""Files a side file is cut into, by a hash of the key (each written sorted by one worker)."""


@dataclass(frozen=True)
class Other:
    """An item of an earlier dataset or of an eval set, as its side file records it."""

    rank: int
    """Eval sets first (0), then the recipe's datasets in order (1, 2, ...)."""
    name: str
    key: str
    origin: str = ""
    bits: bytes = b""
    duration_s: float = 0.0
    buckets: tuple[str, ...] = ()

    @property
    def eval(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class CrossVerdict:
    """Why an item does not land: the dataset (or eval set) and item it repeats, and how."""

    rank: int
    name: str
    of: str
    how: str

    def order(self) -> tuple[int, str, int, str, str]:
        """Eval sets first, then the earliest dataset; within one, a same-origin match first."""
        return (self.rank, self.name, 0 if self.how.startswith("same origin") else 1, self.of, self.how)

    def failure(self, item: SourceItem) -> Failure:
        if self.rank == 0:
            reason, verb = EVAL_OVERLAP, "overlaps eval item"
        else:
            reason, verb = CROSS_DUPLICATE, "duplicates item of earlier dataset"
        return Failure(
            key=item.key,
            source=item.dataset,
            stage=STAGE,
            reason=reason,
            detail=f"{verb} {self.name}: {self.of} ({self.how})",
            eval_set=self.name if self.rank == 0 else "",
        )


def weak_bits(fp: Fingerprint) -> tuple[int, ...]:
    """The bits :func:`~transforms.fingerprint.bucket_keys` flips for its probes (per LSH band, its
    ``PROBE_BITS`` weakest), as positions in the print: all a side file needs of the bits' strengths."""
    strength = np.asarray(fp.strength)
    weak: list[int] = []
    for band in range(LSH_BANDS):
        positions = _LSH_ORDER[band * BAND_BITS : (band + 1) * BAND_BITS]
        weak += sorted(int(positions[i]) for i in np.argsort(strength[positions], kind="stable")[:PROBE_BITS])
    return tuple(weak)


def buckets_of(bits: bytes, duration_s: float, weak: Iterable[int]) -> tuple[str, ...]:
    """The LSH buckets of a print from its bits and weak bits (the same names as from its strengths)."""
    strength = np.ones(BITS, dtype=np.int64)
    strength[list(weak)] = 0
    return tuple(bucket_keys(Fingerprint(bits, duration_s, tuple(strength.tolist()))))


def side_line(key: str, origin: str, print_: tuple[bytes, float, tuple[int, ...]] | None) -> str:
    record: dict[str, Any] = {"key": key, "origin": origin}
    if print_ is not None:
        bits, duration, weak = print_
        record.update(bits=bits.hex(), duration_s=round(duration, 4), weak=list(weak))
    return json.dumps(record, sort_keys=True)


def parse_side(line: str, rank: int, name: str) -> Other:
    record = json.loads(line)
    bits, duration = bytes.fromhex(record.get("bits", "")), float(record.get("duration_s", 0.0))
    return Other(
        rank=rank,
        name=name,
        key=record["key"],
        origin=record.get("origin", ""),
        bits=bits,
        duration_s=duration,
        buckets=buckets_of(bits, duration, record["weak"]) if bits else (),
    )


def side_files(folder: str) -> list[str]:
    """The side files in ``folder`` and its subfolders (an eval set's, one per language)."""
    if not storage.exists(folder):
        return []
    return sorted(
        storage.list_files(storage.join(folder, "*.jsonl")) + storage.list_files(storage.join(folder, "*", "*.jsonl"))
    )


def side_bucket(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % SIDE_BUCKETS


def write_side_bucket(element: tuple[int, Iterable[str]], folder: str, storage_options: dict | None) -> str:
    bucket, lines = element
    storage.configure(storage_options)
    path = storage.join(folder, f"{bucket:04d}.jsonl")
    storage.write_atomic(path, ("\n".join(sorted(lines)) + "\n").encode())
    return path


class PrintItems(FingerprintItems):
    """SourceItem -> (key, (bits, duration, weak bits)): one record per item (undecodable: none)."""

    def process(self, item: SourceItem) -> Iterator[tuple[str, tuple[bytes, float, tuple[int, ...]]]]:
        samples, _ = self.decode.process_items([item])
        if not samples:
            self.undecodable.inc()
            return
        fp = fingerprint(samples[0].audio)
        yield item.key, (fp.bits, fp.duration_s, weak_bits(fp))


def _origin_verdicts(element: tuple[str, dict[str, list]]) -> Iterator[tuple[str, CrossVerdict]]:
    origin, joined = element
    if not joined["other"] or not joined["mine"]:
        return
    first = min(joined["other"], key=lambda o: (o.rank, o.name, o.key))
    for key in sorted(set(joined["mine"])):
        yield key, CrossVerdict(first.rank, first.name, first.key, f"same origin {origin}")


def _bucket_verdicts(element: tuple[str, Iterable[Any]], max_distance: float) -> Iterator[tuple[str, CrossVerdict]]:
    _, records = element
    mine = sorted({r[1:] for r in records if r[0] == "mine"})
    if not mine:
        return
    others = sorted({r[1] for r in records if r[0] == "other"}, key=lambda o: (o.rank, o.name, o.key))
    if not others:
        return
    bits = _matrix([o.bits for o in others])
    durations = np.array([o.duration_s for o in others])
    for key, own_bits, duration in mine:
        near = _near(own_bits, duration, bits, durations, max_distance)
        if near is not None:
            other = others[near[0]]
            yield key, CrossVerdict(other.rank, other.name, other.key, f"audio distance {near[1]:.3f}")


def _split(element: tuple[str, dict[str, list]]) -> Iterator[Any]:
    _, joined = element
    verdicts = joined["verdict"]
    for item in joined["item"]:
        if verdicts:
            yield beam.pvalue.TaggedOutput("failures", verdicts[0].failure(item))
        else:
            prints = joined["print"]
            yield beam.pvalue.TaggedOutput("side", side_line(item.key, item.origin, prints[0] if prints else None))
            yield item


class CrossScreen(beam.PTransform):
    """SourceItem | Failure records -> the same records less the items earlier datasets or eval
    sets already hold (as failures), writing this dataset's side file into ``side_out``.

    ``others``: (rank, name, side folder) of the eval sets (rank 0) and earlier datasets (1, 2...).
    ``audio`` off: origins only, no decode pass. ``side_out`` None: no side file (an eval set's
    items are written by :class:`SideOnly`).
    """

    def __init__(
        self,
        others: list[tuple[int, str, str]],
        side_out: str,
        decode_settings: Any,
        storage_options: dict | None = None,
        origin: bool = True,
        audio: bool = True,
        max_distance: float = MAX_DISTANCE,
    ) -> None:
        super().__init__()
        self.others, self.side_out = others, side_out
        self.decode_settings, self.storage_options = decode_settings, storage_options
        self.origin, self.audio, self.max_distance = origin, audio, max_distance

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        pipeline = records.pipeline
        parts = records | "CrossSplit" >> beam.Partition(lambda r, _: 0 if isinstance(r, SourceItem) else 1, 2)
        items, passed = parts[0], parts[1]
        reads = [
            pipeline
            | f"CrossRead {name} {i}" >> beam.io.ReadFromText(path)
            | f"CrossParse {name} {i}" >> beam.Map(parse_side, rank, name)
            for rank, name, folder in self.others
            for i, path in enumerate(side_files(folder))
        ]
        others = reads | "CrossOthers" >> beam.Flatten() if reads else pipeline | "CrossNoOthers" >> beam.Create([])
        verdicts = []
        if self.origin:
            verdicts.append(
                {
                    "mine": items
                    | "CrossMyOrigins" >> beam.FlatMap(lambda it: [(it.origin, it.key)] if it.origin else []),
                    "other": others
                    | "CrossOtherOrigins" >> beam.FlatMap(lambda o: [(o.origin, o)] if o.origin else []),
                }
                | "CrossByOrigin" >> beam.CoGroupByKey()
                | "CrossOriginVerdicts" >> beam.FlatMap(_origin_verdicts)
            )
        if self.audio:
            prints = items | "CrossPrints" >> beam.ParDo(PrintItems(self.decode_settings, self.storage_options))
        else:
            prints = pipeline | "CrossNoPrints" >> beam.Create([])
        if self.audio and self.others:
            filed = (
                prints
                | "CrossFileMine"
                >> beam.FlatMap(lambda kv: [(b, ("mine", kv[0], kv[1][0], kv[1][1])) for b in buckets_of(*kv[1])]),
                others | "CrossFileOthers" >> beam.FlatMap(lambda o: [(b, ("other", o)) for b in o.buckets]),
            ) | "CrossAllFiled" >> beam.Flatten()
            verdicts.append(
                filed
                | "CrossByBucket" >> beam.GroupByKey()
                | "CrossBucketVerdicts" >> beam.FlatMap(_bucket_verdicts, max_distance=self.max_distance)
            )
        verdict = (
            verdicts | "CrossAllVerdicts" >> beam.Flatten()
            if verdicts
            else pipeline | "CrossNoVerdicts" >> beam.Create([])
        ) | "CrossOneVerdict" >> beam.CombinePerKey(lambda vs: min(vs, key=CrossVerdict.order))
        screened = (
            {
                "item": items | "CrossItemsByKey" >> beam.Map(lambda it: (it.key, it)),
                "verdict": verdict,
                "print": prints,
            }
            | "CrossJoin" >> beam.CoGroupByKey()
            | "CrossScreen" >> beam.FlatMap(_split).with_outputs("failures", "side", main="items")
        )
        write_side(screened.side, self.side_out, self.storage_options, "CrossSide")
        return (screened.items, screened.failures, passed) | "CrossRecords" >> beam.Flatten()


def write_side(lines: beam.PCollection, folder: str, storage_options: dict | None, label: str) -> None:
    _ = (
        lines
        | f"{label} Bucket" >> beam.Map(lambda line: (side_bucket(json.loads(line)["key"]), line))
        | f"{label} Group" >> beam.GroupByKey()
        | f"{label} Write" >> beam.Map(write_side_bucket, folder, storage_options)
    )


class SideOnly(beam.PTransform):
    """An eval set's items (those of ``splits``; all when empty) -> its side file in ``folder``."""

    def __init__(
        self, folder: str, splits: tuple[str, ...], decode_settings: Any, storage_options: dict | None, audio: bool
    ) -> None:
        super().__init__()
        self.folder, self.splits = folder, splits
        self.decode_settings, self.storage_options, self.audio = decode_settings, storage_options, audio

    def expand(self, records: beam.PCollection) -> None:
        splits = self.splits
        items = records | "EvalItems" >> beam.Filter(
            lambda r: isinstance(r, SourceItem) and (not splits or r.split in splits)
        )
        if self.audio:
            prints = items | "EvalPrints" >> beam.ParDo(PrintItems(self.decode_settings, self.storage_options))
        else:
            prints = items.pipeline | "EvalNoPrints" >> beam.Create([])
        lines = (
            {"item": items | "EvalByKey" >> beam.Map(lambda it: (it.key, it)), "print": prints}
            | "EvalJoin" >> beam.CoGroupByKey()
            | "EvalLines"
            >> beam.FlatMap(
                lambda kv: [
                    side_line(it.key, it.origin, kv[1]["print"][0] if kv[1]["print"] else None) for it in kv[1]["item"]
                ]
            )
        )
        write_side(lines, self.folder, self.storage_options, "EvalSide")
