"""The build config: what to build, where, how to run it, and every stage's settings.

``BuildConfig`` has one section per concern: ``corpus`` (the source and its items), ``plan``
(shards), ``screen``, ``run`` (runner, workers, output: never part of a shard's bytes), one
per stage of the registry that has settings (``pipelines/stages.py``, ``decode`` first), ``llm``
(the endpoint several stages share) and ``storage`` (retries of storage calls, the age of a stale
temporary file).
Each section is a frozen dataclass of ``schemas.settings`` fields, so the flags, the YAML form
(``--config build.yaml``) and ``--set section.field=value`` are all generated from one
declaration. Beam's own flags (``--project``, ``--temp_location``, ``--flink_master``, ...) are not
ours: they pass through untouched, so the same command line runs on every runner.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, make_dataclass
from typing import Any

from pipelines.dedupe import ScreenSettings
from pipelines.plan import DEFAULT_SPLIT_FRACTIONS
from pipelines.runner import RUNNERS, beam_runner_name
from pipelines.stages import STAGES
from schemas import settings as typed
from schemas.settings import Layer, setting
from transforms.llm_settings import LLMSettings, cache_location
from transforms.storage import StorageSettings


@dataclass(frozen=True)
class CorpusSettings:
    """Corpus: which dataset adapter reads what, in which language, with which seed."""

    source: str = setting("demo", "dataset adapter name (see --list-sources)", shapes_output=True)
    input: str | None = setting(
        None,
        "the dataset's folder as its publisher ships it (local, gs://, s3://)",
        shapes_output=False,
    )
    lang: str = setting(
        "en", "language: espeak-ng voice for the demo corpus, locale for Common Voice", shapes_output=True
    )
    seed: int = setting(0, "seed of every random choice (same seed, same shards)", shapes_output=True)
    limit: int | None = setting(None, "use at most this many source items", shapes_output=False)
    demo_items: int = setting(60, "size of the demo corpus (items per language)", shapes_output=False)
    demo_videos: int = setting(0, "demo corpus: also this many synthetic videos (for --visual)", shapes_output=False)
    source_options: tuple[str, ...] = setting(
        (),
        "adapter-specific setting, repeatable (e.g. --source-option map=path=file,text=caption)",
        shapes_output=False,
        flag="--source-option",
        metavar="KEY=VALUE",
        repeatable=True,
    )
    map: str | None = setting(
        None,
        "folder adapter: manifest column mapping, e.g. path=file,text=caption,language=lang",
        shapes_output=False,
        metavar="FIELD=COLUMN,...",
    )

    def __post_init__(self) -> None:
        for pair in self.source_options:
            if "=" not in pair:
                raise ValueError(f"--source-option wants KEY=VALUE, got {pair!r}")

    def adapter_options(self) -> dict[str, str]:
        """The adapter's ``options``: ``--source-option`` pairs, the demo sizes, ``--map``."""
        options = dict(pair.split("=", 1) for pair in self.source_options)
        options = {key.strip(): value for key, value in options.items()}
        options.setdefault("items", str(self.demo_items))
        options.setdefault("videos", str(self.demo_videos))
        if self.map:
            options["map"] = self.map
        return options


@dataclass(frozen=True)
class PlanSettings:
    """Shard plan: which item goes to which shard of which split."""

    shard_size: int = setting(512, "source items per shard", shapes_output=True)
    shard_max_s: float | None = setting(
        None, "also cap a shard's audio by the items' duration hints (s)", shapes_output=True
    )
    split_fractions: tuple[float, ...] = setting(
        DEFAULT_SPLIT_FRACTIONS, "train,valid,test fractions for items without a split", shapes_output=True
    )

    def __post_init__(self) -> None:
        if self.shard_size <= 0:
            raise ValueError("--shard-size must be positive")
        parts = self.split_fractions
        if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
            raise ValueError(f"--split-fractions wants three non-negative numbers summing to 1, got {parts}")


@dataclass(frozen=True)
class RunSettings:
    """Run: where the shards go and how the build runs (never part of a shard's bytes)."""

    output: str = setting("data/shards", "root folder of the corpora (local, gs://, s3://)", shapes_output=False)
    name: str | None = setting(None, "corpus folder under --output (default: <source>-<lang>)", shapes_output=False)
    runner: str = setting("direct", f"one of {', '.join(RUNNERS)} (or a Beam runner class name)", shapes_output=False)
    workers: int = setting(os.cpu_count() or 1, "local worker processes (direct/portable)", shapes_output=False)
    environment_config: str | None = setting(
        None,
        "portable/flink: host:port of an SDK worker pool (default: start one here); Beam's own spelling",
        shapes_output=False,
        flag="--environment_config",
    )
    batch_items: int = setting(32, "items decoded and processed together inside a shard", shapes_output=False)
    batch_audio_s: float = setting(
        600.0,
        "an in-shard batch also closes once its decoded audio passes this many seconds "
        "(a shard step's memory follows this budget, not what its items are)",
        shapes_output=False,
    )
    piece_items: int = setting(
        0,
        "items per piece when a shard is built by several workers and its tar joined from their parts "
        "(0: automatic, one batch a piece when there are fewer than 16 shards a worker; more than a shard holds: never)",
        shapes_output=False,
    )
    accelerator: str | None = setting(
        None,
        "Beam resource hint for the shard step (model stages), e.g. "
        "'type:nvidia-tesla-t4;count:1;install-nvidia-driver' on Dataflow",
        shapes_output=False,
    )
    overwrite: bool = setting(False, "rebuild shards that are already complete", shapes_output=False)
    retry_failures: bool = setting(
        False,
        "build again only the items in the corpus's failures/ (not duplicates or filtered items), "
        "into new shards after the existing ones",
        shapes_output=False,
    )

    def __post_init__(self) -> None:
        if self.runner not in RUNNERS:
            beam_runner_name(self.runner)  # a name Beam does not know is refused before any work
        if self.piece_items < 0:
            raise ValueError("--piece-items must be 0 (automatic) or positive")
        if self.batch_items <= 0 or self.workers <= 0 or self.batch_audio_s <= 0:
            raise ValueError("--batch-items, --batch-audio-s and --workers must be positive")


_SECTIONS: list[tuple[str, type]] = [
    ("corpus", CorpusSettings),
    ("plan", PlanSettings),
    ("screen", ScreenSettings),
    ("run", RunSettings),
    *[(spec.name, spec.settings) for spec in STAGES if spec.settings is not None],
    ("llm", LLMSettings),
    ("storage", StorageSettings),
]

BuildConfig = make_dataclass(
    "BuildConfig",
    [(name, cls, field(default_factory=cls)) for name, cls in _SECTIONS],
    frozen=True,
)
BuildConfig.__module__ = __name__  # pickled by name, like any module-level class
BuildConfig.__doc__ = "Every setting of a shard build, by section (``config.segment.aligner``)."


def build_config(*layers: Layer) -> Any:
    """A ``BuildConfig``: defaults, then the layers in order (later wins); ValueError when invalid."""
    return typed.build_config(BuildConfig, *layers)


def config_from(values: Mapping[str, Any] | None = None, **more: Any) -> Any:
    """A ``BuildConfig`` from ``{"section.field" or flag name: value}`` (tests, benchmarks, scripts)."""
    return build_config(typed.layer_from_names(BuildConfig, {**(values or {}), **more}))


def with_run_paths(config: Any, corpus: str) -> Any:  # a BuildConfig
    """``config`` with the paths that depend on the corpus folder resolved (the LLM answer cache's
    ``<corpus>``), so that every worker reads and writes the same place."""
    cache = cache_location(config.llm.cache_dir, corpus)
    return dataclasses.replace(config, llm=dataclasses.replace(config.llm, cache_dir=cache))


def output_shaping(config: Any) -> dict[str, dict[str, Any]]:
    """The settings a shard's bytes depend on (what its fingerprint hashes)."""
    return typed.to_dict(config, only_output_shaping=True)


def card_settings(config: Any) -> dict[str, Any]:
    """The settings the dataset card records."""
    c = config.corpus
    return {
        "source": c.source,
        "lang": c.lang,
        "seed": c.seed,
        "limit": c.limit,
        "demo_items": c.demo_items,
        "shard_size": config.plan.shard_size,
        "split_fractions": list(config.plan.split_fractions),
        "input": c.input,
    }
