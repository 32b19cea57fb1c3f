"""JSON Schema of the per-sample JSON (``<key>.json``), generated from :class:`SampleMeta`.

The record is the one source of the contract: its type hints give the shape (a dataclass is
a closed object, a ``TypedDict`` an open one, ``tuple[X, ...]`` an array, ``Literal`` an enum,
``X | None`` a nullable value) and ``Annotated[..., JsonSchema(...)]`` adds what a type cannot
say (minimum, pattern, const). Every field of a dataclass is required, defaults or not: the
writer (``SampleMeta.to_json_dict``) always writes them all, so a sample that lacks one was not
written by this code. Readers are lenient instead (``SampleMeta.from_json`` fills defaults).

``python -m schemas.sample_schema`` rewrites ``schemas/sample.schema.json``;
``python -m schemas.sample_schema --check`` exits 1 when the committed file is stale (a test
does the same), and every sample the pipeline writes is validated against the schema.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

from schemas.records import SCHEMA_VERSION, JsonSchema, SampleMeta

SCHEMA_PATH = Path(__file__).with_name("sample.schema.json")

_SCALARS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def sample_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every ``<key>.json`` in a shard satisfies."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://clara-corpus/schemas/sample-{SCHEMA_VERSION}.json",
        "title": "clara-corpus sample metadata",
        "description": "Per-sample JSON of a clara-corpus WebDataset shard; keeps LAION-CLAP's "
        "text/tag/original_data fields. Generated from schemas.records.SampleMeta.",
        **json_schema_of(SampleMeta),
    }


def json_schema_of(hint: Any) -> dict[str, Any]:
    """The JSON Schema of one type hint as the records use them (see the module docstring)."""
    if get_origin(hint) is Annotated:
        base, *extras = get_args(hint)
        schema = json_schema_of(base)
        for extra in extras:
            if isinstance(extra, JsonSchema):
                if "enum" in extra.keywords or "const" in extra.keywords:
                    schema.pop("type", None)  # the listed values say it all
                schema.update(extra.keywords)
        return schema
    if dataclasses.is_dataclass(hint):
        return _object(hint, closed=True)
    if is_typeddict(hint):
        return _object(hint, closed=False)
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return _nullable(args)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (tuple, list):
        items = args[0] if args else Any
        return {"type": "array", "items": json_schema_of(items)} if items is not Any else {"type": "array"}
    if origin is dict or hint is dict:
        return {"type": "object"}
    if hint is Any:
        return {}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    raise TypeError(f"no JSON Schema for type {hint!r}")


def _object(cls: type, closed: bool) -> dict[str, Any]:
    hints = get_type_hints(cls, include_extras=True)
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
        required = list(names)
    else:
        names = list(hints)
        required = [name for name in names if name in cls.__required_keys__]
    schema: dict[str, Any] = {
        "type": "object",
        "required": required,
        "properties": {name: json_schema_of(hints[name]) for name in names},
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def _nullable(args: tuple[Any, ...]) -> dict[str, Any]:
    present = [a for a in args if a is not type(None)]
    if len(present) != 1:
        return {"anyOf": [json_schema_of(a) for a in args]}
    schema = json_schema_of(present[0])
    if isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
        return schema
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def render() -> str:
    """The text of ``sample.schema.json``: sorted keys, two-space indent, final newline."""
    return json.dumps(sample_json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(render())
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.sample_schema", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=SCHEMA_PATH, help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the records")
    args = parser.parse_args(argv)
    if args.check:
        current = args.path.read_text() if args.path.exists() else ""
        if current != render():
            print(f"{args.path} is stale: run python -m schemas.sample_schema", file=sys.stderr)
            return 1
        return 0
    print(write_schema(args.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
