"""The attribute words in every lexicon language, the translated attribute caption and its LLM check."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from schemas import Caption, Segment, SourceItem
from tests.augment.fake_llm import FakeLLM
from transforms.attributes import words
from transforms.describe import sample_attribute_caption
from transforms.fidelity import Facts, check_fidelity
from transforms.llm import LLMConfig
from transforms.stage import Sample
from transforms.translate import TranslateStage, lexicon_attribute_caption, lexicon_languages, load_lexicon

SAID = {"rate": "fast", "pitch": "high", "noise": "clean", "reverberation": "close"}


def _opposite(key: str, value: str) -> str:
    low, high = words.OPPOSITES[key]
    return high[0] if value in low else low[0]


def test_every_level_with_an_english_word_has_a_word_in_every_lexicon_language() -> None:
    lexicon = load_lexicon()
    assert len(lexicon_languages()) == 20
    for key, category in words.CATEGORIES.items():
        said_levels = [level for level in words.LEVELS[key] if words.ENGLISH[key][level]]
        assert lexicon["terms"][category] == said_levels, key
        for language in lexicon_languages():
            table = lexicon["languages"][language]["labels"][category]
            assert set(table) == set(said_levels) and all(v.strip() for v in table.values()), (language, key)
            assert len(set(table.values())) == len(table), (language, key)  # each level its own word
        assert {lv: words.lexicon_word(key, lv, "en") for lv in said_levels} == {
            lv: words.ENGLISH[key][lv] for lv in said_levels
        }


def test_the_attribute_words_are_translated_not_copied() -> None:
    english = {words.lexicon_word(k, lv, "en") for k in words.LEVELS for lv in words.LEVELS[k]} - {""}
    for language in lexicon_languages():
        if language != "en":
            copied = {w for k in words.LEVELS for lv in words.LEVELS[k] if (w := words.lexicon_word(k, lv, language))}
            assert len(copied & english) <= 2, (language, copied & english)  # French "monotone", "expressive"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "Une femme parle rapidement d'une voix aiguë et en colère, l'enregistrement est propre et proche"),
        ("de", "Eine Frau spricht schnell mit hoher und wütender Stimme; die Aufnahme ist sauber und nah"),
        ("pl", "Kobieta mówi szybko wysokim i gniewnym głosem; nagranie jest czyste i bliskie"),
        ("es", "Una mujer habla rápidamente con voz aguda y enfadada; la grabación es limpia y cercana"),
        ("zh", "一个女人用高亢、愤怒的声音快速地说话；录音干净、贴近"),
    ],
)
def test_the_attribute_template_reads_in_each_language(language: str, expected: str) -> None:
    assert lexicon_attribute_caption(language, SAID, "female", "angry") == expected


def test_a_missing_part_leaves_no_gap() -> None:
    assert lexicon_attribute_caption("fr", {"noise": "noisy"}, "male") == "Un homme parle, l'enregistrement est bruité"
    assert lexicon_attribute_caption("de", {"rate": "slow"}, "unknown", "neutral") == "Eine Person spricht langsam"
    assert lexicon_attribute_caption("it", {"expressiveness": "moderate"}, "male") is None  # nothing worth a word


@pytest.mark.parametrize("language", [lang for lang in load_lexicon()["languages"] if lang != "en"])
def test_each_languages_caption_passes_its_own_check_and_contradicts_the_other_end(language: str) -> None:
    for key, (low, high) in words.OPPOSITES.items():
        for value in (*low, *high):
            said = {key: value}
            caption = lexicon_attribute_caption(language, said, "female")
            assert words.translation_check(said, caption, language) == "ok", (key, value, caption)
            other = {key: _opposite(key, value)}
            assert words.translation_check(other, caption, language) == "attribute_contradicted", (key, value, caption)
    for key, value in itertools.product(("rate", "pitch"), ("moderate",)):
        caption = lexicon_attribute_caption(language, {"noise": "clean"}, "male")
        assert words.translation_check({key: value}, caption, language) == "attribute_dropped"


def test_the_translation_check_reads_only_outside_quotations() -> None:
    facts = Facts(source="A person saying 'lentement'", attributes=(("rate", "fast"),), language="fr")
    assert check_fidelity("Une personne dit « lentement » rapidement", facts, english=False) == "ok"
    assert check_fidelity("Une personne parle lentement", facts, english=False) == "attribute_contradicted"


def _sample() -> Sample:
    item = SourceItem(
        key="k", uri="/k.wav", dataset="t", source_id="k", language="en", gender="female", transcript="hello"
    )
    sample = Sample(
        item=item,
        audio=np.zeros(4800, dtype=np.float32),
        segment=Segment("k", 0, 0.0, 0.1, transcript="hello"),
        original_data={"attributes": {"words": SAID}},
    )
    text = sample_attribute_caption(sample)
    return sample.derive(captions=[Caption("A woman talking", "en", "template"), Caption(text, "en", "template")])


def test_translations_carry_the_attribute_caption_in_every_language() -> None:
    languages = tuple(lang for lang in lexicon_languages() if lang != "en")
    (out,), _ = TranslateStage(languages).process([_sample()])
    added = [c for c in out.captions if c.origin == "translation"]
    assert len(added) == 2 * len(languages)
    for language in languages:
        measured = [c.text for c in added if c.language == language][1]
        assert measured == lexicon_attribute_caption(language, SAID, "female")
        assert out.original_data["translation"][language]["attributes"] == {"method": "lexicon"}
    dup = TranslateStage(("de",), mode="duplicate").process([_sample()])[0][1]
    assert [c.text for c in dup.captions][
        1
    ] == "Eine Frau spricht schnell mit hoher Stimme; die Aufnahme ist sauber und nah"


def _by_caption(attribute_reply: str):
    def behaviour(body: dict, call: int):
        asked = body["messages"][-1]["content"]
        return 200, attribute_reply if "speaks" in asked else "Une femme parle", 0.0

    return behaviour


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("Une femme parle vite et d'une voix aiguë ; l'enregistrement est propre et proche", "attribute_dropped"),
        (
            "Une femme parle lentement d'une voix aiguë ; l'enregistrement est propre et proche",
            "attribute_contradicted",
        ),
        (
            "Une femme parle rapidement d'une voix grave ; l'enregistrement est propre et proche",
            "attribute_contradicted",
        ),
        (
            "Une femme parle rapidement d'une voix aiguë ; l'enregistrement, proche, est bruité",
            "attribute_contradicted",
        ),
        ("D'une voix aiguë, une femme parle rapidement ; enregistrement propre et proche", "ok"),
    ],
)
def test_an_llm_translation_of_the_attribute_caption_is_held_to_the_lexicon_words(reply, outcome, tmp_path) -> None:
    with FakeLLM(_by_caption(reply)) as llm:
        config = LLMConfig(url=llm.url, cache_dir=str(tmp_path), retries=0)
        (out,), _ = TranslateStage(("fr",), llm=config).process([_sample()])
    record = out.original_data["translation"]["fr"]
    texts = [c.text for c in out.captions if c.language == "fr"]
    if outcome == "ok":
        assert record["attributes"] == {"method": "llm"} and texts[1] == reply
    else:
        assert record["attributes"] == {"method": "lexicon", "llm_fallback": outcome}
        assert texts[1] == lexicon_attribute_caption("fr", SAID, "female")
    assert record["method"] == "llm" and texts[0] == "Une femme parle"
