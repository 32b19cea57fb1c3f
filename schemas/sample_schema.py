"""JSON Schema of the per-sample JSON (``<key>.json``), exported from :class:`SampleMeta`.

``python -m schemas.sample_schema`` writes ``schemas/sample.schema.json``; a test checks the
file is current and that every sample the pipeline writes validates against it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas.records import CAPTION_ORIGINS, SAMPLE_RATE, SCHEMA_VERSION, SPLITS
from schemas.vocab import EMOTIONS, GENDERS

SCHEMA_PATH = Path(__file__).with_name("sample.schema.json")

_WORD = {
    "type": "object",
    "required": ["word", "start_s", "duration_s"],
    "properties": {
        "word": {"type": "string"},
        "start_s": {"type": "number", "minimum": 0},
        "duration_s": {"type": "number", "minimum": 0},
    },
    "additionalProperties": False,
}


def sample_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every ``<key>.json`` in a shard satisfies."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://clara-corpus/schemas/sample-{SCHEMA_VERSION}.json",
        "title": "clara-corpus sample metadata",
        "description": "Per-sample JSON of a clara-corpus WebDataset shard; keeps LAION-CLAP's "
        "text/tag/original_data fields.",
        "type": "object",
        "required": [
            "key",
            "text",
            "tag",
            "original_data",
            "captions",
            "duration_s",
            "split",
            "sample_rate",
            "schema_version",
        ],
        "properties": {
            "key": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
            "text": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "tag": {"type": "array", "items": {"type": "string"}},
            "original_data": {
                "type": "object",
                "required": ["language", "dataset", "source_id"],
                "properties": {
                    "language": {"type": "string", "minLength": 2},
                    "dataset": {"type": "string", "minLength": 1},
                    "source_id": {"type": "string", "minLength": 1},
                    "gender": {"enum": list(GENDERS)},
                    "emotion": {"enum": [*EMOTIONS, None]},
                    "transcript": {"type": ["string", "null"]},
                },
            },
            "captions": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["text", "language", "origin"],
                    "properties": {
                        "text": {"type": "string", "minLength": 1},
                        "language": {"type": "string", "minLength": 2},
                        "origin": {"enum": list(CAPTION_ORIGINS)},
                    },
                    "additionalProperties": False,
                },
            },
            "duration_s": {"type": "number", "exclusiveMinimum": 0},
            "split": {"enum": list(SPLITS)},
            "sample_rate": {"const": SAMPLE_RATE},
            "segment": {
                "type": ["object", "null"],
                "required": ["index", "start_s", "duration_s"],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "start_s": {"type": "number", "minimum": 0},
                    "duration_s": {"type": "number", "exclusiveMinimum": 0},
                    "source_duration_s": {"type": "number"},
                },
            },
            "alignment": {"type": "array", "items": _WORD},
            "augmentations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "params"],
                    "properties": {"name": {"type": "string"}, "params": {"type": "object"}},
                    "additionalProperties": False,
                },
            },
            "schema_version": {"type": "string"},
        },
        "additionalProperties": False,
    }


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(json.dumps(sample_json_schema(), indent=2, sort_keys=True) + "\n")
    return path


if __name__ == "__main__":
    print(write_schema(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH))
