"""Speech synthesis with espeak-ng, with word timings (paper Fig. 1b: TTS(.)).

The house's one synthesiser: the demo corpus (:mod:`pipelines.sources.demo`), the decode stage
(``tts://`` items, synthesised where the shard is written) and the generated noise bank (babble)
all speak through it. The package:

- :mod:`transforms.tts.engine`: espeak-ng through ctypes (synchronous mode, word events);
- :mod:`transforms.tts.server`: the helper process that forks a clean child per utterance;
- :mod:`transforms.tts.scene`: a room at a known RT60 and noise at a known SNR around an utterance;
- this module: the public API (:func:`synthesize`, :func:`tts_uri`, :func:`synthesize_uri`).

Word events give each word's start; its end is the last non-silent 5 ms frame before the
next word starts, so the timings are ground truth for segmentation tests.

espeak-ng keeps state from one utterance to the next, so utterances are synthesised through
the helper server (a fork per utterance in a clean helper process): an utterance then
depends only on its text, voice and style.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from schemas import WordAlignment
from transforms.tts.engine import ESPEAK_SAMPLE_RATE, MORE_VARIANTS, STYLES, VARIANTS, Engine, Style
from transforms.tts.scene import Scene, apply_scene
from transforms.tts.server import SynthesisClient

__all__ = [
    "ESPEAK_SAMPLE_RATE",
    "MORE_VARIANTS",
    "STYLES",
    "TTS_SCHEME",
    "Scene",
    "VARIANTS",
    "Speech",
    "Style",
    "available_languages",
    "synthesize",
    "synthesize_uri",
    "tts_uri",
    "uri_scene",
]


@dataclass(frozen=True)
class Speech:
    """Synthesised speech: float32 mono samples at ``sample_rate`` plus word timings."""

    audio: np.ndarray
    sample_rate: int
    words: tuple[WordAlignment, ...]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def available_languages() -> list[str]:
    """Language codes of the espeak-ng voices shipped with espeakng-loader."""
    from pathlib import Path

    import espeakng_loader

    root = Path(espeakng_loader.get_data_path()) / "lang"
    return sorted({p.name for p in root.rglob("*") if p.is_file()})


def synthesize(
    text: str,
    language: str,
    variant: str = "m1",
    style: str = "neutral",
    speed_wpm: int | None = None,
    pitch: int | None = None,
) -> Speech:
    """Speak ``text`` in ``language`` with a voice variant and speaking style.

    ``speed_wpm`` (espeak-ng words per minute, 80..450) and ``pitch`` (espeak-ng's base pitch,
    0..99) override the style's; the style keeps its pitch range and volume.
    Returns float32 samples at 22.05 kHz and one :class:`WordAlignment` per spoken word
    (the word as written in ``text``, its start and its duration until its sound ends).
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {sorted(STYLES)}")
    prosody = STYLES[style]
    if speed_wpm is not None:
        if not 80 <= speed_wpm <= 450:
            raise ValueError(f"espeak-ng speed must lie in 80..450 words/min, got {speed_wpm}")
        prosody = replace(prosody, rate_wpm=int(speed_wpm))
    if pitch is not None:
        if not 0 <= pitch <= 99:
            raise ValueError(f"espeak-ng pitch must lie in 0..99, got {pitch}")
        prosody = replace(prosody, pitch=int(pitch))
    voice = f"{language}+{variant}" if variant else language
    if hasattr(os, "fork"):
        raw, events = SynthesisClient.call((text, voice, prosody))
    else:  # no fork (Windows): in-process, deterministic only for the same process history
        with Engine._lock:
            raw, events = Engine.speak(text, voice, prosody)
    audio = raw.astype(np.float32) / 32768.0
    return Speech(audio=audio, sample_rate=ESPEAK_SAMPLE_RATE, words=_word_timings(text, audio, events))


def _word_timings(text: str, audio: np.ndarray, events: list[tuple[int, int, int]]) -> tuple[WordAlignment, ...]:
    """One alignment item per espeak-ng word event.

    espeak-ng speaks some function words together with their neighbour ("of the") and
    emits one event for both, so an item's text runs from its event's character position
    to the next event's: every written word belongs to exactly one item.
    """
    frame = ESPEAK_SAMPLE_RATE // 200  # 5 ms
    n_frames = len(audio) // frame
    energy = (
        np.sqrt(np.mean(audio[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1)) if n_frames else np.zeros(0)
    )
    threshold = max(1e-3, 0.02 * float(energy.max())) if len(energy) else 1.0
    ordered = sorted(events, key=lambda e: (e[2], e[0]))
    words: list[WordAlignment] = []
    for i, (text_pos, _length, start) in enumerate(ordered):
        text_end = ordered[i + 1][0] - 1 if i + 1 < len(ordered) else len(text)
        word = " ".join(t.strip(_PUNCT) for t in text[text_pos - 1 : text_end].split() if t.strip(_PUNCT))
        if not word:
            continue
        limit = ordered[i + 1][2] if i + 1 < len(ordered) else len(audio)
        first, last = start // frame, max(start // frame + 1, limit // frame)
        loud = np.nonzero(energy[first:last] > threshold)[0]
        end = (first + int(loud[-1]) + 1) * frame if len(loud) else min(limit, start + frame)
        end = min(max(end, start + frame), len(audio))
        words.append(
            WordAlignment(
                word=word,
                start_s=round(start / ESPEAK_SAMPLE_RATE, 4),
                duration_s=round((end - start) / ESPEAK_SAMPLE_RATE, 4),
            )
        )
    return tuple(words)


_PUNCT = '.,;:!?"()«»„“”¿¡…—–-'


TTS_SCHEME = "tts://"


def tts_uri(
    text: str,
    language: str,
    variant: str = "m1",
    style: str = "neutral",
    speed_wpm: int | None = None,
    pitch: int | None = None,
    scene: Scene | None = None,
) -> str:
    """A URI that names an utterance to synthesise: ``tts://<lang>/<variant>/<style>?text=...``,
    with the prosody overrides (``speed``, ``pitch``) and the scene (``rt60``, ``rir``, ``snr``,
    ``noise``, ``offset``: :mod:`transforms.tts.scene`) when given."""
    from urllib.parse import quote

    uri = f"{TTS_SCHEME}{language}/{variant}/{style}?text={quote(text, safe='')}"
    params = {"speed": speed_wpm, "pitch": pitch}
    if scene is not None and scene.rt60_s is not None:
        params.update(rt60=scene.rt60_s, rir=scene.rir_seed)
    if scene is not None and scene.snr_db is not None:
        params.update(snr=scene.snr_db, noise=scene.noise, offset=scene.noise_offset)
    return uri + "".join(f"&{name}={value}" for name, value in params.items() if value is not None)


def uri_scene(uri: str) -> tuple[dict[str, int], Scene]:
    """The prosody overrides (``speed_wpm``, ``pitch``) and the scene a :func:`tts_uri` names."""
    from urllib.parse import parse_qs, urlsplit

    query = {name: values[0] for name, values in parse_qs(urlsplit(uri).query).items()}
    prosody = {key: int(query[name]) for key, name in (("speed_wpm", "speed"), ("pitch", "pitch")) if name in query}
    scene = Scene(
        rt60_s=float(query["rt60"]) if "rt60" in query else None,
        rir_seed=int(query.get("rir", 0)),
        snr_db=float(query["snr"]) if "snr" in query else None,
        noise=int(query.get("noise", 0)),
        noise_offset=int(query.get("offset", 0)),
    )
    return prosody, scene


def synthesize_uri(uri: str) -> Speech:
    """Synthesise the utterance a :func:`tts_uri` names (in its scene, when it names one)."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(uri)
    if parts.scheme != "tts":
        raise ValueError(f"not a tts:// URI: {uri!r}")
    variant, style = (parts.path.strip("/").split("/") + ["", ""])[:2]
    text = parse_qs(parts.query).get("text", [""])[0]
    if not text.strip():
        raise ValueError(f"tts:// URI without text: {uri!r}")
    prosody, scene = uri_scene(uri)
    speech = synthesize(text, parts.netloc, variant or "m1", style or "neutral", **prosody)
    if scene.empty:
        return speech
    return replace(speech, audio=apply_scene(speech.audio, speech.sample_rate, scene))
