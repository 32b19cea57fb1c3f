"""Tiny shards in exactly the shard contract's layout, written here independently of ``model``.

``<root>/toy/{train,valid}/00000N.tar`` with adjacent ``<key>.flac`` (48 kHz mono 16-bit) and
``<key>.json`` members, ``sizes.json`` and a ``00000N.stats.json`` commit marker per shard.
The first train sample's FLAC is garbage (the loader must skip and count it).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from model.config import TrainConfig, apply_overrides, load_config

SAMPLE_RATE = 48_000
PITCHES = {220.0: "a low hum", 440.0: "a clear beep", 880.0: "a high whistle", 1760.0: "a shrill squeal"}
TRAIN_SAMPLES, VALID_SAMPLES, PER_SHARD, CORRUPT = 24, 8, 6, 1


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), 0
    tar.addfile(info, io.BytesIO(data))


def _sample(rng: np.random.Generator, key: str, split: str) -> tuple[bytes, dict]:
    pitch = list(PITCHES)[int(rng.integers(len(PITCHES)))]
    duration_s = float(rng.uniform(0.2, 1.0))
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    clip = 0.4 * np.sin(2 * np.pi * pitch * t) + 0.02 * rng.standard_normal(t.shape)
    buffer = io.BytesIO()
    sf.write(buffer, clip.astype(np.float32), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    english, french = PITCHES[pitch], f"un son de {int(pitch)} hertz"
    meta = {
        "key": key,
        "text": [english, french],
        "tag": [english],
        "original_data": {"language": "en", "dataset": "toy", "source_id": key, "gender": "unknown", "emotion": None},
        "captions": [
            {"text": english, "language": "en", "origin": "template"},
            {"text": french, "language": "fr", "origin": "translation"},
        ],
        "duration_s": round(duration_s, 3),
        "split": split,
        "sample_rate": SAMPLE_RATE,
        "schema_version": "1.0.0",
    }
    return buffer.getvalue(), meta


def write_toy_shards(root: Path) -> Path:
    rng = np.random.default_rng(1234)
    dataset = root / "toy"
    for split, count in (("train", TRAIN_SAMPLES), ("valid", VALID_SAMPLES)):
        split_dir = dataset / split
        split_dir.mkdir(parents=True)
        sizes = {}
        for shard_index, first in enumerate(range(0, count, PER_SHARD)):
            name = f"{shard_index:06d}.tar"
            with tarfile.open(split_dir / name, "w") as tar:
                for i in range(first, min(first + PER_SHARD, count)):
                    key = f"toy-{split}-{i:04d}_000_0"
                    flac, meta = _sample(rng, key, split)
                    if split == "train" and i < CORRUPT:
                        flac = b"\x00not-flac" * 10
                    _member(tar, f"{key}.flac", flac)
                    _member(tar, f"{key}.json", json.dumps(meta).encode())
            sizes[name] = min(PER_SHARD, count - first)
            (split_dir / name.replace(".tar", ".stats.json")).write_text(json.dumps({"shard": name}))
        (split_dir / "sizes.json").write_text(json.dumps(sizes))
    return dataset


@pytest.fixture(scope="session")
def toy_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``toy`` dataset folder: ``train/`` 4 shards × 6 samples (1 corrupt), ``valid/`` 6 + 2."""
    return write_toy_shards(tmp_path_factory.mktemp("shards"))


MICRO_OVERRIDES = [
    "model.audio.dim=32",
    "model.audio.n_latents=8",
    "model.audio.latent_layers=1",
    "model.audio.latent_heads=2",
    "model.audio.cross_heads=2",
    "model.audio.max_frames=512",
    "model.text.dim=32",
    "model.text.layers=1",
    "model.text.heads=2",
    "model.text.max_tokens=32",
    "model.embed_dim=32",
    "model.head_dropout=0.0",
    "data.batch_size=4",
    "data.max_audio_s=1.0",
    "data.num_workers=0",
    "data.shuffle_buffer=8",
]


@pytest.fixture
def micro_config() -> TrainConfig:
    """A very small model (fast on one CPU core) with the tiny preset's training settings."""
    return apply_overrides(load_config("tiny"), MICRO_OVERRIDES)


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(1)
    yield
