"""Multilingual captions: label translation and caption translation (paper §III-A2 and Appendix C).

The paper overlays translated labels and captions on mono-lingual audio to synthesise multilingual
pairs. Two routes, both adding captions of origin ``translation`` with their language:

- **Offline lexicon** (always available): ``transforms/data/lexicon.json`` holds the label
  vocabularies (emotions, genders, age groups, ESC-50 and UrbanSound8K classes, the generated noise
  labels) in 20 languages, each with templates shaped for that language, so "A man talking in a
  happy voice" becomes "Un homme parle d'une voix joyeuse" or "Mężczyzna mówi radosnym głosem".
  The caption is built from the sample's structured facts (gender, emotion, sound labels, the
  background noise of an augmented copy), not from English text. A sample with measured
  attributes (``transforms.attributes``) gets a second caption per language from the lexicon's
  ``attribute`` templates and level words ("Une femme parle rapidement d'une voix aiguë, l'enregistrement
  est propre"), recorded as ``translation[lang]["attributes"]``.
- **LLM** (when ``--llm-url`` is set): the sample's first template caption goes through the
  versioned ``translate_v2`` prompt (the quoted transcript handed over as a constant to keep); an
  answer that fails validation (``transforms.fidelity``: form, the transcript verbatim inside its
  quotes and no other quoted speech, no digit the input lacks) falls back to the lexicon and the
  reason is recorded in ``original_data["translation"]`` and counted (``translation_rejected/<check>``).
  With ``translate_transcript=True`` the quoted speech may be translated too; the record then says
  ``"transcript": "translated"`` (else ``"verbatim"``). The attribute caption is translated by the
  LLM too, and the answer must say each level in the lexicon's words of its language and no word
  of a level at the other end (``attribute_dropped`` / ``attribute_contradicted``), else the
  lexicon's caption stands.

``--translation-mode add`` (default) appends the translations to the sample's ``text`` list (no
duplicated audio); ``duplicate`` writes one extra sample per language instead, as the paper did,
keyed with ``augment_index + 100·(i+1)`` so it never collides with an augmented copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from apache_beam.metrics import Metrics

from schemas import Caption, Failure
from schemas.settings import setting
from schemas.vocab import language_name, normalize_emotion, normalize_gender
from transforms.attributes.words import lexicon_word
from transforms.describe import attribute_caption, sample_attribute_caption
from transforms.diarize.gender import caption_gender
from transforms.fidelity import Facts, count_outcome, transcript_verbatim, validate_answer
from transforms.llm import ChatClient, LLMConfig, LLMError, load_prompt, render
from transforms.stage import Sample, Stage, StageSpec

LEXICON_PATH = Path(__file__).parent / "data" / "lexicon.json"
TRANSLATE_PROMPT = "translate_v2"
DUPLICATE_INDEX_STEP = 100
MODES: tuple[str, ...] = ("add", "duplicate")
SOUND_CATEGORIES: tuple[str, ...] = ("esc50", "urbansound8k", "noise")


def _canonical(label: str) -> str:
    return "_".join(str(label).strip().lower().replace("-", " ").split())


@lru_cache(maxsize=1)
def load_lexicon(path: str = str(LEXICON_PATH)) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def lexicon_languages() -> tuple[str, ...]:
    """The languages the shipped lexicon covers."""
    return tuple(load_lexicon()["languages"])


def translate_label(category: str, label: str, language: str) -> str | None:
    """A canonical label of ``category`` in ``language`` (``None`` when the lexicon lacks it)."""
    entry = load_lexicon()["languages"].get(language)
    if entry is None:
        return None
    table = entry["labels"].get(category, {})
    wanted = _canonical(label)
    return next((value for term, value in table.items() if _canonical(term) == wanted), None)


def translate_sound(label: str, language: str) -> str | None:
    """A sound-event or noise label (ESC-50, UrbanSound8K, generated noise) in ``language``."""
    for category in SOUND_CATEGORIES:
        value = translate_label(category, label, language)
        if value is not None:
            return value
    return None


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def lexicon_caption(
    language: str,
    *,
    transcript: str | None = None,
    gender: str | None = None,
    emotion: str | None = None,
    sound: str | None = None,
    noise: str | None = None,
) -> str | None:
    """A caption in ``language`` from structured facts, or ``None`` when the lexicon can't say it.

    Speech with a background noise → "mixed" template (the transcript quoted verbatim); speech →
    "speech" (gender + emotion); a sound event → "sound" / "sound_mixed".
    """
    entry = load_lexicon()["languages"].get(language)
    if entry is None:
        return None
    templates = entry["templates"]
    noise_text = translate_sound(noise, language) if noise else None
    if transcript:
        if noise_text:
            quoted = f"'{' '.join(transcript.split())}'"
            return _capitalise(templates["mixed"].replace("{transcript}", quoted).replace("{noise}", noise_text))
        who = translate_label("gender", normalize_gender(gender), language)
        feeling = translate_label("emotion", emotion, language) if normalize_emotion(emotion) else None
        if feeling:
            return _capitalise(templates["speech"].replace("{gender}", who).replace("{emotion}", feeling))
        return _capitalise(templates["speech_neutral"].replace("{gender}", who))
    sound_text = translate_sound(sound, language) if sound else None
    if sound_text is None:
        return None
    if noise_text:
        return _capitalise(templates["sound_mixed"].replace("{sound}", sound_text).replace("{noise}", noise_text))
    return _capitalise(templates["sound"].replace("{sound}", sound_text))


def lexicon_attribute_caption(
    language: str, said: dict[str, str], gender: str | None = None, emotion: str | None = None
) -> str | None:
    """The measured attributes' caption in ``language`` from the lexicon's ``attribute`` templates
    and level words (``None`` when the lexicon lacks the language or no level has a word)."""
    entry = load_lexicon()["languages"].get(language)
    if entry is None:
        return None
    if language == "en":  # the describe template itself (its articles: "an expressive voice")
        return attribute_caption(said, normalize_gender(gender), normalize_emotion(emotion))
    templates = entry["templates"]

    def listed(keys: tuple[str, ...], extra: str | None = None) -> str:
        found = [w for key in keys if (w := lexicon_word(key, said.get(key, ""), language))]
        found += [extra] if extra else []
        if len(found) < 2:
            return "".join(found)
        return templates["attribute_separator"].join(found[:-1]) + templates["attribute_and"] + found[-1]

    feeling = translate_label("emotion", emotion, language) if emotion and normalize_emotion(emotion) else None
    voice = listed(("pitch", "expressiveness"), feeling if emotion != "neutral" else None)
    recording = listed(("noise", "reverberation", "quality"))
    rate = lexicon_word("rate", said.get("rate", ""), language)
    if not (voice or recording or rate):
        return None
    text = (
        templates["attribute"]
        .replace("{gender}", translate_label("gender", normalize_gender(gender), language) or "")
        .replace("{rate}", rate)
        .replace("{voice}", templates["attribute_voice"].replace("{words}", voice) if voice else "")
        .replace("{recording}", templates["attribute_recording"].replace("{words}", recording) if recording else "")
    )
    return _capitalise(" ".join(text.split()).replace(" ;", ";").replace(" ,", ","))


def sample_facts(sample: Sample) -> dict[str, str | None]:
    """The structured facts a lexicon caption is built from."""
    item = sample.item
    noise = next((a.params.get("noise_label") for a in sample.augmentations if a.name == "noise"), None)
    sound = next((label for label in (*item.labels, *sample.tags) if translate_sound(label, "en")), None)
    return {
        "transcript": sample.transcript,
        "gender": item.gender,
        "emotion": normalize_emotion(item.emotion),
        "sound": sound,
        "noise": noise,
    }


def parse_languages(spec: str | None) -> tuple[str, ...]:
    """``"fr,de"`` → ("fr", "de"); ``"lexicon"``/``"all"`` → every lexicon language; ``""`` → ()."""
    if not spec or spec.strip().lower() == "none":
        return ()
    if spec.strip().lower() in ("all", "lexicon"):
        return tuple(code for code in lexicon_languages() if code != "en")
    return tuple(dict.fromkeys(code.strip() for code in spec.split(",") if code.strip()))


@dataclass(frozen=True)
class TranslateSettings:
    """Multilingual captions (paper §III-A2, Appendix C): the label lexicon offline, the LLM when configured."""

    languages: tuple[str, ...] = setting(
        (),
        "target languages (fr,de,...), or 'lexicon' for all the lexicon's",
        shapes_output=True,
        flag="--translate-to",
        parse=lambda text: parse_languages(text),
        metavar="LANGS",
    )
    mode: str = setting(
        "add",
        "add: translations join the sample's text; duplicate: one extra sample per language",
        shapes_output=True,
        flag="--translation-mode",
        choices=MODES,
    )
    translate_transcript: bool = setting(
        False, "accept LLM translations that translate the quoted speech too", shapes_output=True
    )


class TranslateStage(Stage):
    """In-shard stage adding a caption per target language (lexicon offline, LLM when configured)."""

    name = "translate"

    def __init__(
        self,
        languages: tuple[str, ...],
        mode: str = TranslateSettings.mode,
        llm: LLMConfig | None = None,
        translate_transcript: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown translation mode {mode!r}; expected one of {MODES}")
        self.languages = tuple(languages)
        self.mode = mode
        self.llm = llm if llm is not None and llm.url else None
        self.translate_transcript = translate_transcript
        """Accept an LLM translation that translates the quoted speech too (recorded as such);
        by default the transcript must stay verbatim inside its quotes."""
        self.client: ChatClient | None = None

    def setup(self) -> None:
        if self.llm is not None and self.client is None:
            self.client = ChatClient(self.llm)

    def process(self, samples: list[Sample]) -> tuple[list[Sample], list[Failure]]:
        if not self.languages:
            return list(samples), []
        self.setup()
        jobs = [(i, lang) for i, s in enumerate(samples) for lang in self.languages if self._wanted(s, lang)]
        requests = [(samples[i], lang, self._source(samples[i])) for i, lang in jobs]
        requests += [(samples[i], lang, measured_caption(samples[i])) for i, lang in jobs]
        answers = self._ask_llm(requests)
        found: dict[int, list[tuple[str, list[Caption], dict[str, Any]]]] = {}
        for (i, lang), answer, measured in zip(jobs, answers[: len(jobs)], answers[len(jobs) :], strict=True):
            result = self._translate(samples[i], lang, answer)
            attributes = self._translate_attributes(samples[i], lang, measured)
            captions = [r[0] for r in (result, attributes) if r is not None]
            record = {**(result[1] if result else {}), **({"attributes": attributes[1]} if attributes else {})}
            if captions:
                found.setdefault(i, []).append((lang, captions, record))
        out: list[Sample] = []
        for i, sample in enumerate(samples):
            out.extend(self._emit(sample, found.get(i, [])))
        return out, []

    def _wanted(self, sample: Sample, language: str) -> bool:
        return not any(c.language == language for c in sample.captions)

    def _source(self, sample: Sample) -> Caption | None:
        return next((c for c in sample.captions if c.origin == "template"), None)

    def _ask_llm(self, requests: list[tuple[Sample, str, Caption | None]]) -> list[str | LLMError | None]:
        """One answer per (sample, language, caption to translate); None where there is no caption or no LLM."""
        if self.client is None:
            return [None] * len(requests)
        prompt = load_prompt(TRANSLATE_PROMPT)
        chats, index = [], []
        for k, (sample, lang, source) in enumerate(requests):
            if source is not None:
                spoken = _quoted(sample, source)
                chats.append(
                    render(
                        prompt,
                        language=language_name(lang),
                        caption=source.text,
                        transcript=f'"{" ".join(spoken.split())}"' if spoken else "none",
                    )
                )
                index.append(k)
        answers: list[str | LLMError | None] = [None] * len(requests)
        for k, answer in zip(index, self.client.complete_many(chats), strict=True):
            answers[k] = answer
        return answers

    def _translate_attributes(
        self, sample: Sample, language: str, answer: str | LLMError | None
    ) -> tuple[Caption, dict[str, Any]] | None:
        """The attribute caption in ``language``: the LLM's when it says every level in the lexicon's
        words and none of the other end, else the lexicon's; None for a sample without one."""
        source = measured_caption(sample)
        if source is None:
            return None
        said = dict((sample.original_data.get("attributes") or {}).get("words") or {})
        record: dict[str, Any] = {}
        if answer is not None:
            facts = Facts(source=source.text, attributes=tuple(sorted(said.items())), language=language)
            text, reason = (
                (None, answer.reason)
                if isinstance(answer, LLMError)
                else validate_answer(answer, facts, english=language == "en", min_chars=2)
            )
            count_outcome("translation", reason)
            if text is not None:
                return Caption(text=text, language=language, origin="translation"), {"method": "llm"}
            record = {"llm_fallback": reason}
        gender = caption_gender(sample.item.gender, sample.original_data.get("diarization"))
        text = lexicon_attribute_caption(language, said, gender, sample.item.emotion)
        if text is None:
            return None
        return Caption(text=text, language=language, origin="translation"), {"method": "lexicon", **record}

    def _translate(
        self, sample: Sample, language: str, answer: str | LLMError | None
    ) -> tuple[Caption, dict[str, Any]] | None:
        record: dict[str, Any] = {}
        if answer is not None:
            source = self._source(sample)
            assert source is not None
            spoken = _quoted(sample, source)
            text, reason = (
                (None, answer.reason)
                if isinstance(answer, LLMError)
                else validate_answer(
                    answer,
                    Facts(source=source.text, transcript=spoken),
                    english=language == "en",
                    transcript_may_be_translated=self.translate_transcript,
                    min_chars=2,
                )
            )
            count_outcome("translation", reason)
            if text is not None:
                Metrics.counter("stage", f"{self.name}/llm").inc()
                record = {"method": "llm", "model": self.llm.model if self.llm else None, "prompt": TRANSLATE_PROMPT}
                if spoken:
                    record["transcript"] = "verbatim" if transcript_verbatim(text, spoken) else "translated"
                return Caption(text=text, language=language, origin="translation"), record
            record = {"llm_fallback": reason}
        text = lexicon_caption(language, **sample_facts(sample))
        if text is None:
            Metrics.counter("stage", f"{self.name}/untranslatable").inc()
            return None
        Metrics.counter("stage", f"{self.name}/lexicon").inc()
        return Caption(text=text, language=language, origin="translation"), {"method": "lexicon", **record}

    def _emit(self, sample: Sample, results: list[tuple[str, list[Caption], dict[str, Any]]]) -> list[Sample]:
        if not results:
            return [sample]
        records = {lang: record for lang, _, record in results}
        if self.mode == "add":
            translation = {**sample.original_data.get("translation", {}), **records}
            captions = [*sample.captions, *(caption for _, added, _ in results for caption in added)]
            return [
                sample.derive(captions=captions, original_data={**sample.original_data, "translation": translation})
            ]
        duplicates = [sample]
        for lang, added, record in results:
            k = self.languages.index(lang) + 1
            duplicates.append(
                sample.derive(
                    augment_index=sample.augment_index + DUPLICATE_INDEX_STEP * k,
                    captions=added,
                    original_data={**sample.original_data, "translation": {lang: record}, "translation_of": sample.key},
                )
            )
        return duplicates


def measured_caption(sample: Sample) -> Caption | None:
    """The sample's English attribute caption (the one describe made from its measured levels), if it has one."""
    text = sample_attribute_caption(sample)
    return next((c for c in sample.captions if c.origin == "template" and c.text == text), None) if text else None


def _quoted(sample: Sample, source: Caption) -> str | None:
    """The transcript when the source caption quotes it (then the translation must keep it verbatim)."""
    transcript = sample.transcript
    return transcript if transcript and f"'{' '.join(transcript.split())}'" in source.text else None


def build_translate(config: Any) -> TranslateStage | None:
    settings: TranslateSettings = config.translate
    if not settings.languages:
        return None
    return TranslateStage(settings.languages, settings.mode, config.llm.client_config(), settings.translate_transcript)


def check_translate(config: Any) -> None:
    """Languages outside the shipped lexicon need an LLM."""
    unknown = [lang for lang in config.translate.languages if lang not in lexicon_languages()]
    if unknown and not config.llm.url:
        raise ValueError(
            f"--translate-to {','.join(unknown)}: not in the shipped lexicon ({','.join(lexicon_languages())}); "
            "give --llm-url to translate with an LLM"
        )


SPEC = StageSpec(
    name="translate",
    settings=TranslateSettings,
    build=build_translate,
    order=60,
    check=check_translate,
    writes=("translation", "translation_of"),
)
