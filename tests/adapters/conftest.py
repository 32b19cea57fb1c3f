"""Helpers of the adapter tests: tiny audio in the formats datasets ship, and one pipeline run."""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import numpy as np
import soundfile as sf
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.build_shards import build_pipeline
from pipelines.options import config_from
from pipelines.plan import DEFAULT_SPLIT_FRACTIONS
from pipelines.sources.base import SourceSettings, make_source

SETTINGS = {"split_fractions": DEFAULT_SPLIT_FRACTIONS, "shard_size": 512, "batch_items": 16, "source": "adapter-test"}


def tone(seconds: float = 0.3, rate: int = 16_000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def audio(path: Path, seconds: float = 0.3, rate: int = 16_000) -> Path:
    """Write a short tone in the format the extension names (wav/flac via soundfile, others via PyAV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    if ext in (".wav", ".flac"):
        sf.write(path, tone(seconds, rate), rate, subtype="PCM_16")
        return path
    import av

    codec, container_format, rate = {
        ".mp3": ("mp3", "mp3", 16_000),
        ".opus": ("libopus", "ogg", 48_000),
        ".m4a": ("aac", "mp4", 16_000),
        ".mp4": ("aac", "mp4", 16_000),
        ".webm": ("libopus", "webm", 48_000),
        ".ogg": ("libopus", "ogg", 48_000),  # Ogg (Vorbis in the wild; no Vorbis encoder in PyAV here)
    }[ext]
    samples = tone(seconds, rate)
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, len(samples), frame_size):
            chunk = samples[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def text(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


@dataclass
class Built:
    """What a pipeline run produced: sample JSONs by source key, their splits, failure records."""

    samples: dict[str, dict]
    failures: list[dict]

    def meta(self, source_key: str) -> dict:
        return self.samples[source_key]

    def texts(self, source_key: str) -> list[str]:
        return list(self.samples[source_key]["text"])

    def split(self, source_key: str) -> str:
        return self.samples[source_key]["split"]

    def reasons(self) -> dict[str, str]:
        return {f["key"]: f["reason"] for f in self.failures}


def source(name: str, root: Path, **options: str):
    lang = options.pop("lang", "en")
    limit = options.pop("limit", None)
    return make_source(name, SourceSettings(input=str(root), language=lang, limit=limit, options=options))


def build(name: str, root: Path, out: Path, **options: str) -> Built:
    """Check the layout, run the shard build on it, and read back every sample and failure."""
    src = source(name, root, **options)
    src.check()
    pipeline = TestPipeline(options=beam.options.pipeline_options.PipelineOptions(["--runner=DirectRunner"]))
    build_pipeline(pipeline, src.expand(pipeline), str(out), "t", config_from(SETTINGS))
    pipeline.run().wait_until_finish()
    samples: dict[str, dict] = {}
    for tar in sorted(out.glob("*/*.tar")):
        with tarfile.open(tar) as archive:
            for member in archive.getmembers():
                if member.name.endswith(".json"):
                    meta = json.loads(archive.extractfile(member).read())
                    samples[meta["key"].rsplit("_", 2)[0]] = meta
    failures = [
        json.loads(line) for f in sorted((out / "failures").glob("*.jsonl")) for line in f.read_text().splitlines()
    ]
    card = json.loads((out / "dataset_card.json").read_text())
    assert card["totals"]["reconciled"], card["totals"]
    return Built(samples, failures)
