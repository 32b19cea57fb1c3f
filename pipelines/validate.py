"""``clara validate DIR``: check every shard against the data contract.

Checks: member names are plain keys (no path, no ``..``); each sample is ``<key>.flac``
followed by ``<key>.json``; the FLAC decodes as 48 kHz mono; the JSON is valid against the
sample schema and names its key and split; every tar has its commit marker with the same
sample count, and ``sizes.json`` agrees. Exits 1 and names the first problems otherwise.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from dataclasses import dataclass, field

import soundfile as sf
from apache_beam.io.filesystems import FileSystems

from schemas import SAMPLE_RATE, SPLITS, sample_json_schema


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    samples: int = 0

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")


def _list(pattern: str) -> list[str]:
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # noqa: BLE001 - no match
        return []


def _read(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return f.read()


def dataset_dirs(root: str) -> list[str]:
    """``root`` itself if it is a corpus folder, else the corpus folders directly under it."""

    def is_dataset(d: str) -> bool:
        return FileSystems.exists(FileSystems.join(d, "dataset_card.json")) or any(
            _list(FileSystems.join(d, s, "*.tar")) for s in SPLITS
        )

    if is_dataset(root):
        return [root]
    children = sorted({p.rsplit("/", 1)[0] for p in _list(FileSystems.join(root, "*", "dataset_card.json"))})
    return children


def validate_tar(path: str, split: str, report: Report, decode_audio: bool = True) -> int:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(sample_json_schema())
    count = 0
    pending: str | None = None
    try:
        with tarfile.open(fileobj=io.BytesIO(_read(path)), mode="r:") as tar:
            for member in tar:
                name = member.name
                if name.startswith("/") or ".." in name.split("/") or "/" in name:
                    report.add(path, f"member name {name!r} is a path (absolute, nested or with '..')")
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
    except (tarfile.TarError, OSError) as exc:
        report.add(path, f"unreadable tar: {exc}")
    if pending is not None:
        report.add(path, f"{pending}.flac has no adjacent .json")
    return count


def _check_flac(path: str, key: str, data: bytes, report: Report) -> None:
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except Exception as exc:  # noqa: BLE001
        report.add(path, f"{key}.flac does not decode: {exc}")
        return
    if rate != SAMPLE_RATE or audio.shape[1] != 1:
        report.add(path, f"{key}.flac is {rate} Hz with {audio.shape[1]} channels, expected {SAMPLE_RATE} Hz mono")
    if audio.shape[0] == 0:
        report.add(path, f"{key}.flac has no samples")


def _check_json(path: str, key: str, split: str, data: bytes, validator, report: Report) -> None:  # noqa: ANN001
    try:
        meta = json.loads(data)
    except ValueError as exc:
        report.add(path, f"{key}.json is not JSON: {exc}")
        return
    errors = sorted(validator.iter_errors(meta), key=lambda e: list(e.path))
    if errors:
        report.add(
            path,
            f"{key}.json violates the schema at {'/'.join(map(str, errors[0].path)) or '<root>'}: {errors[0].message}",
        )
    if meta.get("key") != key:
        report.add(path, f"{key}.json names key {meta.get('key')!r}")
    if meta.get("split") != split:
        report.add(path, f"{key}.json says split {meta.get('split')!r} but lies in {split}/")


def validate_dataset(root: str, report: Report, decode_audio: bool = True) -> None:
    for split in SPLITS:
        directory = FileSystems.join(root, split)
        tars = _list(FileSystems.join(directory, "*.tar"))
        markers = _list(FileSystems.join(directory, "*.stats.json"))
        if not tars and not markers:
            continue
        sizes_path = FileSystems.join(directory, "sizes.json")
        sizes = json.loads(_read(sizes_path)) if FileSystems.exists(sizes_path) else None
        if sizes is None:
            report.add(directory, "sizes.json is missing")
        tar_names = {t.rsplit("/", 1)[1] for t in tars}
        for marker in markers:
            shard = marker.rsplit("/", 1)[1].replace(".stats.json", ".tar")
            if shard not in tar_names:
                report.add(marker, f"marker without its tar {shard}")
        for tar in tars:
            report.shards += 1
            shard = tar.rsplit("/", 1)[1]
            count = validate_tar(tar, split, report, decode_audio)
            report.samples += count
            marker = tar[: -len(".tar")] + ".stats.json"
            if not FileSystems.exists(marker):
                report.add(tar, "no commit marker (.stats.json): the shard is incomplete")
            else:
                stats = json.loads(_read(marker))
                if stats.get("samples") != count:
                    report.add(marker, f"says {stats.get('samples')} samples, the tar has {count}")
            if sizes is not None and sizes.get(shard) != count:
                report.add(sizes_path, f"says {sizes.get(shard)} samples for {shard}, the tar has {count}")
        if sizes is not None:
            for shard in sorted(set(sizes) - tar_names):
                report.add(sizes_path, f"lists {shard}, which does not exist")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clara validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="a corpus folder (with train/ valid/ test/) or a folder of corpora")
    parser.add_argument("--no-audio", action="store_true", help="skip decoding the FLAC members (faster)")
    parser.add_argument("--max-problems", type=int, default=20, help="how many problems to print")
    parser.epilog = "Beam filesystem options (e.g. --s3_endpoint_url) pass through for s3:// and gs:// folders."
    args, beam_args = parser.parse_known_args(argv)
    from apache_beam.options.pipeline_options import PipelineOptions

    FileSystems.set_options(PipelineOptions(beam_args))  # --s3_endpoint_url and friends
    root = args.dir.rstrip("/")
    datasets = dataset_dirs(root)
    if not datasets:
        print(f"clara validate: no shards under {root}", file=sys.stderr)
        return 1
    report = Report()
    for dataset in datasets:
        validate_dataset(dataset, report, decode_audio=not args.no_audio)
    if report.problems:
        print(f"clara validate: {len(report.problems)} problem(s) in {report.shards} shards:", file=sys.stderr)
        for problem in report.problems[: args.max_problems]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"clara validate: OK — {len(datasets)} corpus folder(s), {report.shards} shards, {report.samples} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
