"""Words from numbers: each measured attribute binned into a few levels, with documented edges.

A level is a canonical label (``"fast"``); its English words for the caption templates are in
:data:`ENGLISH` and every lexicon language's in ``transforms/data/lexicon.json`` (the categories
of :data:`CATEGORIES`). The edges (a value equal to an edge falls in the upper level):

- **speaking rate** (phonemes/s; words/s when espeak-ng lacks the language): the edges of
  :data:`RATE_EDGES` scaled by the language's reference rate over 13 phonemes/s. The references
  (:data:`RATE_REFERENCE`) are espeak-ng's own rate at 175 words/min in that language, measured
  on the demo sentences: a stand-in for a language's typical rate until it is measured on people.
- **pitch**: the median F0 in semitones from a reference per gender (:data:`PITCH_REFERENCE_HZ`:
  male 120 Hz, female 210 Hz, unknown 165 Hz), edges :data:`PITCH_EDGES_ST`.
- **expressiveness**: the F0 spread in semitones (:data:`SPREAD_EDGES_ST`): monotone, -, expressive.
- **noise**: SNR in dB (:data:`SNR_EDGES_DB`), very noisy .. clean.
- **reverberation**: RT60 in s (:data:`RT60_EDGES_S`), close-sounding .. distant-sounding.
- **speech quality**: DNSMOS OVRL (:data:`OVRL_EDGES`), poor .. good.

In the other lexicon languages each level has one word, in the form the ``attribute`` templates
need (pitch and expressiveness agree with the word for "voice", noise, room and quality with the
word for "recording"); a moderate spread says nothing in any language. :func:`translation_check`
holds a translated caption to those words.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

RATE_LEVELS = ("very_slow", "slow", "moderate", "fast", "very_fast")
RATE_EDGES = (8.0, 11.0, 15.5, 19.5)
"""phonemes/s at the reference rate of 13 phonemes/s."""
RATE_EDGES_WORDS = (1.3, 1.9, 2.7, 3.4)
"""words/s, for languages espeak-ng cannot phonemize."""
RATE_REFERENCE = {
    "en": 12.7, "fr": 14.0, "es": 14.5, "de": 13.9, "it": 14.3, "ca": 13.4, "pt": 13.4, "nl": 13.5,
    "sv": 12.1, "pl": 11.1, "ru": 14.4, "uk": 12.1, "cs": 12.1, "tr": 12.4, "fa": 10.7, "id": 12.5,
}  # fmt: skip
RATE_REFERENCE_DEFAULT = 13.0
PITCH_LEVELS = ("very_low", "low", "moderate", "high", "very_high")
PITCH_EDGES_ST = (-6.0, -2.0, 2.0, 6.0)
PITCH_REFERENCE_HZ = {"male": 120.0, "female": 210.0, "unknown": 165.0}
SPREAD_LEVELS = ("monotone", "moderate", "expressive")
SPREAD_EDGES_ST = (1.0, 3.0)
SNR_LEVELS = ("very_noisy", "noisy", "slightly_noisy", "clean")
SNR_EDGES_DB = (5.0, 15.0, 25.0)
RT60_LEVELS = ("close", "slightly_reverberant", "distant")
RT60_EDGES_S = (0.3, 0.5)
OVRL_LEVELS = ("poor", "fair", "good")
OVRL_EDGES = (2.0, 2.7)

CATEGORIES = {
    "rate": "speaking_rate",
    "pitch": "pitch_level",
    "expressiveness": "expressiveness",
    "noise": "noise_level",
    "reverberation": "reverberation",
    "quality": "speech_quality",
}
"""The attribute words' keys in ``original_data.attributes.words`` -> their lexicon categories."""
LEVELS = {
    "rate": RATE_LEVELS,
    "pitch": PITCH_LEVELS,
    "expressiveness": SPREAD_LEVELS,
    "noise": SNR_LEVELS,
    "reverberation": RT60_LEVELS,
    "quality": OVRL_LEVELS,
}
ENGLISH = {
    "rate": {"very_slow": "very slowly", "slow": "slowly", "moderate": "at a moderate pace",
             "fast": "quickly", "very_fast": "very quickly"},
    "pitch": {"very_low": "very low-pitched", "low": "low-pitched", "moderate": "medium-pitched",
              "high": "high-pitched", "very_high": "very high-pitched"},
    "expressiveness": {"monotone": "monotone", "moderate": "", "expressive": "expressive"},
    "noise": {"very_noisy": "very noisy", "noisy": "noisy", "slightly_noisy": "slightly noisy", "clean": "clean"},
    "reverberation": {"close": "close-sounding", "slightly_reverberant": "slightly reverberant",
                      "distant": "distant-sounding"},
    "quality": {"poor": "of poor quality", "fair": "of fair quality", "good": "of good quality"},
}  # fmt: skip
"""The English words of each level ("" says nothing: a moderate spread is not worth a word)."""
OPPOSITES = {
    "rate": (("very_slow", "slow"), ("fast", "very_fast")),
    "pitch": (("very_low", "low"), ("high", "very_high")),
    "expressiveness": (("monotone",), ("expressive",)),
    "noise": (("very_noisy", "noisy"), ("clean",)),
    "reverberation": (("close",), ("distant",)),
    "quality": (("poor",), ("good",)),
}
"""The two ends of each scale: a caption that says a word of one end contradicts a sample at the other."""
SCALE_WORDS = {
    "rate": (("slow", "slowly", "unhurried", "leisurely"), ("quick", "quickly", "fast", "rapid", "rapidly", "hurried")),
    "pitch": (("low-pitched", "deep"), ("high-pitched", "shrill")),
    "expressiveness": (("monotone", "monotonous", "flat"), ("expressive", "animated", "lively")),
    "noise": (("noisy",), ("clean", "noiseless")),
    "reverberation": (("close-sounding", "dry"), ("distant", "distant-sounding", "reverberant", "echoing", "echoey")),
    "quality": (("poor", "bad"), ("good", "excellent")),
}  # fmt: skip
"""English words that place a caption at the low or high end of each scale (the fidelity check's vocabulary)."""


def contradicted(said: dict[str, str], text_words: list[str]) -> str | None:
    """The first attribute whose level ``text_words`` (lower-cased words, hyphens kept) contradicts."""
    present = set(text_words) | {f"{a}-{b}" for a, b in zip(text_words, text_words[1:])}
    for key, value in said.items():
        ends = OPPOSITES.get(key)
        if not ends:
            continue
        for side, other in ((0, 1), (1, 0)):
            if value in ends[side] and present & set(SCALE_WORDS[key][other]):
                return key
    return None


def level(value: float | None, edges: tuple[float, ...], levels: tuple[str, ...]) -> str | None:
    """The level a value falls in (an edge belongs to the upper level); None for no value."""
    if value is None:
        return None
    return levels[int(np.searchsorted(edges, value, side="right"))]


def rate_level(value: float | None, unit: str, language: str) -> str | None:
    if unit == "words_per_s":
        return level(value, RATE_EDGES_WORDS, RATE_LEVELS)
    scale = RATE_REFERENCE.get(language, RATE_REFERENCE_DEFAULT) / RATE_REFERENCE_DEFAULT
    return level(value, tuple(edge * scale for edge in RATE_EDGES), RATE_LEVELS)


def pitch_level(median_hz: float | None, gender: str) -> str | None:
    if median_hz is None:
        return None
    reference = PITCH_REFERENCE_HZ.get(gender, PITCH_REFERENCE_HZ["unknown"])
    return level(12.0 * float(np.log2(median_hz / reference)), PITCH_EDGES_ST, PITCH_LEVELS)


def spread_level(spread_semitones: float | None) -> str | None:
    return level(spread_semitones, SPREAD_EDGES_ST, SPREAD_LEVELS)


def noise_level(snr_db: float | None) -> str | None:
    return level(snr_db, SNR_EDGES_DB, SNR_LEVELS)


def reverberation_level(rt60_s: float | None) -> str | None:
    return level(rt60_s, RT60_EDGES_S, RT60_LEVELS)


def quality_level(ovrl: float | None) -> str | None:
    return level(ovrl, OVRL_EDGES, OVRL_LEVELS)


def tags(words: dict[str, str]) -> list[str]:
    """The sample's tags for its attribute levels: ``speaking_rate:fast``, ``pitch_level:high``, ..."""
    return [f"{CATEGORIES[key]}:{value}" for key, value in words.items() if key in CATEGORIES and value]


# -- the words in the lexicon's languages ---------------------------------------------------------

LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "lexicon.json"
UNSPACED_LANGUAGES = ("ja", "zh")
"""Languages written without spaces between words: a word is found as a substring."""


@functools.lru_cache(maxsize=1)
def _lexicon_languages() -> dict[str, Any]:
    return json.loads(LEXICON_PATH.read_text(encoding="utf-8"))["languages"]


def lexicon_word(key: str, value: str, language: str) -> str:
    """The word of attribute ``key`` at level ``value`` in ``language`` ("" when it says nothing)."""
    entry = _lexicon_languages().get(language)
    category = CATEGORIES.get(key)
    if entry is None or category is None:
        return ""
    return entry["labels"].get(category, {}).get(value, "")


def _stem(token: str) -> str:
    return token[:-2] if len(token) >= 6 else token  # lets an inflected form match: "rapide" ~ "rapides"


def says(phrase: str, text: str, language: str) -> bool:
    """Whether ``text`` says ``phrase`` (every word of it, inflected or not; a substring without spaces)."""
    if language in UNSPACED_LANGUAGES:
        return "".join(phrase.split()) in "".join(text.split())
    tokens = re.findall(r"\w+", text.lower())
    return all(any(t.startswith(_stem(p)) for t in tokens) for p in re.findall(r"\w+", phrase.lower()))


def translation_check(said: dict[str, str], text: str, language: str) -> str:
    """``"ok"``, ``"attribute_contradicted"`` (``text`` says a level at the other end of a scale, in
    the lexicon's words of ``language``) or ``"attribute_dropped"`` (a level's word is missing)."""
    for key, value in said.items():
        ends = OPPOSITES.get(key, ())
        other = next((ends[1 - side] for side in (0, 1) if ends and value in ends[side]), ())
        if any(says(word, text, language) for level in other if (word := lexicon_word(key, level, language))):
            return "attribute_contradicted"
    for key, value in said.items():
        word = lexicon_word(key, value, language)
        if word and not says(word, text, language):
            return "attribute_dropped"
    return "ok"
