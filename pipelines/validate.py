"""``clara validate DIR``: check a built corpus against the shard contract; exit 1 naming every problem.

Per split folder: every tar named in ``sizes.json`` exists and holds that many samples, every tar
is listed there, every tar has its commit marker (``NNNNNN.stats.json``) and every marker its
tar, with the same sample count and split, and naming the tar's size and SHA-256 (the commit
protocol, ``pipelines/commit.py``: a marker that names other bytes does not commit its tar). Per tar: member names are plain keys (not absolute,
no ``/``, no ``..``); each sample is ``<key>.flac`` followed by ``<key>.json``; the FLAC decodes
as 48 kHz mono; the JSON satisfies the sample schema, fits ``SampleMeta`` and names its key and
split. Per corpus: at least one shard; ``dataset_card.json`` agrees with the figures the markers
and the run-level failures give (the card's own ``card_figures``) and with the samples counted
in the tars; every line of ``failures/*.jsonl`` is a ``Failure`` record.

All problems are collected and printed (``--max-problems`` caps the printout, not the checks).
A store that cannot be listed or read (after the storage retries) stops the check with one line
and exit 1: a listing that fails is never taken for an empty folder.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import soundfile as sf

from pipelines.card import card_figures
from pipelines.report_data import RUN_LEVEL_FAILURE_FILES
from schemas import SAMPLE_RATE, SPLITS, Failure, SampleMeta, ShardStats, sample_json_schema
from transforms import storage

MARKER_SUFFIX = ".stats.json"


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    samples: int = 0

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")


@dataclass
class _Corpus:
    """What one corpus folder's shards say about themselves, for the card check."""

    stats: list[ShardStats] = field(default_factory=list)
    samples_by_split: Counter = field(default_factory=Counter)
    shards_by_split: Counter = field(default_factory=Counter)


def _list(pattern: str) -> list[str]:
    return storage.list_files(pattern)  # a failing listing raises StorageError: never "no files"


class _Hashing:
    """A reader that hashes and counts what passes through it (the tar is read once for both)."""

    def __init__(self, raw: Any) -> None:  # a binary file
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def rest(self) -> None:
        while self.read(1 << 20):
            pass


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _read_json(path: str, report: Report) -> Any | None:
    try:
        return json.loads(storage.read_bytes(path))
    except (OSError, ValueError) as exc:
        report.add(path, f"unreadable JSON: {exc}")
        return None


def _is_corpus(directory: str) -> bool:
    if storage.exists(storage.join(directory, "dataset_card.json")):
        return True
    return any(
        _list(storage.join(directory, split, pattern)) for split in SPLITS for pattern in ("*.tar", "sizes.json")
    )


def dataset_dirs(root: str) -> list[str]:
    """``root`` itself if it is a corpus folder, else the corpus folders directly under it."""
    if _is_corpus(root):
        return [root]
    candidates = {p.rsplit("/", 1)[0] for p in _list(storage.join(root, "*", "dataset_card.json"))}
    for split in SPLITS:
        for pattern in ("*.tar", "sizes.json"):
            candidates |= {p.rsplit("/", 2)[0] for p in _list(storage.join(root, "*", split, pattern))}
    return sorted(candidates)


# ----------------------------------------------------------------------------- one tar


def _member_name_problem(name: str) -> str | None:
    if name.startswith("/"):
        return f"member name {name!r} is a path, an absolute one"
    if ".." in name.split("/"):
        return f"member name {name!r} is a path with '..'"
    if "/" in name:
        return f"member name {name!r} is a path, not a key"
    return None


def validate_tar(path: str, split: str, report: Report, decode_audio: bool = True, digest: list | None = None) -> int:
    """Check one tar's members; returns how many complete samples (flac + json) it holds.
    ``digest``: given a list, the tar's (size, SHA-256) is appended to it (None if unreadable)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(sample_json_schema())
    count = 0
    pending: str | None = None
    hashed = None
    try:
        with storage.open_read(path) as raw, tarfile.open(fileobj=(hashed := _Hashing(raw)), mode="r|") as tar:
            for member in tar:
                name = member.name
                problem = _member_name_problem(name)
                if problem:
                    report.add(path, problem)
                    continue
                if not member.isfile():
                    report.add(path, f"member {name!r} is not a regular file")
                    continue
                key, _, ext = name.partition(".")
                data = tar.extractfile(member).read()
                if ext == "flac":
                    if pending is not None:
                        report.add(path, f"{pending}.flac has no adjacent .json")
                    pending = key
                    if decode_audio:
                        _check_flac(path, key, data, report)
                elif ext == "json":
                    if pending != key:
                        report.add(path, f"{key}.json does not follow {key}.flac")
                    pending = None
                    count += 1
                    _check_json(path, key, split, data, validator, report)
                else:
                    report.add(path, f"unexpected member {name!r}")
            hashed.rest()
    except storage.StorageError:
        raise
    except (tarfile.TarError, OSError) as exc:
        report.add(path, f"unreadable tar: {exc}")
        hashed = None
    if digest is not None:
        digest.append((hashed.size, hashed.sha.hexdigest()) if hashed else None)
    if pending is not None:
        report.add(path, f"{pending}.flac has no adjacent .json")
    return count


def _check_flac(path: str, key: str, data: bytes, report: Report) -> None:
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except Exception as exc:  # libsndfile raises several types
        report.add(path, f"{key}.flac does not decode: {exc}")
        return
    if rate != SAMPLE_RATE or audio.shape[1] != 1:
        report.add(path, f"{key}.flac is {rate} Hz with {audio.shape[1]} channels, expected {SAMPLE_RATE} Hz mono")
    if audio.shape[0] == 0:
        report.add(path, f"{key}.flac has no samples")


def _check_json(path: str, key: str, split: str, data: bytes, validator, report: Report) -> None:
    try:
        meta = json.loads(data)
    except ValueError as exc:
        report.add(path, f"{key}.json is not JSON: {exc}")
        return
    errors = sorted(validator.iter_errors(meta), key=lambda e: list(map(str, e.path)))
    for error in errors:
        report.add(
            path, f"{key}.json violates the schema at {'/'.join(map(str, error.path)) or '<root>'}: {error.message}"
        )
    if not isinstance(meta, dict):
        return
    if not errors:
        try:
            SampleMeta.from_json(meta)
        except (TypeError, ValueError) as exc:
            report.add(path, f"{key}.json does not fit SampleMeta: {exc}")
    if meta.get("key") != key:
        report.add(path, f"{key}.json names key {meta.get('key')!r}")
    if meta.get("split") != split:
        report.add(path, f"{key}.json says split {meta.get('split')!r} but lies in {split}/")


# ----------------------------------------------------------------------------- one split


def _read_sizes(path: str, report: Report) -> dict[str, Any] | None:
    sizes = _read_json(path, report)
    if sizes is not None and not isinstance(sizes, dict):
        report.add(path, "is not an object of tar name -> sample count")
        return None
    return sizes


def _read_marker(path: str, report: Report) -> ShardStats | None:
    data = _read_json(path, report)
    if data is None:
        return None
    try:
        return ShardStats.from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        report.add(path, f"not a shard marker ({exc})")
        return None


def _validate_split(root: str, split: str, report: Report, corpus: _Corpus, decode_audio: bool) -> None:
    directory = storage.join(root, split)
    tars = {_name(p): p for p in _list(storage.join(directory, "*.tar"))}
    markers = {_name(p)[: -len(MARKER_SUFFIX)] + ".tar": p for p in _list(storage.join(directory, "*" + MARKER_SUFFIX))}
    sizes_path = storage.join(directory, "sizes.json")
    has_sizes = storage.exists(sizes_path)
    if not (tars or markers or has_sizes):
        return
    sizes = _read_sizes(sizes_path, report) if has_sizes else None
    if not has_sizes:
        report.add(directory, "sizes.json is missing")
    if sizes is not None:
        for shard in sorted(set(sizes) - set(tars)):
            report.add(sizes_path, f"lists {shard}, which does not exist")
    for shard in sorted(set(markers) - set(tars)):
        report.add(markers[shard], f"marker without its tar {shard}")
    for shard, path in sorted(tars.items()):
        report.shards += 1
        corpus.shards_by_split[split] += 1
        digest: list = []
        count = validate_tar(path, split, report, decode_audio, digest)
        report.samples += count
        corpus.samples_by_split[split] += count
        if shard not in markers:
            report.add(path, f"no commit marker ({shard[: -len('.tar')]}{MARKER_SUFFIX}): the shard is incomplete")
        else:
            stats = _read_marker(markers[shard], report)
            if stats is not None:
                corpus.stats.append(stats)
                if stats.samples != count:
                    report.add(markers[shard], f"says {stats.samples} samples, the tar has {count}")
                if stats.split != split:
                    report.add(markers[shard], f"says split {stats.split!r} but lies in {split}/")
                problem = _commit_problem(stats, digest[0])
                if problem:
                    report.add(markers[shard], f"does not commit {shard}: {problem}")
        if sizes is not None and shard not in sizes:
            report.add(sizes_path, f"does not list {shard}")
        elif sizes is not None and sizes[shard] != count:
            report.add(sizes_path, f"says {sizes[shard]} samples for {shard}, the tar has {count}")


def _commit_problem(stats: ShardStats, digest: tuple[int, str] | None) -> str | None:
    """Why a marker does not commit the tar whose (size, SHA-256) is ``digest`` (None: it does)."""
    if digest is None:
        return None  # the unreadable tar is reported already
    size, sha = digest
    if not stats.sha256:
        return "it names no SHA-256 (a marker from before the commit protocol)"
    if stats.bytes != size:
        return f"it names {stats.bytes} bytes, the tar has {size}"
    if stats.sha256 != sha:
        return f"it names SHA-256 {stats.sha256[:12]}..., the tar's is {sha[:12]}..."
    return None


# ----------------------------------------------------------------------------- corpus level


def _check_failures(root: str, report: Report) -> Counter:
    """Every failures file parses as ``Failure`` records; returns the run-level reasons."""
    run_level: Counter = Counter()
    for path in _list(storage.join(root, "failures", "*.jsonl")):
        bad: list[str] = []
        try:
            lines = storage.read_text(path).splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            report.add(path, f"unreadable failures file: {exc}")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                failure = Failure.from_dict(data)
            except (ValueError, TypeError, AttributeError) as exc:
                bad.append(f"line {number}: {exc}")
                continue
            if _name(path) in RUN_LEVEL_FAILURE_FILES:
                run_level[f"{failure.stage}/{failure.reason}"] += 1
        if bad:
            report.add(path, f"{len(bad)} unparsable failure record(s), first at {bad[0]}")
    return run_level


def _differences(name: str, card: Any, shards: Any) -> list[str]:
    if isinstance(card, dict) and isinstance(shards, dict):
        return [
            d
            for k in sorted(set(card) | set(shards), key=str)
            for d in _differences(f"{name}.{k}", card.get(k), shards.get(k))
        ]
    return [] if card == shards else [f"{name}: card {card!r}, shards {shards!r}"]


def _check_card(root: str, corpus: _Corpus, run_level: Counter, report: Report) -> None:
    path = storage.join(root, "dataset_card.json")
    if not storage.exists(path):
        report.add(root, "dataset_card.json is missing")
        return
    card = _read_json(path, report)
    if not isinstance(card, dict):
        if card is not None:
            report.add(path, "is not a JSON object")
        return
    expected = card_figures(corpus.stats, run_level)
    # What the tars themselves hold, so a card and markers that agree on a wrong count still fail.
    expected["totals"]["samples"] = sum(corpus.samples_by_split.values())
    for split, figures in expected["splits"].items():
        figures["samples"] = corpus.samples_by_split[split]
        figures["shards"] = corpus.shards_by_split[split]
    for name, value in expected.items():
        for difference in _differences(name, card.get(name), value):
            report.add(path, f"disagrees with the shards at {difference}")


def validate_dataset(root: str, report: Report, decode_audio: bool = True) -> None:
    """Check one corpus folder (``<out>/<name>``); problems go to ``report``."""
    corpus = _Corpus()
    shards_before = report.shards
    for split in SPLITS:
        _validate_split(root, split, report, corpus, decode_audio)
    if report.shards == shards_before:
        report.add(root, f"no shards: no {'/, '.join(SPLITS)}/ folder holds a .tar")
    run_level = _check_failures(root, report)
    _check_card(root, corpus, run_level, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clara validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="a corpus folder (with train/ valid/ test/) or a folder of corpora")
    parser.add_argument("--no-audio", action="store_true", help="skip decoding the FLAC members (faster)")
    parser.add_argument("--max-problems", type=int, default=0, help="print at most this many problems (0: all)")
    parser.epilog = "Beam filesystem options (e.g. --s3_endpoint_url) pass through for s3:// and gs:// folders."
    args, beam_args = parser.parse_known_args(argv)
    storage.configure(beam_args)  # --s3_endpoint_url and friends
    root = args.dir.rstrip("/")
    report = Report()
    try:
        datasets = dataset_dirs(root)
        if not datasets:
            print(f"clara validate: no shards under {root}", file=sys.stderr)
            return 1
        for dataset in datasets:
            validate_dataset(dataset, report, decode_audio=not args.no_audio)
    except storage.StorageError as exc:
        print(f"clara validate: the store did not answer, nothing can be concluded: {exc}", file=sys.stderr)
        return 1
    if report.problems:
        print(f"clara validate: {len(report.problems)} problem(s) in {report.shards} shards:", file=sys.stderr)
        shown = report.problems[: args.max_problems] if args.max_problems > 0 else report.problems
        for problem in shown:
            print(f"  {problem}", file=sys.stderr)
        if len(shown) < len(report.problems):
            print(f"  ... and {len(report.problems) - len(shown)} more (--max-problems 0 prints all)", file=sys.stderr)
        return 1
    print(f"clara validate: OK — {len(datasets)} corpus folder(s), {report.shards} shards, {report.samples} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
