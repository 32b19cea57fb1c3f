"""The demo's controlled prosody: espeak-ng speed and pitch chosen per item to land in a known level.

The attributes stage bins speaking rate (phonemes/s, per language) and pitch (semitones from a
per-gender reference) into levels (:mod:`transforms.attributes.words`). The demo source draws a
level per item and asks espeak-ng for the speed and base pitch that put the utterance in the
middle of that level, using a calibration measured once on espeak-ng itself and committed as
``pipelines/sources/data/demo_prosody.json`` (``python -m pipelines.sources.demo.prosody``
remeasures it):

- **rate**: phonemes/s of speech (phonemizer's espeak-ng phonemes over the word-timed speech
  time) at speeds 80..450 words/min, averaged over 12 demo sentences per language (m1, f2;
  neutral); a level's target is the geometric middle of its edges, and its speed the one the
  language's curve gives for it (interpolated in log-log);
- **pitch**: median F0 (pyin) per voice variant and style (the style keeps its pitch range, which
  moves the median) at base pitches 0..99, over two sentences; a level is offered for a voice
  only where some base pitch puts the F0 at least :data:`PITCH_MARGIN_ST` inside the level.

The item records what was asked (speed, base pitch) and its level as ground truth; the F0 the
calibration gives for that voice, style and base pitch is recorded beside it (``pitch_hz``).
"""

from __future__ import annotations

import json
import math
import random
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

CALIBRATION_PATH = Path(__file__).parents[1] / "data" / "demo_prosody.json"
SPEEDS_WPM: tuple[int, ...] = (80, 100, 130, 175, 230, 300, 380, 450)
BASE_PITCHES: tuple[int, ...] = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99)
PITCH_MARGIN_ST = 1.0
"""How far inside its level (semitones from either edge) a chosen pitch's calibrated F0 must lie."""
CALIBRATION_LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "pt", "nl")


def _words():  # transforms.attributes.words (imported late: the source module stays light)
    from transforms.attributes import words

    return words


@cache
def calibration() -> dict[str, Any]:
    return json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))


def rate_targets(language: str) -> dict[str, float]:
    """Phonemes/s in the middle of each rate level of a language (the outer levels: one step out)."""
    w = _words()
    scale = w.RATE_REFERENCE.get(language, w.RATE_REFERENCE_DEFAULT) / w.RATE_REFERENCE_DEFAULT
    edges = [e * scale for e in w.RATE_EDGES]
    middles = [math.sqrt(a * b) for a, b in zip(edges, edges[1:])]
    low, high = edges[0] * edges[0] / edges[1], edges[-1] * edges[-1] / edges[-2]
    return dict(zip(w.RATE_LEVELS, [math.sqrt(edges[0] * low), *middles, math.sqrt(edges[-1] * high)], strict=True))


def speed_for(language: str, level: str) -> int:
    """The espeak-ng speed (words/min) that puts ``language``'s speech in the middle of a rate level."""
    curves = calibration()["rate"]
    curve = curves.get(language) or curves["en"]
    target = rate_targets(language)[level]
    speeds, rates = np.log(np.asarray(SPEEDS_WPM, dtype=float)), np.log(np.asarray(curve, dtype=float))
    wpm = float(np.exp(np.interp(math.log(target), rates, speeds)))
    return int(min(max(round(wpm), SPEEDS_WPM[0]), SPEEDS_WPM[-1]))


def _offset_st(hz: float, gender: str) -> float:
    reference = _words().PITCH_REFERENCE_HZ.get(gender, 165.0)
    return 12.0 * math.log2(hz / reference)


def pitch_choices(variant: str, style: str, gender: str) -> dict[str, tuple[int, float]]:
    """Per pitch level reachable by a voice in a style: (base pitch, its calibrated F0 in Hz)."""
    w = _words()
    table = calibration()["pitch"][variant][style]
    bounds = [-math.inf, *w.PITCH_EDGES_ST, math.inf]
    out: dict[str, tuple[int, float]] = {}
    for i, level in enumerate(w.PITCH_LEVELS):
        low, high = bounds[i] + PITCH_MARGIN_ST, bounds[i + 1] - PITCH_MARGIN_ST
        middle = (bounds[i] + bounds[i + 1]) / 2 if math.isfinite(bounds[i] + bounds[i + 1]) else None
        if middle is None:
            middle = bounds[i + 1] - 2.0 if i == 0 else bounds[i] + 2.0
        fits = [(abs(_offset_st(hz, gender) - middle), base, hz) for base, hz in table if hz]
        fits = [f for f in fits if low <= _offset_st(f[2], gender) <= high]
        if fits:
            _, base, hz = min(fits)
            out[level] = (int(base), round(float(hz), 1))
    return out


def draw_prosody(rng: random.Random, language: str, variant: str, style: str, gender: str) -> dict[str, Any]:
    """A rate level and a pitch level (uniform over those the voice reaches) and their espeak-ng settings."""
    w = _words()
    rate_level = rng.choice(w.RATE_LEVELS)
    choices = pitch_choices(variant, style, gender)
    pitch_level = rng.choice(sorted(choices, key=w.PITCH_LEVELS.index))
    base, hz = choices[pitch_level]
    return {
        "speed_wpm": speed_for(language, rate_level),
        "rate_level": rate_level,
        "pitch": base,
        "pitch_level": pitch_level,
        "pitch_hz": hz,
    }


# ----------------------------------------------------------------------------- remeasuring


def _measure_rate(language: str, sentences: list[str]) -> list[float]:
    from transforms.attributes.rate import estimate_rate
    from transforms.tts import synthesize

    curve = []
    for wpm in SPEEDS_WPM:
        values = []
        for i, text in enumerate(sentences):
            speech = synthesize(text, language, ("m1", "f2")[i % 2], "neutral", speed_wpm=wpm)
            value = estimate_rate(text, language, speech.words).value
            if value:
                values.append(value)
        curve.append(round(float(np.exp(np.mean(np.log(values)))), 3))
    return curve


def _measure_pitch(variant: str, style: str, sentences: list[tuple[str, str]]) -> list[list[float | None]]:
    import soxr

    from transforms.attributes.pitch import estimate_pitch
    from transforms.tts import synthesize

    rows: list[list[float | None]] = []
    for base in BASE_PITCHES:
        values = []
        for language, text in sentences:
            speech = synthesize(text, language, variant, style, pitch=base)
            estimate = estimate_pitch(soxr.resample(speech.audio, speech.sample_rate, 16_000), 16_000)
            if estimate.median_hz:
                values.append(estimate.median_hz)
        rows.append([base, round(float(np.exp(np.mean(np.log(values)))), 1) if len(values) == len(sentences) else None])
    return rows


def remeasure() -> dict[str, Any]:
    """The calibration measured afresh (minutes on one core)."""
    from pipelines.sources.demo.texts import sentences_for
    from transforms.tts import MORE_VARIANTS, STYLES, VARIANTS

    rate = {lang: _measure_rate(lang, sentences_for(lang)[:12]) for lang in CALIBRATION_LANGUAGES}
    probes = [("en", sentences_for("en")[0]), ("fr", sentences_for("fr")[1])]
    pitch = {
        v: {s: _measure_pitch(v, s, probes) for s in sorted(STYLES)} for v in sorted({**VARIANTS, **MORE_VARIANTS})
    }
    return {
        "_about": "espeak-ng calibration of the demo's controlled prosody (pipelines/sources/demo/prosody.py): "
        "rate = phonemes/s at speeds_wpm per language; pitch = [base pitch, median F0 Hz by pyin] per variant and style",
        "speeds_wpm": list(SPEEDS_WPM),
        "rate": rate,
        "pitch": pitch,
    }


if __name__ == "__main__":
    CALIBRATION_PATH.write_text(json.dumps(remeasure(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {CALIBRATION_PATH}")
