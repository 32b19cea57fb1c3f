"""Tiny synthetic shards in the exact shard contract, for tests, benches and smoke runs.

Each sample is a tone (one of a few pitches, so there is something to learn) plus noise,
48 kHz mono 16-bit FLAC, with a ``SampleMeta`` JSON whose captions name the pitch in
English and French. Layout: ``<out>/<name>/<split>/000000.tar``, ``sizes.json`` and the
``000000.stats.json`` marker, members in key order with fixed mtimes.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf

from schemas.records import SAMPLE_RATE, Caption, SampleMeta, ShardStats, make_key

TONES: tuple[tuple[float, str, str], ...] = (
    (220.0, "a low hum", "un bourdonnement grave"),
    (440.0, "a clear beep", "un bip clair"),
    (880.0, "a high whistle", "un sifflement aigu"),
    (1760.0, "a piercing squeal", "un cri perçant"),
)


def synth_clip(tone: int, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    clip = 0.5 * np.sin(2 * np.pi * TONES[tone][0] * t) + 0.05 * rng.standard_normal(t.shape)
    return clip.astype(np.float32)


def flac_bytes(clip: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, clip, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def sample_meta(key: str, tone: int, duration_s: float, split: str) -> SampleMeta:
    _, english, french = TONES[tone]
    captions = (Caption(english, "en", "template"), Caption(french, "fr", "translation"))
    return SampleMeta(
        key=key,
        text=tuple(c.text for c in captions),
        tag=(english,),
        original_data={"language": "en", "dataset": "synthetic", "source_id": key, "gender": "unknown"},
        captions=captions,
        duration_s=duration_s,
        split=split,
    )


def write_shards(
    out: Path | str,
    name: str = "synthetic",
    splits: dict[str, int] | None = None,
    per_shard: int = 8,
    duration_s: tuple[float, float] = (0.3, 1.2),
    corrupt: int = 0,
    seed: int = 0,
) -> Path:
    """Write ``splits`` ({split: n samples}) as shards; ``corrupt`` train samples get garbage FLAC.

    Returns the dataset folder ``<out>/<name>``.
    """
    splits = splits or {"train": 32, "valid": 8}
    rng = np.random.default_rng(seed)
    root = Path(out) / name
    for split, count in splits.items():
        split_dir = root / split
        split_dir.mkdir(parents=True, exist_ok=True)
        sizes: dict[str, int] = {}
        for shard_index, first in enumerate(range(0, count, per_shard)):
            shard = f"{shard_index:06d}.tar"
            n = min(per_shard, count - first)
            total_s = 0.0
            with tarfile.open(split_dir / shard, "w", format=tarfile.USTAR_FORMAT) as tar:
                for i in range(first, first + n):
                    key = make_key(name, split, f"{i:05d}")
                    tone = int(rng.integers(len(TONES)))
                    duration = float(rng.uniform(*duration_s))
                    audio = flac_bytes(synth_clip(tone, duration, rng))
                    if split == "train" and i < corrupt:
                        audio = b"this is not a FLAC stream" * 4
                    _add(tar, f"{key}.flac", audio)
                    meta = sample_meta(key, tone, round(duration, 3), split)
                    _add(tar, f"{key}.json", json.dumps(meta.to_json_dict()).encode())
                    total_s += duration
            sizes[shard] = n
            stats = ShardStats(
                shard=shard,
                split=split,
                items_in=n,
                items_ok=n,
                items_failed=0,
                samples=n,
                duration_s=total_s,
                bytes=(split_dir / shard).stat().st_size,
            )
            (split_dir / shard.replace(".tar", ".stats.json")).write_text(json.dumps(stats.to_dict()))
        (split_dir / "sizes.json").write_text(json.dumps(sizes))
    return root
