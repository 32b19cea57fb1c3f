"""The recording scene of a synthesised utterance: a room at a known RT60 and noise at a known SNR.

The demo corpus varies what the attributes stage measures, so each ``tts://`` item may name a
scene (:func:`transforms.tts.tts_uri`'s ``rt60_s``/``snr_db`` parameters), applied here to the
espeak-ng output at 22.05 kHz before the decode stage resamples it:

1. **room**: convolution with :func:`augment.effects.synthetic_rir` (a direct path, then
   exponentially decaying noise falling 60 dB over ``rt60_s``; deterministic from ``rir_seed``),
   wholly wet, the speech's RMS kept: the RT60 is the generator's, so it is known exactly
   (pyroomacoustics stays a dev/bench dependency);
2. **noise**: a clip of the generated noise bank (:func:`augment.noise.default_noise_bank`, seed 0:
   white, pink, brown, hum, rain, babble of other espeak-ng voices) mixed under the (reverberant)
   speech by :func:`augment.mix.mix_noise` at the weight that gives ``snr_db`` between the two
   level-matched parts.

Same parameters, same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from augment.effects import synthetic_rir
from augment.mix import mix_noise, rms, weight_for_snr_db
from augment.noise import NoiseBank, default_noise_bank

BANK_SEED = 0
BANK_SECONDS = 8.0
_BABBLE: tuple[tuple[str, str, str], ...] = (
    ("en", "m3", "Nobody told me the meeting had been moved to the afternoon."),
    ("fr", "f2", "Nous avons rendez-vous devant la gare à huit heures."),
    ("de", "m7", "Am Wochenende fahren wir mit den Kindern an den See."),
    ("es", "f4", "Mi hermana trabaja en un hospital cerca del mercado central."),
)
"""Voices and sentences of the bank's babble (not the demo's sentences: babble is not content)."""


@dataclass(frozen=True)
class Scene:
    """Where an utterance is heard: a room (``rt60_s``, None: dry) and noise (``snr_db``, None: none)."""

    rt60_s: float | None = None
    rir_seed: int = 0
    snr_db: float | None = None
    noise: int = 0
    """Index of the noise clip in :func:`noise_bank`."""
    noise_offset: int = 0
    """Sample of the noise clip where the mix starts (it loops)."""

    def __post_init__(self) -> None:
        if self.rt60_s is not None and not 0.05 <= self.rt60_s <= 5.0:
            raise ValueError(f"rt60_s must lie in 0.05..5 s, got {self.rt60_s}")
        if self.snr_db is not None and not -20.0 <= self.snr_db <= 60.0:
            raise ValueError(f"snr_db must lie in -20..60 dB, got {self.snr_db}")

    @property
    def empty(self) -> bool:
        return self.rt60_s is None and self.snr_db is None


@cache
def noise_bank(sample_rate: int) -> NoiseBank:
    """The generated noise bank at ``sample_rate`` (its babble spoken by espeak-ng; built once per process)."""
    import soxr

    from transforms.tts import synthesize

    babble = []
    for language, variant, text in _BABBLE:
        spoken = synthesize(text, language, variant)
        babble.append(soxr.resample(spoken.audio, spoken.sample_rate, sample_rate).astype(np.float32))
    return default_noise_bank(babble, seed=BANK_SEED, duration_s=BANK_SECONDS, sample_rate=sample_rate)


def noise_label(index: int, sample_rate: int) -> str:
    bank = noise_bank(sample_rate)
    return bank.entries[index % len(bank)][0]


def apply_scene(audio: np.ndarray, sample_rate: int, scene: Scene) -> np.ndarray:
    """The utterance heard in the scene (same length, float32)."""
    out = np.asarray(audio, dtype=np.float32)
    if scene.rt60_s is not None and out.size:
        from scipy.signal import fftconvolve

        rir = synthetic_rir(scene.rt60_s, scene.rir_seed, sample_rate).astype(np.float64)
        wet = fftconvolve(out.astype(np.float64), rir)[: out.size]
        level = rms(wet)
        out = (wet * (rms(out) / level) if level > 0 else wet).astype(np.float32)
        peak = float(np.max(np.abs(out)))
        if peak > 0.99:
            out = (out * (0.99 / peak)).astype(np.float32)
    if scene.snr_db is not None and out.size:
        bank = noise_bank(sample_rate)
        _, clip = bank.entries[scene.noise % len(bank)]
        out = mix_noise(out, clip, weight_for_snr_db(scene.snr_db), scene.noise_offset).audio
    return out
