"""The data contract of clara-corpus: records, the sample JSON schema, label vocabularies.

Every other package depends on this one and on nothing else of ours for data shapes.
"""

from schemas.records import (
    CAPTION_ORIGINS,
    SAMPLE_RATE,
    SCHEMA_VERSION,
    SPLITS,
    Augmentation,
    Caption,
    Failure,
    SampleMeta,
    Segment,
    ShardStats,
    SourceItem,
    WordAlignment,
    make_key,
    sample_key,
)

__all__ = [
    "CAPTION_ORIGINS",
    "SAMPLE_RATE",
    "SCHEMA_VERSION",
    "SPLITS",
    "Augmentation",
    "Caption",
    "Failure",
    "SampleMeta",
    "Segment",
    "ShardStats",
    "SourceItem",
    "WordAlignment",
    "make_key",
    "sample_key",
    "sample_json_schema",
]


def __getattr__(name: str):  # PEP 562 module attribute
    # Imported on first use, so ``python -m schemas.sample_schema`` does not import itself twice.
    if name == "sample_json_schema":
        from schemas.sample_schema import sample_json_schema

        return sample_json_schema
    raise AttributeError(f"module 'schemas' has no attribute {name!r}")
