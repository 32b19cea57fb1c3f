"""Corpora for the report tests: the real demo build, and a small hand-made corpus written through
the pipeline's own sink with what the demo lacks (two source datasets, two languages, sounds,
segmented long recordings, noise-mixed copies, failures at every level)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines import sink
from pipelines.card import StatsAccumulator
from pipelines.cli import main as clara
from pipelines.plan import ShardRef, failures_path, marker_path
from pipelines.tar_writer import TarShardWriter
from schemas import Augmentation, Caption, Failure, SampleMeta, ShardStats

MIXED_SNR_DB = (3.0, 7.5, 12.0, 20.5)
MIXED_LAMBDA = (0.05, 0.2, 0.35, 0.6)
MIXED_LONG_SOURCE_S = 25.0
MIXED_SEGMENTS_S = (10.0, 9.0, 6.0)


def flac_bytes(seconds: float = 0.05) -> bytes:
    t = np.arange(int(seconds * 48_000)) / 48_000
    buffer = io.BytesIO()
    sf.write(buffer, (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 48_000, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def speech_meta(
    key: str, split: str, duration: float, source_s: float, index: int, language: str, gender: str, **kw
) -> SampleMeta:
    captions = [
        Caption(f"A {gender} speaker saying hello in a happy voice", "en", "template"),
        Caption("bonjour tout le monde" if language == "fr" else "hello everyone", language, "transcript"),
        *kw.pop("extra_captions", ()),
    ]
    return SampleMeta(
        key=key,
        text=tuple(c.text for c in captions),
        tag=("speech", "happy", gender),
        original_data={
            "dataset": "speechset",
            "source_id": key.rsplit("_", 2)[0],
            "language": language,
            "gender": gender,
            "emotion": "happy",
            "transcript": captions[1].text,
        },
        captions=tuple(captions),
        duration_s=duration,
        split=split,
        segment={"index": index, "start_s": 0.0, "duration_s": duration, "source_duration_s": source_s},
        **kw,
    )


def sound_meta(key: str, split: str, duration: float) -> SampleMeta:
    captions = (
        Caption("a dog barks twice near a busy road", "en", "human"),
        Caption("un chien aboie", "fr", "translation"),
    )
    return SampleMeta(
        key=key,
        text=tuple(c.text for c in captions),
        tag=("dog", "traffic"),
        original_data={"dataset": "soundset", "source_id": key, "language": "und", "gender": "unknown"},
        captions=captions,
        duration_s=duration,
        split=split,
        segment={"index": 0, "start_s": 0.0, "duration_s": duration, "source_duration_s": duration},
    )


def noisy_copy(meta: SampleMeta, copy: int) -> SampleMeta:
    mix = Augmentation(
        "noise",
        {"noise_label": "pub chatter", "noise_weight_lambda": MIXED_LAMBDA[copy], "snr_db": MIXED_SNR_DB[copy]},
    )
    augmentations = (mix, Augmentation("reverb", {"rt60_s": 0.4})) if copy % 2 else (mix,)
    return dataclasses.replace(meta, key=f"{meta.key[:-2]}_{copy + 1}", augmentations=augmentations)


def write_shard(
    out: Path, shard: ShardRef, samples: list[SampleMeta], failures: list[Failure], items_in: int
) -> ShardStats:
    stats = StatsAccumulator(shard, items_in)
    writer = TarShardWriter(str(out), shard)
    for meta in samples:
        writer.add(meta.key, flac_bytes(), sink.dumps(meta.to_json_dict()))
        stats.add_sample(meta, meta.key.rsplit("_", 2)[0])
    for failure in failures:
        stats.add_failure(failure)
    size = writer.commit()
    result = stats.result(size)
    sink.write_failures(failures_path(str(out), f"{shard.split}-{shard.name}"), failures)
    sink.write_atomic(marker_path(str(out), shard), sink.dumps(result.to_dict()))
    return result


def build_mixed_corpus(out: Path) -> dict:
    """Two shards in train, one in test, failures in a shard and before any shard; returns the card."""
    long = [
        speech_meta(f"sp-long_{i:03d}_0", "train", d, MIXED_LONG_SOURCE_S, i, "en", "female")
        for i, d in enumerate(MIXED_SEGMENTS_S)
    ]
    short = [speech_meta(f"sp-fr{i}_000_0", "train", 2.0 + i, 2.0 + i, 0, "fr", "male") for i in range(2)]
    noisy = [noisy_copy(short[i % 2], i) for i in range(len(MIXED_SNR_DB))]
    shard0 = sorted([*long, *short, *noisy], key=lambda m: m.key)
    shard1 = [sound_meta(f"snd-{i}_000_0", "train", 5.0) for i in range(3)]
    shard2 = [sound_meta("snd-t_000_0", "test", 4.0), speech_meta("sp-t_000_0", "test", 3.0, 3.0, 0, "en", "male")]
    in_shard = [
        Failure("sp-bad1", "speechset", "decode", "not_audio", "RIFF header missing"),
        Failure("sp-bad2", "speechset", "decode", "empty_file", "0 bytes"),
        Failure("sp-bad3", "speechset", "segment", "no_speech", "whisper found no words"),
    ]
    stats = [
        write_shard(out, ShardRef("train", 0, 2), shard0, in_shard, items_in=1 + 2 + 3),
        write_shard(out, ShardRef("train", 1, 2), shard1, [], items_in=3),
        write_shard(out, ShardRef("test", 0, 1), shard2, [], items_in=2),
    ]
    run_level = [Failure("lost", "speechset", "source", "missing_file", "listed in the manifest, not on disk")]
    return sink.finalize(str(out), out.name, stats, run_level, {"source": "hand-made"})


@pytest.fixture(scope="session")
def corpora(tmp_path_factory) -> Path:
    """A folder of two corpora: ``demo-en`` (the real demo build) and ``mixed`` (hand-made)."""
    root = tmp_path_factory.mktemp("corpora")
    args = ["shards", "--demo-items", "8", "--shard-size", "3", "--workers", "1", "--output", str(root)]
    assert clara(args) == 0
    build_mixed_corpus(root / "mixed")
    return root


@pytest.fixture(scope="session")
def reported(corpora: Path) -> Path:
    """The same folder after ``clara report`` over it (both corpora reported in one call)."""
    assert clara(["report", str(corpora), "--samples-per-source", "2"]) == 0
    return corpora
