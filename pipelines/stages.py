"""The registry of in-shard stages, and the build config composed from their settings.

decode -> segment -> quality -> describe -> visual -> augment -> rewrite -> translate -> encode.

Each stage module ends with its ``StageSpec`` (``transforms/stage.py``); the chain is this
registry, in order, keeping the stages a config turns on (no pass-through stubs). Adding a stage
is one module plus one line in ``STAGES``: its settings become a section of ``BuildConfig``, with
flags, YAML and ``--set`` generated from the fields.
"""

from __future__ import annotations

from typing import Any

from transforms import augment, describe, quality, rewrite, translate
from transforms.decode import DecodeStage, build_decode
from transforms.segment import stage as segment
from transforms.stage import Stage, StageSpec
from transforms.visual import stage as visual

STAGES: tuple[StageSpec, ...] = tuple(
    sorted(
        (segment.SPEC, quality.SPEC, describe.SPEC, visual.SPEC, augment.SPEC, rewrite.SPEC, translate.SPEC),
        key=lambda spec: spec.order,
    )
)


def build_chain(config: Any) -> list[Stage]:
    """The stages after decoding that ``config`` turns on, in chain order."""
    return [stage for spec in STAGES if (stage := spec.build(config)) is not None]


def check_stages(config: Any) -> None:
    """Raise ValueError (one line) when a stage's settings can't work, before any work starts."""
    for spec in STAGES:
        if spec.check is not None:
            spec.check(config)


__all__ = ["STAGES", "DecodeStage", "build_chain", "build_decode", "check_stages"]
