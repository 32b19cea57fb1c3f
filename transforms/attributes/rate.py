"""Speaking rate: phonemes per second of speech.

The phonemes are the transcript's, as espeak-ng pronounces it in the sample's language (through
``phonemizer``, the espeak-ng of ``espeakng-loader`` the project already ships: any espeak-ng
language). A language espeak-ng cannot speak falls back to words per second (the unit is
recorded). Japanese is read first: espeak-ng's ``ja`` voice speaks kana but reads each kanji as the
English words "Chinese letter" (a real JSUT sentence counted 75 phonemes for its 41), so a text
with kanji is turned into its pronunciation in katakana by MeCab's UniDic (``fugashi`` with
``unidic-lite``, the ``offline`` extra) and that is phonemized; without them such a text has no rate. The speech time runs from the first word's start to the last word's end without the
pauses between words longer than :data:`PAUSE_S`; a sample without word timings uses its voiced
time instead (5 ms frames within 35 dB of the loudest, gaps up to :data:`PAUSE_S` bridged).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PAUSE_S = 0.3
"""A gap between words at least this long is a pause, not speech."""
UNITS = ("phonemes_per_s", "words_per_s")
_ACTIVE_DB = 35.0
_FRAME_S = 0.005
_WORD_RE = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)
_ESPEAK_NAMES = {"en": "en-us", "zh": "cmn"}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class RateEstimate:
    """Units (phonemes or words) per second of speech; None when there is no transcript or speech."""

    value: float | None
    unit: str
    units: int
    speech_s: float | None
    timing: str
    """Where the speech time came from: ``words`` (word timings) or ``energy`` (voiced frames)."""


_ESPEAK_LOCK = threading.Lock()


@functools.cache
def _backend(language: str):  # phonemizer.backend.EspeakBackend, or None for a language espeak-ng lacks
    import espeakng_loader
    from phonemizer.backend import EspeakBackend
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
    known = EspeakBackend.supported_languages()
    candidates = [_ESPEAK_NAMES.get(language, language), f"{language}-{language}"]
    candidates += sorted(code for code in known if code.startswith(f"{language}-"))
    name = next((code for code in candidates if code in known), None)
    if name is None:
        return None
    return EspeakBackend(name, language_switch="remove-flags", words_mismatch="ignore")


@functools.cache
def _japanese_tagger():  # fugashi.Tagger over unidic-lite, or None when they are not installed
    try:
        import fugashi
        import unidic_lite
    except ImportError:
        return None
    return fugashi.Tagger(f'-d "{unidic_lite.DICDIR}"')


class NoReading(ValueError):
    """A text espeak-ng would misread, and no reading of it to hand (Japanese kanji without UniDic)."""


def spoken_text(text: str, language: str) -> str:
    """``text`` as espeak-ng is to read it: Japanese with kanji in its katakana pronunciation
    (UniDic's ``pron``: は as ワ, long vowels as ー), any other text as it is."""
    if language != "ja" or not _HAN.search(text):
        return text
    tagger = _japanese_tagger()
    if tagger is None:
        raise NoReading("Japanese kanji and no fugashi/unidic-lite to read them")
    return "".join(word.feature.pron or word.feature.kana or word.surface for word in tagger(text))


def count_phonemes(text: str, language: str) -> int | None:
    """The number of phonemes espeak-ng speaks for ``text`` (None: espeak-ng has no such language).
    Raises :class:`NoReading` for Japanese kanji that cannot be read (:func:`spoken_text`)."""
    from phonemizer.separator import Separator

    with _ESPEAK_LOCK:  # one espeak-ng instance per process, not thread-safe: concurrent calls garble the phonemes
        backend = _backend(language)
        if backend is None:
            return None
        text = spoken_text(text, language)
        [phones] = backend.phonemize([text], separator=Separator(phone=" ", word=" | ", syllable=""), strip=True)
    return sum(1 for phone in phones.split() if phone != "|")


def count_words(text: str) -> int:
    return len(_WORD_RE.findall(text))


def speech_time_from_words(words: Sequence) -> float | None:
    """Seconds of speech in word timings (objects with ``start_s`` and ``duration_s``), pauses left out."""
    spans = sorted((float(w.start_s), float(w.start_s) + float(w.duration_s)) for w in words)
    if not spans:
        return None
    total, (start, end) = 0.0, spans[0]
    for lo, hi in spans[1:]:
        if lo - end >= PAUSE_S:
            total += end - start
            start = lo
        end = max(end, hi)
    total += end - start
    return total if total > 0 else None


def speech_time_from_energy(audio: np.ndarray, sr: int) -> float | None:
    """Seconds of voiced audio: 5 ms frames within 35 dB of the loudest, gaps shorter than a pause bridged."""
    frame = max(1, int(_FRAME_S * sr))
    n = len(audio) // frame
    if n == 0:
        return None
    power = np.mean(np.square(np.asarray(audio[: n * frame], dtype=np.float64)).reshape(n, frame), axis=1)
    if power.max() <= 0:
        return None
    active = np.flatnonzero(power >= power.max() * 10 ** (-_ACTIVE_DB / 10))
    gaps = np.diff(active) * _FRAME_S
    bridged = np.where(gaps < PAUSE_S, gaps, _FRAME_S).sum()
    return float(bridged + _FRAME_S)


def estimate_rate(
    transcript: str | None, language: str, words: Sequence = (), audio: np.ndarray | None = None, sr: int = 0
) -> RateEstimate:
    """Phonemes (else words) per second of speech of a transcript spoken in ``audio``/``words``."""
    text = " ".join((transcript or "").split())
    try:
        phonemes = count_phonemes(text, language) if text else None
    except NoReading:
        return RateEstimate(None, "phonemes_per_s", 0, None, "words")
    unit, units = ("phonemes_per_s", phonemes) if phonemes else ("words_per_s", count_words(text))
    speech_s, timing = speech_time_from_words(words), "words"
    if speech_s is None and audio is not None and sr:
        speech_s, timing = speech_time_from_energy(audio, sr), "energy"
    value = round(units / speech_s, 3) if units and speech_s else None
    return RateEstimate(value, unit, units, None if speech_s is None else round(speech_s, 3), timing)
