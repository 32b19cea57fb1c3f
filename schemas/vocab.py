"""Label vocabularies shared by every stage: emotion, gender, age group, language codes.

Adapters map their dataset's own labels onto these (``normalize_*``); descriptions and
zero-shot prompts are built from them. Languages are keyed by ISO 639-1 where one exists,
with the ISO 639-3 code and English name alongside (paper Table VII / VIII use both).
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
    "excited",
    "sarcastic",
    "sleepy",
    "bored",
)
"""Canonical emotion labels (union of CREMA-D, RAVDESS, EmoV-DB, EMNS, EmoDB label sets).

New labels go at the end: a label's position may be a class index somewhere downstream."""

_EMOTION_ALIASES: dict[str, str] = {
    "neu": "neutral",
    "neutrality": "neutral",
    "amused": "happy",
    "amusement": "happy",
    "happiness": "happy",
    "joy": "happy",
    "hap": "happy",
    "sadness": "sad",
    "anger": "angry",
    "ang": "angry",
    "fear": "fearful",
    "fea": "fearful",
    "disgust": "disgusted",
    "dis": "disgusted",
    "surprise": "surprised",
    "sur": "surprised",
    "excitement": "excited",
    "sleepiness": "sleepy",
    "boredom": "bored",
    "boring": "bored",
}

GENDERS: tuple[str, ...] = ("male", "female", "unknown")
_GENDER_ALIASES: dict[str, str] = {
    "m": "male",
    "man": "male",
    "men": "male",
    "boy": "male",
    "f": "female",
    "w": "female",
    "woman": "female",
    "women": "female",
    "girl": "female",
    "male_masculine": "male",
    "female_feminine": "female",
    "mal": "male",
    "fem": "female",
    "": "unknown",
    "other": "unknown",
    "u": "unknown",
    "none": "unknown",
}

AGE_GROUPS: tuple[str, ...] = ("child", "teen", "twenties", "thirties", "forties", "fifties", "senior")
_AGE_ALIASES: dict[str, str] = {
    "teens": "teen",
    "sixties": "senior",
    "seventies": "senior",
    "eighties": "senior",
    "nineties": "senior",
}

# ISO 639-1 -> (ISO 639-3, English name). The paper's top languages first; espeak-ng
# demo voices and Common Voice locales cover the rest.
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("eng", "English"),
    "ca": ("cat", "Catalan"),
    "rw": ("kin", "Kinyarwanda"),
    "de": ("deu", "German"),
    "fr": ("fra", "French"),
    "es": ("spa", "Spanish"),
    "it": ("ita", "Italian"),
    "pl": ("pol", "Polish"),
    "ru": ("rus", "Russian"),
    "fa": ("fas", "Persian"),
    "nl": ("nld", "Dutch"),
    "pt": ("por", "Portuguese"),
    "eu": ("eus", "Basque"),
    "be": ("bel", "Belarusian"),
    "eo": ("epo", "Esperanto"),
    "ar": ("ara", "Arabic"),
    "br": ("bre", "Breton"),
    "cy": ("cym", "Welsh"),
    "dv": ("div", "Divehi"),
    "el": ("ell", "Greek"),
    "et": ("est", "Estonian"),
    "fy": ("fry", "Western Frisian"),
    "ga": ("gle", "Irish"),
    "gn": ("grn", "Guarani"),
    "id": ("ind", "Indonesian"),
    "ka": ("kat", "Georgian"),
    "ky": ("kir", "Kyrgyz"),
    "lt": ("lit", "Lithuanian"),
    "lv": ("lav", "Latvian"),
    "mn": ("mon", "Mongolian"),
    "mt": ("mlt", "Maltese"),
    "or": ("ori", "Odia"),
    "rm": ("roh", "Romansh"),
    "sah": ("sah", "Sakha"),
    "sl": ("slv", "Slovenian"),
    "sv": ("swe", "Swedish"),
    "ta": ("tam", "Tamil"),
    "tr": ("tur", "Turkish"),
    "tt": ("tat", "Tatar"),
    "uk": ("ukr", "Ukrainian"),
    "vi": ("vie", "Vietnamese"),
    "zh": ("zho", "Chinese"),
    "ja": ("jpn", "Japanese"),
    "ko": ("kor", "Korean"),
    "hi": ("hin", "Hindi"),
    "cs": ("ces", "Czech"),
    "hu": ("hun", "Hungarian"),
    "fi": ("fin", "Finnish"),
    "da": ("dan", "Danish"),
    "no": ("nor", "Norwegian"),
    "ro": ("ron", "Romanian"),
    "bg": ("bul", "Bulgarian"),
    "hr": ("hrv", "Croatian"),
    "sk": ("slk", "Slovak"),
    "sr": ("srp", "Serbian"),
    "th": ("tha", "Thai"),
    "sw": ("swa", "Swahili"),
    "ms": ("msa", "Malay"),
    "af": ("afr", "Afrikaans"),
    "is": ("isl", "Icelandic"),
    "hy": ("hye", "Armenian"),
    "az": ("aze", "Azerbaijani"),
    "kk": ("kaz", "Kazakh"),
    "ur": ("urd", "Urdu"),
    "bn": ("ben", "Bengali"),
    "mr": ("mar", "Marathi"),
    "te": ("tel", "Telugu"),
    "pa": ("pan", "Punjabi"),
    "he": ("heb", "Hebrew"),
    "la": ("lat", "Latin"),
}
UNKNOWN_LANGUAGE = "und"  # ISO 639-2/3 code for "undetermined"

_ISO3_TO_1 = {iso3: iso1 for iso1, (iso3, _) in LANGUAGES.items()}
_NAME_TO_1 = {name.lower(): iso1 for iso1, (_, name) in LANGUAGES.items()}


def normalize_emotion(label: str | None) -> str | None:
    """Map a dataset's emotion label onto :data:`EMOTIONS`; ``None`` when unknown/absent."""
    if label is None:
        return None
    key = str(label).strip().lower()
    if key in EMOTIONS:
        return key
    return _EMOTION_ALIASES.get(key)


def normalize_gender(label: str | None) -> str:
    """Map a dataset's gender label onto :data:`GENDERS` (anything unrecognised is ``unknown``)."""
    key = "" if label is None else str(label).strip().lower()
    if key in GENDERS:
        return key
    return _GENDER_ALIASES.get(key, "unknown")


def normalize_age_group(label: str | int | None) -> str | None:
    """Map an age in years or a Common Voice style age bucket onto :data:`AGE_GROUPS`."""
    if label is None or label == "":
        return None
    if isinstance(label, int) or str(label).strip().isdigit():
        years = int(label)
        if years < 13:
            return "child"
        if years < 20:
            return "teen"
        if years >= 60:
            return "senior"
        return AGE_GROUPS[2 + (years - 20) // 10]
    key = str(label).strip().lower()
    if key in AGE_GROUPS:
        return key
    return _AGE_ALIASES.get(key)


def normalize_language(code: str | None) -> str:
    """Return the ISO 639-1 code (or the 639-3 code when no 639-1 exists) for a language.

    Accepts 639-1, 639-3, English names and locale tags (``fr-FR``, ``pt_BR`` keep their
    primary subtag). Unknown input gives ``"und"``.
    """
    if not code:
        return UNKNOWN_LANGUAGE
    key = str(code).strip().replace("_", "-").split("-")[0].lower()
    if key in LANGUAGES:
        return key
    if key in _ISO3_TO_1:
        return _ISO3_TO_1[key]
    if key in _NAME_TO_1:
        return _NAME_TO_1[key]
    if len(key) in (2, 3) and key.isalpha():
        return key  # a valid-looking code we have no name for: keep it rather than lose it
    return UNKNOWN_LANGUAGE


def language_name(code: str) -> str:
    """English name of a language code (the code itself when unknown)."""
    return LANGUAGES.get(normalize_language(code), (code, code))[1]


def iso639_3(code: str) -> str:
    """ISO 639-3 code for a language code."""
    iso1 = normalize_language(code)
    return LANGUAGES.get(iso1, (iso1, iso1))[0]
