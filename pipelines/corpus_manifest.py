"""The corpus manifest (``corpus.json``), the corpus card and the check of one against the shards.

``corpus.json`` lists, per dataset of the recipe (in order): its folder, weight, fingerprints and
status, its shards (``<split>/NNNNNN.tar`` with samples, seconds, bytes and SHA-256, from their
markers),
its totals and what cross-dataset screening removed. It is what ``clara corpus status`` compares
with the recipe and what the trainer samples by (``model/shards.py: corpus_sources``).

The corpus card (``corpus_card.{json,md}``) is Table VII of the paper for the built corpus: per
dataset its hours, samples, languages, samples by gender (M / F / U), and hours by language,
emotion and source dataset, taken from the dataset's own card; the totals are their sums; and
what per-dataset dedup, cross-dataset dedup and eval decontamination removed, per dataset.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections import Counter
from typing import Any

from schemas import SPLITS
from transforms import storage

MANIFEST = "corpus.json"
CARD = "corpus_card"
STATE_DIR = "_corpus"
"""Under the corpus root: side files (``side/<dataset>/``) and eval sets' (``eval/<name>/``)."""
REMOVALS = ("corpus/cross_duplicate", "corpus/eval_overlap", "dedupe/duplicate_audio", "dedupe/eval_overlap")


def dumps(data: Any) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode() + b"\n"


def read_json(path: str) -> Any:
    return json.loads(storage.read_text(path))


def write_if_changed(path: str, data: bytes) -> bool:
    """Write ``data`` atomically unless the file already holds exactly these bytes."""
    if storage.exists(path) and storage.read_bytes(path) == data:
        return False
    storage.write_atomic(path, data)
    return True


def shards_of(out: str, root: str) -> list[dict[str, Any]]:
    """Every committed shard of a dataset folder, from its markers (path relative to the root)."""
    shards = []
    for split in SPLITS:
        for marker in storage.list_files(storage.join(out, split, "*.stats.json")):
            stats = read_json(marker)
            tar = marker[: -len(".stats.json")] + ".tar"
            shards.append(
                {
                    "path": tar[len(root.rstrip("/")) + 1 :],
                    "split": split,
                    "samples": int(stats["samples"]),
                    "seconds": round(float(stats["duration_s"]), 4),
                    "bytes": int(stats["bytes"]),
                    "sha256": stats.get("sha256", ""),
                }
            )
    return shards


def removed_by(out: str) -> dict[str, int]:
    """Items a dataset lost to cross-dataset screening, by the dataset or eval set they repeat."""
    counts: Counter = Counter()
    for path in storage.list_files(storage.join(out, "failures", "*.jsonl")):
        for line in storage.read_text(path).splitlines():
            if '"stage": "corpus"' not in line and '"stage":"corpus"' not in line:
                continue
            record = json.loads(line)
            if record.get("stage") == "corpus":
                target = record.get("detail", "").split(": ", 1)[0].rsplit(" ", 1)[-1]
                counts[f"{record.get('reason')}: {target}"] += 1
    return dict(sorted(counts.items()))


def dataset_entry(unit: Any, root: str, fingerprints: dict[str, str]) -> dict[str, Any]:  # a Unit
    """The manifest's record of one built dataset."""
    out = storage.join(root, unit.name)
    card = read_json(storage.join(out, "dataset_card.json"))
    shards = shards_of(out, root)
    return {
        "name": unit.name,
        "dataset": unit.dataset,
        "adapter": unit.adapter,
        "language": unit.language,
        "weight": unit.weight,
        "path": unit.name,
        "status": "built",
        "fingerprints": fingerprints,
        "shards": shards,
        "samples": sum(s["samples"] for s in shards),
        "hours": round(sum(s["seconds"] for s in shards) / 3600, 4),
        "removed": {k: v for k, v in card.get("failures_by_reason", {}).items() if k in REMOVALS},
        "removed_by": removed_by(out),
    }


# ----------------------------------------------------------------------------- card


def _add(into: dict[str, float], more: dict[str, float], digits: int = 4) -> None:
    for key, value in more.items():
        into[key] = round(into.get(key, 0) + value, digits)


def corpus_card(name: str, root: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Table VII for the built datasets, from their cards; totals are the sums of the rows."""
    rows = []
    totals: dict[str, Any] = {
        "samples": 0,
        "hours": 0.0,
        "items_in": 0,
        "items_failed": 0,
        "samples_by_gender": {},
        "hours_by_language": {},
        "hours_by_emotion": {},
        "hours_by_dataset": {},
        "removed": {},
    }
    for entry in entries:
        if entry.get("status") != "built":
            continue
        card = read_json(storage.join(root, entry["path"], "dataset_card.json"))
        t = card["totals"]
        row = {
            "name": entry["name"],
            "adapter": entry["adapter"],
            "weight": entry["weight"],
            "samples": t["samples"],
            "hours": t["hours"],
            "items_in": t["items_in"],
            "items_failed": t["items_failed"],
            "languages": sorted(card.get("hours_by_language", {})),
            "samples_by_gender": card.get("samples_by_gender", {}),
            "hours_by_language": card.get("hours_by_language", {}),
            "hours_by_emotion": card.get("hours_by_emotion", {}),
            "hours_by_dataset": card.get("hours_by_dataset", {}),
            "removed": entry.get("removed", {}),
            "removed_by": entry.get("removed_by", {}),
        }
        rows.append(row)
        for key in ("samples", "items_in", "items_failed"):
            totals[key] += row[key]
        totals["hours"] = round(totals["hours"] + row["hours"], 4)
        for key in ("samples_by_gender", "removed"):
            _add(totals[key], row[key], 0)
        for key in ("hours_by_language", "hours_by_emotion", "hours_by_dataset"):
            _add(totals[key], row[key])
    for key in ("samples_by_gender", "removed", "hours_by_language", "hours_by_emotion", "hours_by_dataset"):
        totals[key] = dict(sorted(totals[key].items()))
    totals["languages"] = sorted(totals["hours_by_language"])
    return {"name": name, "datasets": rows, "totals": totals}


def card_markdown(card: dict[str, Any]) -> str:
    t = card["totals"]
    lines = [
        f"# {card['name']}",
        "",
        f"{len(card['datasets'])} datasets, {t['samples']} samples, {t['hours']:.3f} h of audio, "
        f"{len(t['languages'])} languages.",
        "",
        "| dataset | adapter | weight | hours | samples | languages | M | F | U | removed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in [*card["datasets"], {**t, "name": "**total**", "adapter": "", "weight": ""}]:
        g = row["samples_by_gender"]
        lines.append(
            f"| {row['name']} | {row['adapter']} | {row['weight']} | {row['hours']:.4f} | {row['samples']} | "
            f"{len(row['languages'])} | {g.get('male', 0)} | {g.get('female', 0)} | "
            f"{sum(v for k, v in g.items() if k not in ('male', 'female'))} | {sum(row['removed'].values())} |"
        )
    for title, key in (
        ("Hours by language", "hours_by_language"),
        ("Hours by emotion", "hours_by_emotion"),
        ("Hours by source dataset", "hours_by_dataset"),
    ):
        values = sorted(t[key])
        lines += ["", f"## {title}", "", "| dataset | " + " | ".join(values) + " |"]
        lines.append("|---|" + "---:|" * len(values))
        for row in [*card["datasets"], {**t, "name": "**total**"}]:
            lines.append(f"| {row['name']} | " + " | ".join(f"{row[key].get(v, 0):.4f}" for v in values) + " |")
    lines += ["", "## Removed by dedup and decontamination", "", "| dataset | reason: of | items |", "|---|---|---:|"]
    for row in card["datasets"]:
        for what, count in {**row["removed"], **row["removed_by"]}.items():
            lines.append(f"| {row['name']} | {what} | {count} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- validate


def check_manifest(root: str) -> list[str]:
    """Every way the manifest disagrees with the shards on disk (empty when it agrees)."""
    path = storage.join(root, MANIFEST)
    if not storage.exists(path):
        return [f"{path}: no corpus manifest (run clara corpus build)"]
    manifest = read_json(path)
    problems = []
    for entry in manifest.get("datasets", []):
        if entry.get("status") != "built":
            problems.append(f"{entry['name']}: not built ({entry.get('status')})")
            continue
        out = storage.join(root, entry["path"])
        listed = {s["path"]: s for s in entry["shards"]}
        on_disk = {
            tar[len(root.rstrip("/")) + 1 :]
            for split in SPLITS
            for tar in storage.list_files(storage.join(out, split, "*.tar"))
        }
        for extra in sorted(on_disk - set(listed)):
            problems.append(f"{entry['name']}: {extra} is not in the manifest")
        for rel, shard in sorted(listed.items()):
            tar = storage.join(root, rel)
            if rel not in on_disk:
                problems.append(f"{entry['name']}: {rel} is missing")
                continue
            size = storage.size(tar)
            if size != shard["bytes"]:
                problems.append(f"{entry['name']}: {rel} holds {size} bytes, the manifest says {shard['bytes']}")
                continue
            samples, sha = _samples_in(tar)
            if samples != shard["samples"]:
                problems.append(f"{entry['name']}: {rel} holds {samples} samples, the manifest says {shard['samples']}")
            if shard.get("sha256") and sha != shard["sha256"]:
                problems.append(
                    f"{entry['name']}: {rel} has SHA-256 {sha[:12]}..., the manifest says {shard['sha256'][:12]}..."
                )
        if sum(s["samples"] for s in entry["shards"]) != entry["samples"]:
            problems.append(f"{entry['name']}: its shards' samples do not add up to {entry['samples']}")
    return problems


class _Hashing:
    """A file read through, its SHA-256 taken on the way (one pass for the members and the digest)."""

    def __init__(self, raw: Any) -> None:  # a binary file
        self.raw, self.sha = raw, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha.update(data)
        return data


def _samples_in(tar: str) -> tuple[int, str]:
    """(samples, SHA-256) of a tar, read once."""
    with storage.open_read(tar) as raw:
        hashing = _Hashing(raw)
        with tarfile.open(fileobj=hashing, mode="r|") as archive:
            samples = sum(1 for member in archive if member.isfile() and member.name.endswith(".json"))
        while hashing.read(1 << 20):
            pass
        return samples, hashing.sha.hexdigest()
