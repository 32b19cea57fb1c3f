"""The espeak-ng engine, driven through ctypes in synchronous mode.

espeak-ng comes from the ``espeakng-loader`` package (library + voice data, no apt). A callback
receives the samples and the word events. :meth:`Engine.speak` seeds everything espeak-ng draws
from before it synthesises; it is only ever called in a freshly forked child of the helper
server (:mod:`transforms.tts.server`), or in-process where there is no ``fork``.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

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

MORE_VARIANTS: dict[str, str] = {
    "m2": "male",
    "m4": "male",
    "f3": "female",
    "f5": "female",
    "Denis": "male",
    "Hugo": "male",
    "Andrea": "female",
    "anika": "female",
}
"""Further variants a demo can add (``--source-option voices=...``, calibrated in the demo's
prosody table): with five voices per gender, the trainer's demo (``model.demo``) holds out a dev
*and* a test voice in every (language, gender) group. The named variants (``Denis``, ``Hugo``,
``Andrea``, ``anika``: espeak-ng's own voice files, no echo) sort before the numbered ones, so
adding them adds training voices and leaves the held-out dev and test voices as they were."""


class Engine:
    """The process-wide espeak-ng instance (initialised once, guarded by a lock)."""

    _lock = threading.Lock()
    _lib: ctypes.CDLL | None = None

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int]] = []  # (text_position, length, sample offset)
        self._callback = _CALLBACK(self._on_synth)

    def _on_synth(self, wav, num_samples, events) -> int:  # ctypes signature
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
