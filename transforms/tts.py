"""In-process speech synthesis with espeak-ng, with word timings (paper Fig. 1b: TTS(.)).

espeak-ng comes from the ``espeakng-loader`` package (library + voice data, no apt) and is
driven through ctypes in synchronous mode: a callback receives the samples and the events.
Word events give each word's start; its end is the last non-silent 5 ms frame before the
next word starts, so the timings are ground truth for segmentation tests.

espeak-ng keeps state from one utterance to the next, so utterances are synthesised through
``transforms.tts_server`` (a fork per utterance in a clean helper process): an utterance then
depends only on its text, voice and style.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass

import numpy as np

from schemas import WordAlignment

ESPEAK_SAMPLE_RATE = 22_050

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_EVENT_WORD = 1
_EVENT_MSG_TERMINATED = 6
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE, _PARAM_WORDGAP = 1, 2, 3, 4, 7
_CHARS_UTF8 = 1
_M_PERTURB = -6  # glibc mallopt parameter


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Style:
    """A speaking style, mapped to an emotion label through espeak-ng's prosody parameters."""

    emotion: str
    rate_wpm: int
    pitch: int
    pitch_range: int
    volume: int


STYLES: dict[str, Style] = {
    "neutral": Style("neutral", rate_wpm=165, pitch=50, pitch_range=50, volume=100),
    "happy": Style("happy", rate_wpm=185, pitch=72, pitch_range=90, volume=110),
    "sad": Style("sad", rate_wpm=125, pitch=32, pitch_range=15, volume=75),
    "angry": Style("angry", rate_wpm=200, pitch=58, pitch_range=75, volume=150),
}

VARIANTS: dict[str, str] = {
    "m1": "male",
    "m3": "male",
    "m7": "male",
    "f1": "female",
    "f2": "female",
    "f4": "female",
}
"""espeak-ng voice variants used for the demo speakers, with their gender."""


@dataclass(frozen=True)
class Speech:
    """Synthesised speech: float32 mono samples at ``sample_rate`` plus word timings."""

    audio: np.ndarray
    sample_rate: int
    words: tuple[WordAlignment, ...]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


class _Engine:
    """The process-wide espeak-ng instance (initialised once, guarded by a lock)."""

    _lock = threading.Lock()
    _lib: ctypes.CDLL | None = None

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int]] = []  # (text_position, length, sample offset)
        self._callback = _CALLBACK(self._on_synth)

    def _on_synth(self, wav, num_samples, events) -> int:  # noqa: ANN001 - ctypes signature
        if num_samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while events[i].type != 0:
            event = events[i]
            if event.type == _EVENT_WORD:
                offset = int(round(event.audio_position * ESPEAK_SAMPLE_RATE / 1000))
                self._events.append((event.text_position, event.length, offset))
            if event.type == _EVENT_MSG_TERMINATED:
                break
            i += 1
        return 0

    @classmethod
    def library(cls) -> ctypes.CDLL:
        if cls._lib is None:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data = espeakng_loader.get_data_path().encode()
            rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
            if rate <= 0:
                raise RuntimeError("espeak_Initialize failed (espeak-ng data missing?)")
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_Synth.argtypes = [
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_void_p,
                ctypes.c_void_p,
            ]
            cls._lib = lib
        return cls._lib

    @classmethod
    def speak(cls, text: str, voice: str, style: Style) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        # espeak-ng draws noise from libc's rand() and reads some heap memory before writing
        # it: seed rand() and have glibc fill new allocations with a fixed byte, or the
        # parent's history leaks into the waveform (only ever done in the forked child).
        libc = ctypes.CDLL(None)
        libc.srand(0)
        if hasattr(libc, "mallopt"):
            libc.mallopt(_M_PERTURB, 0x5A)
        return cls().run(text, voice, style)

    def run(self, text: str, voice: str, style: Style) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        lib = self.library()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetSynthCallback(self._callback)
        for param, value in (
            (_PARAM_RATE, style.rate_wpm),
            (_PARAM_PITCH, style.pitch),
            (_PARAM_RANGE, style.pitch_range),
            (_PARAM_VOLUME, style.volume),
            (_PARAM_WORDGAP, 0),
        ):
            lib.espeak_SetParameter(param, value, 0)
        if hasattr(lib, "espeak_ng_SetRandSeed"):  # breathy voices (f2...) draw from espeak-ng's own PRNG
            lib.espeak_ng_SetRandSeed(ctypes.c_long(0))
        encoded = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(encoded)
        err = lib.espeak_Synth(buf, len(encoded), 0, 0, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        if err != 0:
            raise RuntimeError(f"espeak_Synth failed with code {err}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        return audio, self._events


def available_languages() -> list[str]:
    """Language codes of the espeak-ng voices shipped with espeakng-loader."""
    from pathlib import Path

    import espeakng_loader

    root = Path(espeakng_loader.get_data_path()) / "lang"
    return sorted({p.name for p in root.rglob("*") if p.is_file()})


def synthesize(text: str, language: str, variant: str = "m1", style: str = "neutral") -> Speech:
    """Speak ``text`` in ``language`` with a voice variant and speaking style.

    Returns float32 samples at 22.05 kHz and one :class:`WordAlignment` per spoken word
    (the word as written in ``text``, its start and its duration until its sound ends).
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {sorted(STYLES)}")
    voice = f"{language}+{variant}" if variant else language
    if hasattr(os, "fork"):
        from transforms.tts_server import SynthesisClient

        raw, events = SynthesisClient.call((text, voice, STYLES[style]))
    else:  # no fork (Windows): in-process, deterministic only for the same process history
        with _Engine._lock:
            raw, events = _Engine.speak(text, voice, STYLES[style])
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


def tts_uri(text: str, language: str, variant: str = "m1", style: str = "neutral") -> str:
    """A URI that names an utterance to synthesise: ``tts://<lang>/<variant>/<style>?text=...``."""
    from urllib.parse import quote

    return f"{TTS_SCHEME}{language}/{variant}/{style}?text={quote(text, safe='')}"


def synthesize_uri(uri: str) -> Speech:
    """Synthesise the utterance a :func:`tts_uri` names."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(uri)
    if parts.scheme != "tts":
        raise ValueError(f"not a tts:// URI: {uri!r}")
    variant, style = (parts.path.strip("/").split("/") + ["", ""])[:2]
    text = parse_qs(parts.query).get("text", [""])[0]
    if not text.strip():
        raise ValueError(f"tts:// URI without text: {uri!r}")
    return synthesize(text, parts.netloc, variant or "m1", style or "neutral")
