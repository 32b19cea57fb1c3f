"""Find a split's shards from the command line's specs (local folders or object-store URLs).

The layout is the shard contract (``docs/design.md``):
``<out>/<name>/<split>/000000.tar`` with ``sizes.json`` and a ``000000.stats.json`` marker
written last. A spec may be

- a dataset folder ``<out>/<name>`` (its ``<split>/`` is used),
- a split folder ``<out>/<name>/train`` (its sibling ``<split>/`` is used for other splits),
- a corpus root ``<out>`` holding several dataset folders (all of them),
- a ``.tar`` file,
- a URL or brace pattern: ``gs://b/x/{split}/{000000..000099}.tar``, ``s3://...``,
  ``http(s)://...`` or a WebDataset ``pipe:`` command; ``{split}`` is substituted.

Local shards without their commit marker are unfinished and left out (with a warning), and so
are shards whose marker names another size or SHA-256 than the tar has (a shard being replaced, or
a corrupted one: ``docs/commit-protocol.md``). A marker that names no SHA-256 (older builds, or
hand-made corpora) commits its tar by being there.
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


@dataclass(frozen=True)
class ShardSet:
    urls: tuple[str, ...]
    num_samples: int | None
    """Samples over all shards when every shard's size is known (``sizes.json``), else None."""


def _object_store_url(url: str) -> str:
    if url.startswith("gs://"):
        return f"pipe:gsutil cat {url}"
    if url.startswith("s3://"):
        return f"pipe:aws s3 cp {url} -"
    return url


def _marker(tar: Path) -> Path:
    return tar.with_name(tar.name[: -len(".tar")] + ".stats.json")


def _committed(tar: Path) -> bool:
    """Whether the tar's marker commits it: there, and naming the tar's size and SHA-256 if it names any."""
    try:
        stats = json.loads(_marker(tar).read_bytes())
    except (OSError, ValueError):
        return False
    if not isinstance(stats, dict):
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


def resolve_shards(specs: list[str] | tuple[str, ...] | str, split: str) -> ShardSet:
    """The shard URLs of ``split`` named by ``specs`` (see module docstring), sorted per spec."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} not in {SPLITS}")
    if isinstance(specs, str):
        specs = [specs]
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
