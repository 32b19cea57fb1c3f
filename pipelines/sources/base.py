"""What a dataset adapter is, and the registry of adapters by name.

An adapter reads one publisher's layout and yields :class:`SourceItem` records (small:
paths and metadata, no audio) — or :class:`Failure` records for rows it cannot use.
``check()`` runs in the launcher before any work and raises :class:`SourceError` with one
clear sentence when the input is not what the adapter expects.

Adapters whose metadata is small enumerate in the launcher (``items``); an adapter over
millions of rows overrides ``expand`` to read its metadata with a Beam source in parallel.
"""

from __future__ import annotations

import importlib
import pickle
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import apache_beam as beam

from schemas import Failure, SourceItem


class SourceError(Exception):
    """The input is unusable as a whole: reported before any work, exit non-zero."""


@dataclass(frozen=True)
class SourceSettings:
    """What every adapter may use: where the data is, which language, and adapter options."""

    input: str | None = None
    language: str = "en"
    seed: int = 0
    limit: int | None = None
    options: dict[str, str] = field(default_factory=dict)


class Source:
    """Base class of dataset adapters."""

    name: str = ""
    description: str = ""
    layout: str = ""
    needs_input: bool = True
    stage_defaults: ClassVar[dict[str, Any]] = {}
    """Settings this source wants unless the user says otherwise, by flag name or
    ``section.field`` (``{"augment": "noise,reverb"}``). They are a layer over the defaults, under
    the user's --config, flags and --set, so any value the user gives wins, even the default's."""

    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings

    def check(self) -> None:
        """Raise :class:`SourceError` when the input is missing or laid out wrongly."""
        if self.needs_input and not self.settings.input:
            raise SourceError(f"source '{self.name}' needs --input (expected layout: {self.layout})")

    def items(self) -> Iterator[SourceItem | Failure]:
        raise NotImplementedError

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        """A PCollection of SourceItem | Failure. Default: enumerate here, then ``Create``."""
        records = list(self.items())
        if self.settings.limit is not None:
            kept = [r for r in records if isinstance(r, SourceItem)][: self.settings.limit]
            records = kept + [r for r in records if isinstance(r, Failure)]
        return enumerated(pipeline, f"Enumerate {self.name}", records)


def enumerated(pipeline: beam.Pipeline, label: str, records: list[Any]) -> beam.PCollection:
    """Records made in the launcher as a PCollection, carried in the job as one compressed blob.

    ``beam.Create(records)`` puts the records into the job three times (the transform, its
    reshuffle wrapper and its lambda are each pickled) and Beam compresses each pickle with bz2
    at level 9, all in the launcher before the job starts. Here they are pickled once, zlib level
    1, and unpacked by one ``FlatMap`` in a worker; same records, same order.
    """
    blob = zlib.compress(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL), 1)
    return pipeline | f"{label}/Impulse" >> beam.Impulse() | label >> beam.FlatMap(_unpack, blob)


def _unpack(_: bytes, blob: bytes) -> list[Any]:
    return pickle.loads(zlib.decompress(blob))


# name -> "module:Class", imported on use so one broken adapter can't break the others.
REGISTRY: dict[str, str] = {
    "demo": "pipelines.sources.demo:DemoSource",
    "folder": "pipelines.sources.folder:FolderSource",
    "commonvoice": "pipelines.sources.commonvoice:CommonVoiceSource",
    "mswc": "pipelines.sources.mswc:MSWCSource",
    "librispeech": "pipelines.sources.librispeech:LibriSpeechSource",
    "ljspeech": "pipelines.sources.ljspeech:LJSpeechSource",
    "cmu-arctic": "pipelines.sources.cmu_arctic:CMUArcticSource",
    "crema-d": "pipelines.sources.crema_d:CremaDSource",
    "ravdess": "pipelines.sources.ravdess:RavdessSource",
    "emov-db": "pipelines.sources.emov_db:EmoVDBSource",
    "emns": "pipelines.sources.emns:EMNSSource",
    "emodb": "pipelines.sources.emodb:EmoDBSource",
    "esc50": "pipelines.sources.esc50:ESC50Source",
    "urbansound8k": "pipelines.sources.urbansound8k:UrbanSound8KSource",
    "clotho": "pipelines.sources.clotho:ClothoSource",
    "audiocaps": "pipelines.sources.audiocaps:AudioCapsSource",
    "audioset": "pipelines.sources.audioset:AudioSetSource",
    "vggsound": "pipelines.sources.vggsound:VGGSoundSource",
    "fsd50k": "pipelines.sources.fsd50k:FSD50KSource",
    "macs": "pipelines.sources.macs:MACSSource",
    "vocalsketch": "pipelines.sources.vocalsketch:VocalSketchSource",
    "vocal-imitation": "pipelines.sources.vocal_imitation:VocalImitationSource",
    "ytdlp": "pipelines.sources.ytdlp:YtDlpSource",
}


def register(name: str, target: str) -> None:
    REGISTRY[name] = target


def source_class(name: str) -> type[Source]:
    if name not in REGISTRY:
        raise SourceError(f"unknown source '{name}'; known: {', '.join(sorted(REGISTRY))} (see --list-sources)")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_source(name: str, settings: SourceSettings) -> Source:
    return source_class(name)(settings)


def list_sources() -> list[tuple[str, str, str]]:
    """(name, description, layout) of every registered adapter."""
    rows = []
    for name in sorted(REGISTRY):
        cls = source_class(name)
        rows.append((name, cls.description, cls.layout))
    return rows
