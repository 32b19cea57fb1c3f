"""Deterministic WebDataset shards: the plan, the atomic tar writer, markers and the card.

The plan (which item goes to which shard) depends only on the sorted source keys, the
split fractions and the shard size — never on the runner's bundling (why we don't use
``fileio.WriteToFiles``). A shard is written to a unique temporary name and renamed; its
failures file is written next; its ``NNNNNN.stats.json`` is written last and is the commit
marker that makes a rerun skip it. Members are ``<key>.flac`` then ``<key>.json``, with
fixed mtime/uid/gid/mode, so the same input and seed give byte-identical tars.
Every path goes through :mod:`transforms.storage` (Beam's ``FileSystems``: local, gs://, s3://).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tarfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemas import SCHEMA_VERSION, SPLITS, Failure, SampleMeta, ShardStats, SourceItem
from transforms import storage
from transforms.quality import HISTOGRAM_EDGES, histogram_entries, histogram_labels
from transforms.storage import exists, join, read_text, write_atomic  # noqa: F401 - exists, read_text: for build_shards, cli

DEFAULT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def split_of(item: SourceItem, fractions: tuple[float, float, float] = DEFAULT_SPLIT_FRACTIONS) -> str:
    """The dataset's own split if it has one, else a stable hash of the source id.

    Hashing the *source id* (not the sample key) keeps every segment and augmented copy of a
    recording in the same split.
    """
    if item.split:
        return item.split
    digest = hashlib.sha256(f"{item.dataset}/{item.source_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "valid" if u < fractions[0] + fractions[1] else "test"


@dataclass(frozen=True, order=True)
class ShardRef:
    """A planned shard: its split, its index, and how many shards its split has."""

    split: str
    index: int
    total: int = 0

    @property
    def name(self) -> str:
        return f"{self.index:06d}"


def shard_fingerprint(items: list[SourceItem], shaping: dict[str, Any]) -> str:
    """What a shard's bytes depend on: its items (sorted) and the output-shaping settings.

    ``shaping`` holds only the settings fields marked as shaping output
    (``pipelines.options.output_shaping``): a run-only setting (runner, workers, device,
    concurrency, timeouts) never invalidates a finished shard.
    """
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode())
    for item in sorted(items, key=lambda it: it.key):
        fields = item.to_dict()
        if not fields.get("origin"):  # an item without an origin hashes as it did before items had one
            fields.pop("origin", None)
        digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- paths


def split_dir(out: str, split: str) -> str:
    return join(out, split)


def tar_path(out: str, shard: ShardRef) -> str:
    return join(out, shard.split, f"{shard.name}.tar")


def marker_path(out: str, shard: ShardRef) -> str:
    return join(out, shard.split, f"{shard.name}.stats.json")


def failures_path(out: str, name: str) -> str:
    return join(out, "failures", f"{name}.jsonl")


def dumps(data: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces that vary): part of byte-identical shards."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def record_json(record: Any) -> bytes:  # noqa: ANN401 - any (nested) dataclass record
    """``dumps(record.to_json_dict())``, the same bytes, without ``dataclasses.asdict``'s deep
    copies (a sample's JSON took ~0.5 ms that way, a twentieth of converting its audio)."""
    return dumps(_plain(record))


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:  # noqa: ANN401
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return value
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------- tar writing


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _header(name: str, size: int) -> bytes:
    """A member's header blocks, as ``tarfile`` writes them (GNU format, long names included).

    A name of at most 100 bytes and a size under 8 GiB (every sample's) take one block filled in
    from a template: the same bytes as ``tarfile`` (tests/scale/test_tar_header.py) in ~3 µs instead
    of ~26 µs, all of it holding the GIL that the worker threads share."""
    raw = name.encode(tarfile.ENCODING, "surrogateescape")
    if len(raw) > tarfile.LENGTH_NAME or not 0 <= size < _MAX_OCTAL_SIZE:
        return _tarfile_header(name, size)
    block = bytearray(_TEMPLATE)
    block[: len(raw)] = raw
    block[124:136] = b"%011o\0" % size
    checksum = 256 + sum(block) - sum(block[148:156])  # tarfile: the checksum field counted as spaces
    block[148:155] = b"%06o\0" % checksum
    return bytes(block)


def _tarfile_header(name: str, size: int) -> bytes:
    return _member(name, size).tobuf(tarfile.GNU_FORMAT, tarfile.ENCODING, "surrogateescape")


_MAX_OCTAL_SIZE = 8**11
"""Sizes ``tarfile`` writes as 11 octal digits (larger ones in base 256)."""
_TEMPLATE = bytearray(_tarfile_header("", 0))
_TEMPLATE[148:156] = b" " * 8


def _padding(size: int) -> bytes:
    return bytes(-size % tarfile.BLOCKSIZE)


class TarShardWriter:
    """Streams samples into ``<split>/.NNNNNN.tar.tmp-*`` and renames it on ``commit``.

    Writes the tar's blocks itself, byte for byte what ``tarfile``'s ``w|`` mode writes
    (GNU headers, NUL padding to 512, two NUL blocks, padding to the 10,240-byte record):
    ``tarfile``'s stream buffer re-copied every member and cost ~2 ms a sample, a quarter of
    what converting it costs.

    With ``part``, it writes one piece of a shard: its members only, to a temporary file that
    :func:`join_parts` later joins with the other pieces' into the shard's tar.
    """

    def __init__(self, out: str, shard: ShardRef, part: int | None = None) -> None:
        self.final = tar_path(out, shard)
        self.part = part
        self.tmp = storage.temp_sibling(self.final if part is None else f"{self.final}.part{part:05d}")
        self._file = storage.create(self.tmp)
        self._size = 0
        self._keys: set[str] = set()

    def add(self, key: str, flac: bytes, meta: bytes) -> None:
        if key in self._keys:
            raise ValueError(f"duplicate key {key!r} in shard {self.final}")
        self._keys.add(key)
        head = _header(f"{key}.flac", len(flac))
        tail = b"".join((_padding(len(flac)), _header(f"{key}.json", len(meta)), meta, _padding(len(meta))))
        for part in (head, flac, tail):  # the audio is handed over as is, never copied into a buffer
            self._file.write(part)
        self._size += len(head) + len(flac) + len(tail)

    def commit(self) -> int:
        """Close and rename into place (a part: close only); returns the bytes written."""
        if self.part is None:
            self._size += _write_end(self._file, self._size)
        self._file.close()
        if self.part is None:
            storage.replace(self.tmp, self.final)
        return self._size

    def abort(self) -> None:
        try:
            self._file.close()
        finally:
            storage.delete([self.tmp])


def _write_end(file: Any, size: int) -> int:  # noqa: ANN401 - a writable file
    """The end of a tar of ``size`` bytes so far: two NUL blocks, then NULs to the record."""
    end = 2 * tarfile.BLOCKSIZE
    end += -(size + end) % tarfile.RECORDSIZE
    file.write(bytes(end))
    return end


def join_parts(out: str, shard: ShardRef, parts: list[str]) -> int:
    """The shard's tar from its pieces' parts, in order, then the end; the parts are deleted.

    Each part holds whole members in key order, so the tar is the same bytes one writer gives.
    On a local disk the first part is extended in place by the others (the kernel copies them)
    and renamed; on object storage the parts are streamed into a new object. Returns the size.
    """
    final = tar_path(out, shard)
    if not any("://" in path for path in (final, *parts)):
        return _join_local(final, parts)
    tmp = storage.temp_sibling(final)
    size = 0
    try:
        with storage.create(tmp) as joined:
            for part in parts:
                with storage.open_read(part) as f:
                    while block := f.read(1 << 20):
                        joined.write(block)
                        size += len(block)
            size += _write_end(joined, size)
        storage.replace(tmp, final)
    except BaseException:
        storage.delete([tmp])
        raise
    storage.delete(parts)
    return size


def _join_local(final: str, parts: list[str]) -> int:
    with open(parts[0], "r+b", buffering=0) as joined:  # a temporary name until the rename: a crash leaves no tar
        size = joined.seek(0, os.SEEK_END)
        for part in parts[1:]:
            with open(part, "rb", buffering=0) as f:
                size += _copy_file(f, joined)
        size += _write_end(joined, size)
    os.replace(parts[0], final)
    storage.delete(parts[1:])
    return size


def _copy_file(src: Any, dst: Any) -> int:  # noqa: ANN401 - open binary files
    """Append ``src`` to ``dst`` at its position (unbuffered files: their position is the kernel's):
    in the kernel where it can, else in 1 MB blocks."""
    total = 0
    try:
        while copied := os.copy_file_range(src.fileno(), dst.fileno(), 1 << 30):
            total += copied
        return total
    except OSError:  # another filesystem or kernel: plain copies from where the kernel stopped
        src.seek(total)
        dst.seek(0, os.SEEK_END)
    while block := src.read(1 << 20):
        dst.write(block)
        total += len(block)
    return total


# ----------------------------------------------------------------------------- stats and card


class StatsAccumulator:
    """Figures of one shard, filled as its samples are written."""

    def __init__(self, shard: ShardRef, items_in: int) -> None:
        self.shard = shard
        self.items_in = items_in
        self.samples = 0
        self.duration_s = 0.0
        self.ok_items: set[str] = set()
        self.failed_items: set[str] = set()
        self.seconds: dict[str, Counter] = defaultdict(Counter)
        self.samples_by_gender: Counter = Counter()
        self.failure_reasons: Counter = Counter()
        self.quality: dict[str, Counter] = defaultdict(Counter)
        self.figures: list[tuple] = []
        """What each sample added, in order (for :meth:`add_pieces`)."""

    def add_sample(self, meta: SampleMeta, source_key: str) -> None:
        od = meta.original_data
        quality = od.get("quality")
        figures = (
            meta.duration_s,
            source_key,
            (
                ("language", str(od.get("language"))),
                ("gender", str(od.get("gender", "unknown"))),
                ("emotion", str(od.get("emotion") or "none")),
                ("dataset", str(od.get("dataset"))),
            ),
            # copies repeat their original's quality: only originals count in the histograms
            tuple(histogram_entries(quality)) if isinstance(quality, dict) and not meta.augmentations else (),
        )
        self.figures.append(figures)
        self._add(figures)

    def _add(self, figures: tuple) -> None:
        duration_s, source_key, labels, quality = figures
        self.samples += 1
        self.duration_s += duration_s
        self.ok_items.add(source_key)
        for field, value in labels:
            self.seconds[field][value] += duration_s
        self.samples_by_gender[labels[1][1]] += 1
        for measure, label in quality:
            self.quality[measure][label] += 1

    def add_pieces(self, pieces: Iterable[StatsAccumulator]) -> None:
        """Take in the figures of a shard's pieces, in order: the same sums, to the last bit, as
        one accumulator that saw every sample (a float sum depends on its order)."""
        for piece in pieces:
            for figures in piece.figures:
                self.figures.append(figures)
                self._add(figures)
            self.failed_items |= piece.failed_items
            self.failure_reasons.update(piece.failure_reasons)

    def add_failure(self, failure: Failure) -> None:
        self.failed_items.add(failure.source_key)
        self.failure_reasons[f"{failure.stage}/{failure.reason}"] += 1

    def result(self, size_bytes: int, fingerprint: str = "") -> ShardStats:
        failed_only = self.failed_items - self.ok_items
        return ShardStats(
            shard=self.shard.name,
            split=self.shard.split,
            items_in=self.items_in,
            items_ok=len(self.ok_items),
            items_failed=len(failed_only),
            samples=self.samples,
            duration_s=round(self.duration_s, 3),
            bytes=size_bytes,
            seconds_by_language=_rounded(self.seconds["language"]),
            seconds_by_gender=_rounded(self.seconds["gender"]),
            seconds_by_emotion=_rounded(self.seconds["emotion"]),
            seconds_by_dataset=_rounded(self.seconds["dataset"]),
            samples_by_gender=dict(sorted(self.samples_by_gender.items())),
            failures_by_reason=dict(sorted(self.failure_reasons.items())),
            quality_histograms={m: dict(sorted(c.items())) for m, c in sorted(self.quality.items())},
            fingerprint=fingerprint,
        )


def _rounded(counter: Counter) -> dict[str, float]:
    return {k: round(v, 3) for k, v in sorted(counter.items())}


def card_figures(stats: list[ShardStats], other_failure_reasons: Counter) -> dict[str, Any]:
    """The card's figures from the per-shard stats and the failures outside shards
    (``"stage/reason" -> count``); the report recomputes them with this same function."""

    def total(attr: str) -> dict[str, float]:
        acc: Counter = Counter()
        for s in stats:
            acc.update(getattr(s, attr))
        return {k: round(v / 3600, 4) for k, v in sorted(acc.items())}

    splits: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        mine = [s for s in stats if s.split == split]
        if mine:
            splits[split] = {
                "shards": len(mine),
                "samples": sum(s.samples for s in mine),
                "hours": round(sum(s.duration_s for s in mine) / 3600, 4),
                "bytes": sum(s.bytes for s in mine),
            }
    reasons: Counter = Counter(other_failure_reasons)
    gender_samples: Counter = Counter()
    quality: dict[str, Counter] = defaultdict(Counter)
    for s in stats:
        reasons.update(s.failures_by_reason)
        gender_samples.update(s.samples_by_gender)
        for measure, counts in s.quality_histograms.items():
            quality[measure].update(counts)
    other = sum(other_failure_reasons.values())
    items_in = sum(s.items_in for s in stats) + other
    items_ok = sum(s.items_ok for s in stats)
    items_failed = sum(s.items_failed for s in stats) + other
    return {
        "totals": {
            "items_in": items_in,
            "items_ok": items_ok,
            "items_failed": items_failed,
            "reconciled": items_in == items_ok + items_failed,
            "samples": sum(s.samples for s in stats),
            "hours": round(sum(s.duration_s for s in stats) / 3600, 4),
            "bytes": sum(s.bytes for s in stats),
        },
        "splits": splits,
        "hours_by_language": total("seconds_by_language"),
        "hours_by_gender": total("seconds_by_gender"),
        "hours_by_emotion": total("seconds_by_emotion"),
        "hours_by_dataset": total("seconds_by_dataset"),
        "samples_by_gender": dict(sorted(gender_samples.items())),
        "failures_by_reason": dict(sorted(reasons.items())),
        **({"quality": quality_figures(quality, reasons)} if quality else {}),
    }


def quality_figures(histograms: dict[str, Counter], reasons: Counter) -> dict[str, Any]:
    """The card's quality section: samples per bin of each measure (bins in order) and the drops."""
    return {
        "histograms": {m: _ordered_bins(m, counts) for m, counts in sorted(histograms.items())},
        "dropped": {k.split("/", 1)[1]: v for k, v in sorted(reasons.items()) if k.startswith("quality/")},
    }


def _ordered_bins(measure: str, counts: Counter) -> dict[str, int]:
    order = histogram_labels(measure) if measure in HISTOGRAM_EDGES else sorted(counts)
    return {label: counts[label] for label in order if counts.get(label)}


def build_card(
    name: str, stats: list[ShardStats], other_failures: list[Failure], settings: dict[str, Any]
) -> dict[str, Any]:
    """dataset_card.json: totals by split, language, gender, emotion and source dataset."""
    reasons = Counter(f"{f.stage}/{f.reason}" for f in other_failures)
    return {
        "name": name,
        "schema_version": SCHEMA_VERSION,
        "format": "webdataset: <split>/NNNNNN.tar with <key>.flac (48 kHz mono 16-bit) + <key>.json",
        "settings": settings,
        **card_figures(stats, reasons),
    }


def eval_removals(failures: list[Failure], eval_sets: Iterable[str] = ()) -> dict[str, int]:
    """Training items removed for overlapping each eval set (``--exclude-eval``; 0 for a set none overlapped)."""
    counts: Counter = Counter({name: 0 for name in eval_sets})
    for f in failures:
        if f.reason == "eval_overlap":
            counts[f.detail.removeprefix("overlaps eval item ").split(": ", 1)[0]] += 1
    return dict(sorted(counts.items()))


def card_markdown(card: dict[str, Any]) -> str:
    t = card["totals"]
    lines = [
        f"# {card['name']}",
        "",
        f"{t['samples']} samples, {t['hours']:.3f} h of audio, {t['bytes'] / 1e6:.1f} MB "
        f"({t['items_ok']} of {t['items_in']} source items written, {t['items_failed']} failed).",
        "",
        f"Format: {card['format']}; schema {card['schema_version']}.",
        "",
        "| split | shards | samples | hours |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {k} | {v['shards']} | {v['samples']} | {v['hours']:.3f} |" for k, v in card["splits"].items()]
    for title, key in (
        ("Hours by language", "hours_by_language"),
        ("Hours by gender", "hours_by_gender"),
        ("Hours by emotion", "hours_by_emotion"),
        ("Hours by source dataset", "hours_by_dataset"),
    ):
        lines += ["", f"## {title}", "", "| value | hours |", "|---|---:|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in card[key].items()]
    lines += ["", "## Failures by stage/reason", "", "| stage/reason | items |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in card["failures_by_reason"].items()] or ["| none | 0 |"]
    lines += _quality_markdown(card.get("quality"))
    if card.get("eval_decontamination"):
        lines += ["", "## Removed for overlapping an eval set", "", "| eval set | items |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in card["eval_decontamination"].items()]
    if card.get("retries"):
        lines += ["", "## Retries of failed items", "", "| run | retried | recovered | failed again | shards |"]
        lines += ["|---:|---:|---:|---:|---|"]
        lines += [
            f"| {r['run']} | {r['retried']} | {r['recovered']} | {r['failed_again']} | {', '.join(r['shards'])} |"
            for r in card["retries"]
        ]
    return "\n".join(lines) + "\n"


def _quality_markdown(quality: dict[str, Any] | None) -> list[str]:
    if not quality:
        return []
    lines = ["", "## Quality (measured filters: samples written, per bin)", ""]
    for measure, bins in quality["histograms"].items():
        lines.append(f"- {measure}: " + ", ".join(f"{label}: {n}" for label, n in bins.items()))
    dropped = ", ".join(f"{reason}: {n}" for reason, n in quality["dropped"].items()) or "none"
    return [*lines, f"- dropped: {dropped}"]


def write_failures(path: str, failures: list[Failure], written_items: set[str] | None = None) -> None:
    """One JSON line per failure. ``written_items``: the source keys with samples in the shard; a
    sample-level record then says whether its item has samples (``item_written``), so that
    ``--retry-failures`` never rebuilds an item whose other segments landed."""
    if failures:
        write_atomic(path, b"".join(dumps(_failure_record(f, written_items)) + b"\n" for f in failures))
    else:
        storage.delete([path])


def _failure_record(failure: Failure, written_items: set[str] | None) -> dict[str, Any]:
    record = failure.to_dict()
    if written_items is not None and failure.key != failure.source_key:
        record["item_written"] = failure.source_key in written_items
    return record


def finalize(
    out: str,
    name: str,
    stats: list[ShardStats],
    other_failures: list[Failure],
    settings: dict[str, Any],
    retries: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write sizes.json per split, the run-level failures and the dataset card; clean temp files.

    ``retries``: the ``--retry-failures`` runs so far (``pipelines/retry.py``'s ledger), for the card.
    """
    for split in SPLITS:
        mine = sorted((s for s in stats if s.split == split), key=lambda s: s.shard)
        if mine:
            write_atomic(join(out, split, "sizes.json"), dumps({f"{s.shard}.tar": s.samples for s in mine}))
    by_stage: dict[str, list[Failure]] = defaultdict(list)
    for f in sorted(other_failures, key=lambda f: (f.stage, f.key)):
        by_stage["source" if f.stage == "source" else "pipeline"].append(f)
    for file_name in ("source", "pipeline"):
        write_failures(failures_path(out, file_name), by_stage.get(file_name, []))
    card = build_card(name, stats, other_failures, settings)
    card["eval_decontamination"] = eval_removals(other_failures, settings.get("screen", {}).get("eval_sets", {}))
    if retries:
        card["retries"] = retries
    write_atomic(join(out, "dataset_card.json"), json.dumps(card, indent=2, sort_keys=True).encode() + b"\n")
    write_atomic(join(out, "dataset_card.md"), card_markdown(card).encode())
    _remove_stale_temps(out)
    return card


def _remove_stale_temps(out: str) -> None:
    for pattern in ("*/.*.tmp-*", ".*.tmp-*"):
        try:
            stale = storage.list_files(join(out, pattern))
        except Exception:  # noqa: BLE001 - nothing to clean
            continue
        storage.delete(stale)
