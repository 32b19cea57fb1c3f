"""Noise bank sources for pub-noise mixing (paper §III-A2, Fig. 2: pn^a with labels pn^t).

- ``generated``: the embedded default (``augment.noise.default_noise_bank``), its babble made
  from espeak-ng voices speaking a few sentences (:mod:`transforms.tts`), resampled to 48 kHz.
- ``folder``: every audio file under ``--noise-input`` (local, gs://, s3:// through
  :mod:`transforms.storage`; the extensions of :mod:`schemas.media`), decoded with soundfile and resampled with soxr; the label is the file's
  folder name below the root (ESC-50 / UrbanSound8K laid out by class), else its file name.
- :func:`bank_from_labelled_uris` takes (label, uri) pairs, so a dataset adapter
  (ESC-50, UrbanSound8K, FSD50K, AudioSet) can feed its own labelled clips.

At most ``max_clips`` clips are held per worker, chosen by a stable hash of their URIs.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from augment.noise import NoiseBank, default_noise_bank
from schemas import SAMPLE_RATE
from schemas.media import AUDIO_EXTENSIONS
from transforms import storage

NOISE_SOURCES: tuple[str, ...] = ("generated", "folder")

BABBLE_SENTENCES: tuple[tuple[str, str], ...] = (
    ("en", "The train to the city leaves from platform four in ten minutes."),
    ("en", "Could you pass me the menu, I think I will have the soup today."),
    ("fr", "Nous avons rendez-vous demain matin devant la vieille gare."),
    ("de", "Am Wochenende fahren wir mit den Kindern an den See."),
    ("es", "Mi hermana trabaja en un hospital cerca del mercado central."),
    ("en", "Nobody told me the meeting had been moved to the afternoon."),
)
BABBLE_VOICES: tuple[str, ...] = ("m3", "f2", "m7", "f4", "m1", "f1")


def generated_bank(seed: int = 0, duration_s: float = 8.0) -> NoiseBank:
    """The embedded default bank; its babble is several espeak-ng voices in several languages."""
    import soxr

    from transforms.tts import synthesize

    speech = []
    for (language, text), variant in zip(BABBLE_SENTENCES, BABBLE_VOICES, strict=True):
        spoken = synthesize(text, language, variant=variant)
        speech.append(soxr.resample(spoken.audio, spoken.sample_rate, SAMPLE_RATE).astype(np.float32))
    return default_noise_bank(speech, seed=seed, duration_s=duration_s)


def decode_audio(data: bytes, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Audio file bytes → float32 mono at ``sample_rate`` (soundfile + soxr)."""
    import soundfile
    import soxr

    audio, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def label_from_path(path: str, root: str) -> str:
    """``root/dog_bark/123.wav`` → "dog bark"; ``root/1-100032-A-0-rain.wav`` → "rain"."""
    relative = path[len(root) :].lstrip("/") if path.startswith(root) else path.rsplit("/", 1)[-1]
    parts = relative.split("/")
    raw = parts[-2] if len(parts) > 1 else parts[-1].rsplit(".", 1)[0]
    words = [w for w in re.split(r"[\s_\-]+", raw) if w and not re.fullmatch(r"[0-9]+|[A-Z]", w)]
    return " ".join(words).lower() or raw


def _read(uri: str) -> bytes:
    return storage.read_bytes(uri)


def _stable_subset(items: list[Any], key: Callable[[Any], str], max_items: int) -> list[Any]:
    if max_items <= 0 or len(items) <= max_items:
        return items
    ranked = sorted(items, key=lambda item: hashlib.sha256(key(item).encode()).hexdigest())
    return sorted(ranked[:max_items], key=key)


def bank_from_labelled_uris(
    pairs: Iterable[tuple[str, str]],
    name: str = "noise",
    max_clips: int = 200,
    read: Callable[[str], bytes] = _read,
) -> NoiseBank:
    """A bank from (label, uri) pairs; undecodable or silent files are skipped."""
    chosen = _stable_subset(sorted(set(pairs), key=lambda p: p[1]), key=lambda p: p[1], max_items=max_clips)
    entries = []
    for label, uri in chosen:
        try:
            audio = decode_audio(read(uri))
        except Exception:  # noqa: BLE001 - a bad noise file must not stop the corpus
            continue
        if audio.size and float(np.max(np.abs(audio))) > 1e-4:
            entries.append((label, audio))
    return NoiseBank(entries=tuple(entries), name=name)


def folder_bank(root: str, max_clips: int = 200) -> NoiseBank:
    """Every audio file under ``root`` (recursively), labelled by folder or file name."""
    root = root.rstrip("/")
    pairs = []
    for pattern in (f"{root}/**", f"{root}/*"):
        for path in storage.list_files(pattern):
            if path.lower().endswith(AUDIO_EXTENSIONS):
                pairs.append((label_from_path(path, root), path))
    if not pairs:
        raise ValueError(f"no audio files under {root}")
    return bank_from_labelled_uris(pairs, name=root.rsplit("/", 1)[-1] or "folder", max_clips=max_clips)


def load_noise_bank(source: str, noise_input: str | None = None, max_clips: int = 200, seed: int = 0) -> NoiseBank:
    """The bank named by ``--noise-source`` / ``--noise-input``."""
    if source == "generated":
        return generated_bank(seed=seed)
    if source == "folder":
        if not noise_input:
            raise ValueError("--noise-source folder needs --noise-input")
        return folder_bank(noise_input, max_clips=max_clips)
    raise ValueError(f"unknown noise source {source!r}")


@dataclass(frozen=True)
class NoiseBankLoader:
    """A picklable loader for ``AugmentStage``: the bank is built in each worker's ``setup()``."""

    source: str
    noise_input: str | None
    max_clips: int
    seed: int

    def __call__(self) -> NoiseBank:
        return load_noise_bank(self.source, self.noise_input, max_clips=self.max_clips, seed=self.seed)
