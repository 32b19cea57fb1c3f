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
from schemas.sample_schema import sample_json_schema

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
