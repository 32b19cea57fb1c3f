"""Tiny dataset trees in their publishers' layouts, sharing recordings across datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from tests.quality_dedup.conftest import mp3_bytes, recording

RATE = 16_000
SEGMENT_HEADER = (
    "# Segments csv created Sun Mar  5 10:54:31 2017\n# YTID, start_seconds, end_seconds, positive_labels\n"
)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def wav(path: Path, seed: int, seconds: float = 1.5) -> Path:
    """A distinct recording per seed (tone bursts over noise), as 16 kHz 16-bit WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, recording(seed, seconds, RATE), RATE, subtype="PCM_16")
    return path


def mp3(path: Path, seed: int, seconds: float = 1.5) -> Path:
    """The recording of ``seed`` re-encoded as MP3 (64 kbit/s)."""
    return write(path, mp3_bytes(recording(seed, seconds, RATE), RATE))


def youtube_ids(count: int, prefix: str) -> list[str]:
    """``count`` 11-character YouTube-like ids."""
    return [f"{prefix}{i:03d}".ljust(11, "x")[:11] for i in range(count)]


def audioset(root: Path, ids: list[str], seeds: list[int], start: float = 30.0) -> Path:
    """AudioSet: a balanced-train segment CSV, the class index, audio named ``Y<id>_<start>_<end>.wav``."""
    rows = "".join(f'{y}, {start:.3f}, {start + 10:.3f}, "/m/0bt9lr"\n' for y in ids)
    write(root / "balanced_train_segments.csv", SEGMENT_HEADER + rows)
    write(root / "class_labels_indices.csv", 'index,mid,display_name\n0,/m/0bt9lr,"Dog"\n')
    for y, seed in zip(ids, seeds, strict=True):
        wav(root / "audio" / f"Y{y}_{start:.3f}_{start + 10:.3f}.wav", seed)
    return root


def audiocaps(root: Path, ids: list[str], seeds: list[int], start: int = 30, split: str = "test") -> Path:
    """AudioCaps: ``dataset/<split>.csv`` and audio named by YouTube id."""
    rows = "".join(f"{100 + i},{y},{start},A dog barks number {i}\n" for i, y in enumerate(ids))
    write(root / "dataset" / f"{split}.csv", "audiocap_id,youtube_id,start_time,caption\n" + rows)
    for y, seed in zip(ids, seeds, strict=True):
        wav(root / "audio" / f"{y}.wav", seed)
    return root


def esc50(root: Path, freesound_ids: list[int], seeds: list[int]) -> Path:
    """ESC-50-master: ``meta/esc50.csv`` and ``audio/<fold>-<freesound id>-A-0.wav`` (fold 1: train)."""
    base = root / "ESC-50-master"
    rows = "".join(f"1-{fid}-A-0.wav,1,0,dog,True,{fid},A\n" for fid in freesound_ids)
    write(base / "meta" / "esc50.csv", "filename,fold,target,category,esc10,src_file,take\n" + rows)
    for fid, seed in zip(freesound_ids, seeds, strict=True):
        wav(base / "audio" / f"1-{fid}-A-0.wav", seed)
    return root


def fsd50k(root: Path, freesound_ids: list[int], seeds: list[int]) -> Path:
    """FSD50K: ``FSD50K.ground_truth/dev.csv`` and ``FSD50K.dev_audio/<freesound id>.wav``."""
    rows = "".join(f'{fid},"Bark,Dog","/m/05tny_,/m/0bt9lr",train\n' for fid in freesound_ids)
    write(root / "FSD50K.ground_truth" / "dev.csv", "fname,labels,mids,split\n" + rows)
    write(root / "FSD50K.ground_truth" / "vocabulary.csv", "0,Bark,/m/05tny_\n1,Dog,/m/0bt9lr\n")
    for fid, seed in zip(freesound_ids, seeds, strict=True):
        wav(root / "FSD50K.dev_audio" / f"{fid}.wav", seed)
    return root


def folder(root: Path, names: list[str], seeds: list[int], encode: str = "wav") -> Path:
    """A folder of loose recordings (the ``folder`` adapter), as WAV or re-encoded as MP3."""
    for name, seed in zip(names, seeds, strict=True):
        (mp3 if encode == "mp3" else wav)(root / f"{name}.{encode}", seed)
    return root


def silence(seconds: float = 1.0) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)
