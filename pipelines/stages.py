"""The registry of in-shard stages, and the build config composed from their settings.

decode -> segment -> quality -> attributes -> describe -> visual -> augment -> rewrite -> translate -> encode.

Each stage module ends with its ``StageSpec`` (``transforms/stage.py``); the chain is this
registry, in order, keeping the stages a config turns on (no pass-through stubs). Decode (first:
items to samples) and encode (last: samples to shard members) are always on. Adding a stage is
one module plus one line in ``STAGES``: its settings become a section of ``BuildConfig``, with
flags, YAML and ``--set`` generated from the fields.
"""

from __future__ import annotations

from typing import Any

from transforms import augment, decode, describe, encode, quality, rewrite, translate
from transforms.attributes import stage as attributes
from transforms.segment import stage as segment
from transforms.stage import Stage, StageSpec
from transforms.visual import stage as visual

STAGES: tuple[StageSpec, ...] = tuple(
    sorted(
        (
            decode.SPEC,
            segment.SPEC,
            quality.SPEC,
            attributes.SPEC,
            describe.SPEC,
            visual.SPEC,
            augment.SPEC,
            rewrite.SPEC,
            translate.SPEC,
            encode.SPEC,
        ),
        key=lambda spec: spec.order,
    )
)
if STAGES[0] is not decode.SPEC or STAGES[-1] is not encode.SPEC:
    raise RuntimeError("the stage registry must run decode first and encode last")

DECIDING_STAGES: tuple[str, ...] = tuple(spec.name for spec in STAGES if spec.decides)
"""Stages whose drops are decisions about the sample, not errors (``StageSpec.decides``)."""


def build_chain(config: Any) -> list[Stage]:
    """The stages ``config`` turns on, in chain order: decode first, encode last."""
    return [stage for spec in STAGES if (stage := spec.build(config)) is not None]


def check_stages(config: Any) -> None:
    """Raise ValueError (one line) when a stage's settings can't work, before any work starts."""
    for spec in STAGES:
        if spec.check is not None:
            spec.check(config)
