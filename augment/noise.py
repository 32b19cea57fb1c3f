"""The noise bank: labelled background sounds for pub-noise mixing (paper §III-A2, Fig. 2: pn^a, pn^t).

A :class:`NoiseBank` is a list of (label, float32 mono audio at 48 kHz). It comes from any
sound-event source (a folder, ESC-50, UrbanSound8K ...: see ``transforms/noise_bank.py``) or,
for the embedded demo corpus, from :func:`default_noise_bank`, generated here: white, pink and
brown noise, mains hum, rain-like impulses and babble made from speech arrays the caller gives
(other TTS voices). Every generator is a pure function of its seed.

Which noise a sample gets is a pure function of the sample key (:meth:`NoiseBank.choose`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from schemas import SAMPLE_RATE


@dataclass(frozen=True, eq=False)
class NoiseBank:
    """Labelled background sounds, all float32 mono at ``sample_rate``."""

    entries: tuple[tuple[str, np.ndarray], ...]
    name: str = "noise"
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError(f"noise bank {self.name!r} is empty")
        for label, audio in self.entries:
            if not label.strip():
                raise ValueError("a noise needs a label")
            if audio.ndim != 1 or audio.size == 0:
                raise ValueError(f"noise {label!r} must be non-empty mono audio")

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.entries]

    def choose(self, key: str, salt: int | str = 0) -> tuple[int, str, np.ndarray]:
        """The noise for ``key`` (index, label, audio): a stable hash, so the same key always gets the same noise."""
        digest = hashlib.sha256(f"{self.name}:{salt}:{key}".encode()).digest()
        index = int.from_bytes(digest[:8], "big") % len(self.entries)
        label, audio = self.entries[index]
        return index, label, audio


def _normalise(audio: np.ndarray, target_rms: float = 0.1) -> np.ndarray:
    audio = audio - np.mean(audio)
    level = float(np.sqrt(np.mean(audio**2)))
    return (audio * (target_rms / level)).astype(np.float32) if level > 0 else audio.astype(np.float32)


def white_noise(duration_s: float, seed: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Gaussian white noise (flat spectrum)."""
    rng = np.random.default_rng(seed)
    return _normalise(rng.standard_normal(int(duration_s * sample_rate)))


def _coloured_noise(duration_s: float, seed: int, exponent: float, sample_rate: int) -> np.ndarray:
    """Noise with power spectral density ∝ 1/f^exponent (spectral shaping of white noise)."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    shape = np.ones_like(freqs)
    audible = freqs >= 20.0  # no energy below 20 Hz: avoids an inaudible DC drift eating the level
    shape[audible] = freqs[audible] ** (-exponent / 2.0)
    shape[~audible] = 0.0
    return _normalise(np.fft.irfft(spectrum * shape, n=n))


def pink_noise(duration_s: float, seed: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Pink noise: power falls 3 dB per octave (1/f)."""
    return _coloured_noise(duration_s, seed, 1.0, sample_rate)


def brown_noise(duration_s: float, seed: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Brown (red) noise: power falls 6 dB per octave (1/f²), a rumble."""
    return _coloured_noise(duration_s, seed, 2.0, sample_rate)


def hum(duration_s: float, seed: int, sample_rate: int = SAMPLE_RATE, mains_hz: float | None = None) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and its first harmonics, with a little hiss."""
    rng = np.random.default_rng(seed)
    base = mains_hz or float(rng.choice([50.0, 60.0]))
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    tone = sum((0.6**k) * np.sin(2 * np.pi * base * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k in range(5))
    return _normalise(tone + 0.02 * rng.standard_normal(t.size))


def rain(duration_s: float, seed: int, sample_rate: int = SAMPLE_RATE, drops_per_s: float = 400.0) -> np.ndarray:
    """Rain-like texture: Poisson-timed short decaying noise bursts (drops) over a soft bed of noise."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate)
    impulses = np.zeros(n)
    count = rng.poisson(drops_per_s * duration_s)
    impulses[rng.integers(0, n, count)] = rng.lognormal(0.0, 0.8, count) * rng.choice([-1.0, 1.0], count)
    drop_len = int(0.004 * sample_rate)
    drop = rng.standard_normal(drop_len) * np.exp(-np.arange(drop_len) / (0.0008 * sample_rate))
    drops = np.convolve(impulses, drop)[:n]
    bed = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * np.linspace(0.2, 1.0, n // 2 + 1), n=n)
    return _normalise(drops + 0.3 * bed / (np.std(bed) + 1e-12) * np.std(drops))


def babble(
    speech: list[np.ndarray], duration_s: float, seed: int, sample_rate: int = SAMPLE_RATE, voices: int = 6
) -> np.ndarray:
    """Crowd babble: ``voices`` overlapping talkers, each a looped speech array at a random offset.

    ``speech`` holds float mono arrays at ``sample_rate`` (other TTS voices in the demo corpus).
    """
    arrays = [np.asarray(s, dtype=np.float64) for s in speech if np.asarray(s).size]
    if not arrays:
        raise ValueError("babble needs at least one speech array")
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate)
    out = np.zeros(n)
    for v in range(voices):
        talker = _normalise(arrays[v % len(arrays)])
        offset = int(rng.integers(0, talker.size))
        looped = np.tile(talker, int(np.ceil((offset + n) / talker.size)))[offset : offset + n]
        out += looped * rng.uniform(0.5, 1.0)
    return _normalise(out)


DEFAULT_LABELS: tuple[str, ...] = ("white noise", "pink noise", "brown noise", "electrical hum", "rain", "crowd babble")


def default_noise_bank(
    speech: list[np.ndarray], seed: int = 0, duration_s: float = 8.0, sample_rate: int = SAMPLE_RATE
) -> NoiseBank:
    """The generated default bank: one clip per label of :data:`DEFAULT_LABELS`.

    ``speech`` (float mono at ``sample_rate``) feeds the babble; pass other voices than the
    ones being augmented so the babble is not the sample's own speaker.
    """
    generators = (
        lambda s: white_noise(duration_s, s, sample_rate),
        lambda s: pink_noise(duration_s, s, sample_rate),
        lambda s: brown_noise(duration_s, s, sample_rate),
        lambda s: hum(duration_s, s, sample_rate),
        lambda s: rain(duration_s, s, sample_rate),
        lambda s: babble(speech, duration_s, s, sample_rate),
    )
    entries = tuple(
        (label, gen(seed + i)) for i, (label, gen) in enumerate(zip(DEFAULT_LABELS, generators, strict=True))
    )
    return NoiseBank(entries=entries, name="generated", sample_rate=sample_rate)
