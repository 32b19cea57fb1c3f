"""The in-shard stage contract: what every stage of the chain is, receives and returns.

The shard builder (``pipelines/build_shards.py``) groups small ``SourceItem`` records by
shard and does the heavy work where the bytes are written (docs/architecture.md, "A sample's way
through"). Inside that step a shard's items go through a chain of stages, in registry order:

    decode -> segment -> quality -> describe -> (visual) -> augment -> rewrite -> translate -> encode

Every stage has one shape, :class:`Stage`: ``setup()`` once per worker (load models there),
``process(batch)`` on a batch of a shard, so models batch their inference, and ``teardown()`` when
the worker is done. ``process`` returns what goes on and a ``Failure`` for everything it drops:
nothing vanishes. The first stage, decode, takes ``SourceItem``s and makes ``Sample``s; the last,
encode, takes ``Sample``s and makes each one's shard members (:class:`Encoded`); every stage in
between takes and returns ``Sample``s.

Each stage module ends with its :class:`StageSpec`: its name, its settings type (a frozen
dataclass of ``schemas.settings`` fields, one section of the build config), ``build(config)``
returning the stage or None when the config leaves it off, its place in the chain, whether its
drops are decisions, and the ``original_data`` key it writes. The registry of specs is
``pipelines/stages.py``; adding a stage is one module plus one line there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from schemas import SAMPLE_RATE, Augmentation, Caption, Failure, SampleMeta, Segment, SourceItem, sample_key


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
    split: str = ""
    """The split of the shard the sample is written to (the shard step sets it after decoding)."""

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


@dataclass(frozen=True)
class Encoded:
    """What the encode stage makes of a sample: its JSON record and FLAC bytes, the shard's two members."""

    sample: Sample
    meta: SampleMeta
    flac: bytes


class Stage(Protocol):
    """One step of the in-shard chain. A stage class may inherit from this protocol for the
    no-op ``setup`` and ``teardown``; it must define ``name`` and ``process``."""

    name: str

    def setup(self) -> None:
        """Load models and other heavy state; called once per worker before any ``process``."""

    def process(self, batch: list[Any]) -> tuple[list[Any], list[Failure]]:
        """Transform a batch of a shard; return what goes on and a failure for each thing dropped.

        Decode: ``SourceItem``s -> ``Sample``s; encode: ``Sample``s -> ``Encoded``; any other
        stage: ``Sample``s -> ``Sample``s."""
        ...

    def teardown(self) -> None:
        """Release what ``setup`` holds (child processes, servers); called once when the worker stops,
        also when a ``setup`` did not finish."""


@dataclass(frozen=True)
class StageSpec:
    """How the build chain gets a stage: see the module docstring.

    ``build`` and ``check`` receive the whole build config (``config.<section>``), since a stage
    may read a shared section (``config.llm``, ``config.corpus.seed``) besides its own.
    """

    name: str
    settings: type | None
    """The frozen settings dataclass: the config section named ``name`` (None: the stage has no settings)."""
    build: Callable[[Any], Stage | None]
    """The stage for a build config, or None when that config leaves it off."""
    order: int
    """Place in the chain; lower runs first (decode is first, encode last)."""
    check: Callable[[Any], None] | None = None
    """Raise ValueError (one line) when the settings can't work, before any work starts."""
    decides: bool = False
    """Its drops are decisions about the sample (the same input is decided the same way again), not
    errors: ``--retry-failures`` does not build them again (a ``stage_error`` still is)."""
    writes: tuple[str, ...] = ()
    """The keys of the sample's ``original_data`` it fills in (its record of what it did)."""
    record: type | None = None
    """The typed record (``schemas.records``) of what it writes under its one key, when there is one."""
