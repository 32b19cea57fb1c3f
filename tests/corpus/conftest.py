"""Recipes over fixture trees, built with ``clara corpus`` in this process."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from pipelines.corpus import build
from pipelines.corpus_recipe import load_recipe


def write_recipe(path: Path, datasets: list[dict], evals: list[dict] | None = None, **top) -> Path:
    recipe = {
        "name": "test",
        "output": str(path.parent / "out"),
        "settings": {"run": {"workers": 1}},
        "datasets": datasets,
        **({"eval": evals} if evals else {}),
        **top,
    }
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def build_recipe(path: Path) -> int:
    return build(load_recipe(str(path)), ["--direct_num_workers=1"])


def failures(out: Path, dataset: str) -> list[dict]:
    return [
        json.loads(line)
        for f in sorted((out / dataset / "failures").glob("*.jsonl"))
        for line in f.read_text().splitlines()
        if line.strip()
    ]


def sample_keys(out: Path, dataset: str) -> set[str]:
    import tarfile

    keys = set()
    for tar in sorted((out / dataset).glob("*/*.tar")):
        with tarfile.open(tar) as archive:
            keys |= {m.name.split(".", 1)[0].rsplit("_", 2)[0] for m in archive.getmembers()}
    return keys
