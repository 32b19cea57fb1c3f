"""Fixtures: a tiny randomly initialised CLARA saved through the trainer's own checkpoint
path, and tiny shards (tones standing in for speech) with the metadata evaluation reads."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from model.checkpoint import save_checkpoint
from model.config import apply_overrides, load_config
from model.heads import Clara

SAMPLE_RATE = 48_000
TINY = [
    "model.audio.dim=32",
    "model.audio.n_latents=8",
    "model.audio.latent_layers=1",
    "model.audio.latent_heads=2",
    "model.text.dim=32",
    "model.text.layers=1",
    "model.text.heads=2",
    "model.embed_dim=16",
    "data.max_audio_s=2.0",
]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder holding one checkpoint of a random tiny model (``save_checkpoint``)."""
    run = tmp_path_factory.mktemp("run") / "tiny-eval"
    config = apply_overrides(load_config("tiny"), TINY)
    torch.manual_seed(0)
    model = Clara(config.model)
    save_checkpoint(run, 0, {"model": model.state_dict(), "config": config.to_dict()})
    return run


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), 0
    tar.addfile(info, io.BytesIO(data))


def _clip(rng: np.random.Generator, pitch: float, seconds: float) -> bytes:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = 0.4 * np.sin(2 * np.pi * pitch * t) + 0.02 * rng.standard_normal(t.shape)
    buffer = io.BytesIO()
    sf.write(buffer, wave.astype(np.float32), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def write_eval_shards(root: Path, per_split: dict[str, int] | None = None) -> Path:
    """``<root>/toy/<split>/000000.tar``: each clip labelled with language, gender, emotion and a
    keyword; every clip also gets one augmented twin (which evaluation must leave out)."""
    per_split = per_split or {"train": 24, "valid": 8, "test": 12}
    rng = np.random.default_rng(7)
    languages, genders, emotions, words = ("en", "fr"), ("male", "female"), ("happy", "sad"), ("yes", "no", "stop")
    for split, count in per_split.items():
        split_dir = root / "toy" / split
        split_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(split_dir / "000000.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
            for i in range(count):
                lang, gender, emotion, word = (
                    languages[i % 2],
                    genders[(i // 2) % 2],
                    emotions[(i // 4) % 2],
                    words[i % 3],
                )
                for copy in (0, 1):
                    key = f"toy-{split}-{i:04d}_{copy}"
                    meta = {
                        "key": key,
                        "text": [f"A {gender} saying '{word}' in a {emotion} voice", word],
                        "original_data": {
                            "language": lang, "gender": gender, "emotion": emotion, "dataset": "toy",
                            "source_id": key, "transcript": word, "extra": {"keyword": word},
                        },
                        "captions": [
                            {"text": f"A {gender} saying '{word}' in a {emotion} voice", "language": "en", "origin": "template"},
                            {"text": word, "language": lang, "origin": "transcript"},
                        ],
                        "augmentations": [{"name": "noise"}] if copy else [],
                        "duration_s": 0.5,
                        "split": split,
                    }  # fmt: skip
                    _member(tar, f"{key}.flac", _clip(rng, 200.0 + 100 * i, 0.5))
                    _member(tar, f"{key}.json", json.dumps(meta).encode())
        (split_dir / "sizes.json").write_text(json.dumps({"000000.tar": 2 * count}))
        (split_dir / "000000.stats.json").write_text("{}")
    return root / "toy"


@pytest.fixture(scope="session")
def eval_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_eval_shards(tmp_path_factory.mktemp("shards"))
