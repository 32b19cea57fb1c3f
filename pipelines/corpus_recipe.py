"""A corpus recipe: the YAML that names every dataset of a multi-dataset corpus and how to build it.

    name: clara-demo                 # the corpus
    output: data/corpus/demo         # its root: one folder per dataset, plus corpus.json and the card
    settings: {plan: {shard_size: 64}}          # shared build settings, as in ``clara shards --config``
    screen: {origin: true, audio: true}         # cross-dataset dedup and decontamination
    datasets:                                   # in order: an earlier dataset keeps its items
      - name: demo
        adapter: demo
        languages: [en, fr, de]                 # several: one build per language, <name>-<lang>
        weight: 1.0                             # sampling weight when training on the corpus
        settings: {corpus: {demo_items: 20}}    # this dataset's overrides
        options: {test_fold: "5"}               # adapter options (--source-option)
    eval:                                       # sets no training item may overlap
      - {name: audiocaps-test, dataset: audiocaps, splits: [test]}    # a dataset of this recipe
      - {name: clotho-eval, adapter: clotho, input: /data/clotho, splits: [test]}

The document is checked against :data:`RECIPE_SCHEMA` and every dataset's settings against the
build config before any work; an error names the recipe's file and line. One recipe dataset read in
several languages becomes several *units* (``<name>-<lang>``), each built into its own folder and
sharing the dataset's weight equally.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_SETTINGS = {"type": "object", "additionalProperties": {"type": "object"}}
RECIPE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "clara corpus recipe",
    "type": "object",
    "required": ["name", "output", "datasets"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "output": {"type": "string", "minLength": 1},
        "seed": {"type": "integer"},
        "settings": _SETTINGS,
        "screen": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "origin": {"type": "boolean"},
                "audio": {"type": "boolean"},
                "max_distance": {"type": "number", "minimum": 0, "exclusiveMaximum": 0.5},
            },
        },
        "datasets": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "adapter"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": NAME_PATTERN},
                    "adapter": {"type": "string", "minLength": 1},
                    "input": {"type": ["string", "null"]},
                    "languages": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 2}},
                    "weight": {"type": "number", "exclusiveMinimum": 0},
                    "settings": _SETTINGS,
                    "options": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                },
            },
        },
        "eval": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": NAME_PATTERN},
                    "dataset": {"type": "string"},
                    "adapter": {"type": "string"},
                    "input": {"type": "string"},
                    "language": {"type": "string"},
                    "splits": {"type": "array", "items": {"enum": ["train", "valid", "test"]}},
                    "options": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                },
                "oneOf": [{"required": ["dataset"]}, {"required": ["adapter", "input"]}],
            },
        },
    },
}


class RecipeError(ValueError):
    """A recipe that cannot be built: ``<file>:<line>: <what is wrong>``."""


@dataclass(frozen=True)
class Unit:
    """One build of a recipe: a dataset in one language, into ``<root>/<name>``."""

    name: str
    dataset: str
    adapter: str
    input: str | None
    language: str
    weight: float
    settings: dict[str, dict[str, Any]]
    """The recipe's shared settings under this dataset's own, as one layer."""
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class EvalSpec:
    """A set no training item may overlap: a recipe dataset's splits, or a folder an adapter reads."""

    name: str
    dataset: str | None = None
    adapter: str | None = None
    input: str | None = None
    language: str = "en"
    splits: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Recipe:
    path: str
    name: str
    output: str
    units: tuple[Unit, ...]
    evals: tuple[EvalSpec, ...] = ()
    screen_origin: bool = True
    screen_audio: bool = True
    max_distance: float | None = None
    seed: int = 0

    def unit(self, name: str) -> Unit:
        return next(u for u in self.units if u.name == name)


# ----------------------------------------------------------------------------- loading


def _lines(node: yaml.Node, path: tuple) -> int:
    """The 1-based line of the YAML node at ``path`` (its nearest existing parent's)."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            found = node.value[step]
        else:
            found = None
        if found is None:
            break
        node = found
    return node.start_mark.line + 1


def load_recipe(path: str) -> Recipe:
    """Read, validate and expand a recipe; :class:`RecipeError` names its file and line."""
    import jsonschema

    try:
        text = open(path, encoding="utf-8").read()  # a local file, read once
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe ({exc.strerror})") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise RecipeError(f"{where}: not YAML ({getattr(exc, 'problem', exc)})") from None
    if root is None or not isinstance(data, dict):
        raise RecipeError(f"{path}:1: a recipe is a mapping with name, output and datasets")
    errors = sorted(jsonschema.Draft202012Validator(RECIPE_SCHEMA).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(top)"
        raise RecipeError(f"{path}:{_lines(root, tuple(first.path))}: {where}: {first.message}")
    recipe = _expand(path, data, root)
    _check(recipe, root)
    return recipe


def _expand(path: str, data: dict[str, Any], root: yaml.Node) -> Recipe:
    shared = data.get("settings") or {}
    base = os.path.dirname(os.path.abspath(path))
    units: list[Unit] = []
    for index, entry in enumerate(data["datasets"]):
        languages = entry.get("languages") or ["en"]
        weight = float(entry.get("weight", 1.0))
        layer = _merge(shared, entry.get("settings") or {})
        for language in languages:
            units.append(
                Unit(
                    name=entry["name"] if len(languages) == 1 else f"{entry['name']}-{language}",
                    dataset=entry["name"],
                    adapter=entry["adapter"],
                    input=_resolve(base, entry.get("input")),
                    language=language,
                    weight=weight / len(languages),
                    settings=layer,
                    options={k: str(v) for k, v in (entry.get("options") or {}).items()},
                    line=_lines(root, ("datasets", index)),
                )
            )
    evals = tuple(
        EvalSpec(
            name=e["name"],
            dataset=e.get("dataset"),
            adapter=e.get("adapter"),
            input=_resolve(base, e.get("input")),
            language=e.get("language", "en"),
            splits=tuple(e.get("splits") or ()),
            options={k: str(v) for k, v in (e.get("options") or {}).items()},
            line=_lines(root, ("eval", i)),
        )
        for i, e in enumerate(data.get("eval") or [])
    )
    screen = data.get("screen") or {}
    return Recipe(
        path=path,
        name=data["name"],
        output=data["output"] if "://" in data["output"] else _resolve(base, data["output"]) or "",
        units=tuple(units),
        evals=evals,
        screen_origin=bool(screen.get("origin", True)),
        screen_audio=bool(screen.get("audio", True)),
        max_distance=screen.get("max_distance"),
        seed=int(data.get("seed", 0)),
    )


def _resolve(base: str, value: str | None) -> str | None:
    """A path relative to the recipe's folder (``~`` expanded; URLs and placeholders as given)."""
    if not value or "://" in value or value.startswith("<"):
        return value
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _merge(shared: dict[str, Any], own: dict[str, Any]) -> dict[str, dict[str, Any]]:
    merged = {section: dict(values) for section, values in shared.items()}
    for section, values in own.items():
        merged.setdefault(section, {}).update(values)
    return merged


def _check(recipe: Recipe, root: yaml.Node) -> None:
    from pipelines.options import build_config
    from pipelines.sources.base import REGISTRY

    seen: dict[str, int] = {}
    for unit in recipe.units:
        where = f"{recipe.path}:{unit.line}"
        if unit.name in seen:
            raise RecipeError(f"{where}: dataset {unit.name!r} appears twice (first on line {seen[unit.name]})")
        seen[unit.name] = unit.line
        if unit.adapter not in REGISTRY:
            raise RecipeError(f"{where}: unknown adapter {unit.adapter!r}; known: {', '.join(sorted(REGISTRY))}")
        try:
            build_config(unit.settings)
        except (ValueError, KeyError, TypeError) as exc:
            raise RecipeError(f"{where}: settings of {unit.name!r}: {exc}") from None
    datasets = {u.dataset for u in recipe.units}
    names = set()
    for spec in recipe.evals:
        where = f"{recipe.path}:{spec.line}"
        if spec.name in names or spec.name in seen:
            raise RecipeError(f"{where}: eval set name {spec.name!r} is taken")
        names.add(spec.name)
        if spec.dataset and spec.dataset not in datasets:
            raise RecipeError(f"{where}: eval set {spec.name!r} names dataset {spec.dataset!r}, not in the recipe")
        if spec.adapter and spec.adapter not in REGISTRY:
            raise RecipeError(f"{where}: unknown adapter {spec.adapter!r}")


def placeholder(value: str | None) -> bool:
    """Whether a recipe input is still a placeholder (``<path to AudioSet>``)."""
    return bool(value) and bool(re.match(r"^<.*>$", str(value)))
