"""The in-shard stage contract: what every audio stage receives and returns.

The shard builder (``pipelines/build_shards.py``) groups small ``SourceItem`` records by
shard and does the heavy work where the bytes are written (ARCHITECTURE.md, "A measurement
that shapes the design"). Inside that step a shard's samples go through a chain of stages:

    decode -> segment -> describe -> (visual) -> augment -> rewrite/translate -> encode

Each stage is a plain object: ``setup()`` once per worker (load models there), then
``process(samples)`` on a whole shard's batch, so models batch their inference. A stage
returns the samples that go on and a ``Failure`` for every sample it drops: nothing vanishes.

Each stage module ends with its :class:`StageSpec`: its name, its settings type (a frozen
dataclass of ``schemas.settings`` fields, one section of the build config), ``build(config)``
returning the stage or None when the config leaves it off, and its place in the chain. The
registry of specs is ``pipelines/stages.py``; adding a stage is one module plus one line there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from schemas import SAMPLE_RATE, Augmentation, Caption, Failure, Segment, SourceItem, sample_key


@dataclass
class Sample:
    """A sample in flight inside the shard step: audio plus everything its JSON will say."""

    item: SourceItem
    audio: np.ndarray
    """float32, mono, at ``SAMPLE_RATE`` (48 kHz)."""
    segment: Segment
    captions: list[Caption] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    augmentations: list[Augmentation] = field(default_factory=list)
    augment_index: int = 0
    original_data: dict[str, Any] = field(default_factory=dict)
    """Extra facts merged into the JSON's ``original_data`` (e.g. raw visual captions)."""
    source_duration_s: float | None = None

    @property
    def key(self) -> str:
        return sample_key(self.item.key, self.segment.index, self.augment_index)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def transcript(self) -> str | None:
        return self.segment.transcript

    def derive(self, **changes: Any) -> Sample:
        """A copy with some fields changed (lists copied, so stages never share mutable state)."""
        copy = replace(
            self,
            captions=list(self.captions),
            tags=list(self.tags),
            augmentations=list(self.augmentations),
            original_data=dict(self.original_data),
        )
        for name, value in changes.items():
            setattr(copy, name, value)
        return copy

    def fail(self, stage: str, reason: str, detail: str = "") -> Failure:
        return Failure(
            key=self.key,
            source=self.item.dataset,
            stage=stage,
            reason=reason,
            detail=detail[:500],
            source_key=self.item.key,
        )


class Stage(Protocol):
    """One step of the in-shard chain."""

    name: str

    def setup(self) -> None:
        """Load models and other heavy state; called once per worker before any ``process``."""

    def process(self, samples: list[Sample]) -> tuple[list[Sample], list[Failure]]:
        """Transform a shard's samples; return those that go on and failures for those that don't."""
        ...


@dataclass(frozen=True)
class StageSpec:
    """How the build chain gets a stage: see the module docstring.

    ``build`` and ``check`` receive the whole build config (``config.<section>``), since a stage
    may read a shared section (``config.llm``, ``config.corpus.seed``) besides its own.
    """

    name: str
    settings: type
    """The frozen settings dataclass: the config section named ``name``."""
    build: Callable[[Any], Stage | None]
    """The stage for a build config, or None when that config leaves it off."""
    order: int
    """Place in the chain (ARCHITECTURE.md's diagram order); lower runs first."""
    check: Callable[[Any], None] | None = None
    """Raise ValueError (one line) when the settings can't work, before any work starts."""
