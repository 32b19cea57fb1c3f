"""Find a split's shards from the command line's specs (local folders or object-store URLs).

The layout is the shard contract (``docs/design.md``):
``<out>/<name>/<split>/000000.tar`` with ``sizes.json`` and a ``000000.stats.json`` marker
written last. A spec may be

- a dataset folder ``<out>/<name>`` (its ``<split>/`` is used),
- a split folder ``<out>/<name>/train`` (its sibling ``<split>/`` is used for other splits),
- a corpus built by ``clara corpus build`` (its ``corpus.json`` manifest, or the root folder that
  holds one): its built datasets' shards as the manifest lists them, each dataset with its recipe
  weight (:attr:`ShardSet.datasets`; the trainer mixes them by weight, ``model/corpus_mix.py``) and
  the manifest's record (:attr:`ShardSet.manifest`: path, SHA-256, normalised weights),
- a corpus root ``<out>`` holding several dataset folders without a manifest (all of them, unweighted),
- a ``.tar`` file,
- a URL or brace pattern: ``gs://b/x/{split}/{000000..000099}.tar``, ``s3://...``,
  ``http(s)://...`` or a WebDataset ``pipe:`` command; ``{split}`` is substituted.

Local shards without their commit marker are unfinished and left out (with a warning), and so
are shards whose marker names another size or SHA-256 than the tar has (a shard being replaced, or
a corrupted one: ``docs/commit-protocol.md``). A marker that names no SHA-256 (older builds, or
hand-made corpora) commits its tar by being there. A corpus manifest's shards are trusted the same
way (one check, :func:`_committed`), and only when the marker names the SHA-256 the manifest lists
(a shard rebuilt since the manifest was written is left out, with a warning).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import braceexpand

from schemas.records import SPLITS

log = logging.getLogger(__name__)

MANIFEST_NAME = "corpus.json"
"""The corpus manifest ``clara corpus build`` writes at its output root (``pipelines/corpus_manifest.py``)."""


@dataclass(frozen=True)
class ShardSet:
    urls: tuple[str, ...]
    num_samples: int | None
    """Samples over all shards when every shard's size is known (``sizes.json``), else None."""
    datasets: tuple[tuple[str, float, tuple[str, ...]], ...] = ()
    """A corpus manifest's datasets with shards in the split: (name, weight, shard paths), in recipe order."""
    manifest: dict | None = None
    """What a run records about the manifest it read (``corpus_mix.manifest_record``); None otherwise."""


def _object_store_url(url: str) -> str:
    if url.startswith("gs://"):
        return f"pipe:gsutil cat {url}"
    if url.startswith("s3://"):
        return f"pipe:aws s3 cp {url} -"
    return url


def _marker(tar: Path) -> Path:
    return tar.with_name(tar.name[: -len(".tar")] + ".stats.json")


def _committed(tar: Path, sha256: str | None = None) -> bool:
    """Whether the tar's marker commits it: there, and naming the tar's size and SHA-256 if it names
    any; with ``sha256`` (a manifest's), the marker must name that digest too."""
    try:
        stats = json.loads(_marker(tar).read_bytes())
    except (OSError, ValueError):
        return False
    if not isinstance(stats, dict):
        return False
    if sha256 is not None and stats.get("sha256") != sha256:
        return False
    if not stats.get("sha256"):
        return True
    if tar.stat().st_size != stats.get("bytes"):
        return False
    sha = hashlib.sha256()
    with tar.open("rb") as f:
        while block := f.read(1 << 22):
            sha.update(block)
    return sha.hexdigest() == stats["sha256"]


def _split_dir_shards(split_dir: Path) -> tuple[list[str], int | None]:
    tars = sorted(split_dir.glob("*.tar"))
    sizes_path = split_dir / "sizes.json"
    sizes = json.loads(sizes_path.read_text()) if sizes_path.is_file() else {}
    if any(_marker(t).is_file() for t in tars):
        unfinished = [t.name for t in tars if not _committed(t)]
        if unfinished:
            log.warning(
                "%s: skipping %d shard(s) without a commit marker that matches them: %s",
                split_dir,
                len(unfinished),
                unfinished,
            )
        tars = [t for t in tars if t.name not in unfinished]
    known = all(t.name in sizes for t in tars)
    total = sum(int(sizes[t.name]) for t in tars) if known else None
    return [str(t) for t in tars], total


def _local_split_dirs(path: Path, split: str) -> list[Path]:
    if path.name in SPLITS:
        return [path.parent / split]
    if (path / split).is_dir() or any((path / s).is_dir() for s in SPLITS):
        return [path / split]
    # A corpus root: every dataset folder below it.
    return [child / split for child in sorted(path.iterdir()) if any((child / s).is_dir() for s in SPLITS)]


def corpus_manifest(specs: list[str] | tuple[str, ...] | str) -> Path | None:
    """The corpus manifest that ``specs`` name (a ``corpus.json`` or a folder holding one), else None.
    A manifest is read alone: given beside other specs it is an error."""
    specs = [specs] if isinstance(specs, str) else list(specs)
    found = [
        path / MANIFEST_NAME if path.is_dir() else path
        for path in map(Path, specs)
        if (path.is_file() and path.name == MANIFEST_NAME) or (path.is_dir() and (path / MANIFEST_NAME).is_file())
    ]
    if found and len(specs) > 1:
        raise ValueError(f"a corpus manifest ({found[0]}) is read alone, not beside other shard specs: {specs}")
    return found[0] if found else None


def _corpus_shards(manifest: Path, split: str) -> ShardSet:
    """The manifest's datasets with committed shards in ``split``, each with its weight."""
    from model.corpus_mix import corpus_datasets, manifest_record

    datasets, total = [], 0
    for dataset in corpus_datasets(manifest, split):
        shards = zip(dataset.urls, dataset.sha256, dataset.sizes, strict=True)
        trusted = [(url, size) for url, sha, size in shards if _committed(Path(url), sha or None)]
        left_out = sorted(set(dataset.urls) - {url for url, _ in trusted})
        if left_out:
            log.warning(
                "%s: dataset %s: skipping %d shard(s) whose commit marker does not match them or the manifest "
                "(rebuilt since it was written? clara corpus validate): %s",
                manifest,
                dataset.name,
                len(left_out),
                left_out,
            )
        if trusted:
            datasets.append((dataset.name, dataset.weight, tuple(url for url, _ in trusted)))
            total += sum(size for _, size in trusted)
    urls = tuple(url for _, _, dataset_urls in datasets for url in dataset_urls)
    record = manifest_record(manifest, split) if datasets else None
    return ShardSet(urls, total if urls else 0, tuple(datasets), record)


def resolve_shards(specs: list[str] | tuple[str, ...] | str, split: str) -> ShardSet:
    """The shard URLs of ``split`` named by ``specs`` (see module docstring), sorted per spec."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} not in {SPLITS}")
    if isinstance(specs, str):
        specs = [specs]
    manifest = corpus_manifest(specs)
    if manifest is not None:
        return _corpus_shards(manifest, split)
    urls: list[str] = []
    total: int | None = 0
    for spec in specs:
        if "://" in spec or spec.startswith("pipe:"):
            urls.extend(_object_store_url(u) for u in braceexpand.braceexpand(spec.replace("{split}", split)))
            total = None
            continue
        path = Path(spec)
        if path.is_file() and path.suffix == ".tar":
            urls.append(str(path))
            total = None
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"shard spec {spec!r}: no such folder, file or URL")
        for split_dir in _local_split_dirs(path, split):
            if not split_dir.is_dir():
                continue
            found, count = _split_dir_shards(split_dir)
            urls.extend(found)
            total = None if total is None or count is None else total + count
    return ShardSet(tuple(urls), total if urls else 0)
