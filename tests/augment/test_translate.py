"""Label lexicon, per-language templates and the translate stage (transforms/translate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import Augmentation, Caption, SourceItem
from schemas.vocab import AGE_GROUPS, EMOTIONS, GENDERS
from tests.augment.conftest import make_sample
from tests.augment.fake_llm import FakeLLM, answer
from transforms.rewrite import LLMConfig
from transforms.translate import (
    TranslateStage,
    lexicon_caption,
    lexicon_languages,
    load_lexicon,
    parse_languages,
    translate_label,
    translate_sound,
)

PAPER_TOP = ("en", "ca", "rw", "de", "fr", "es", "it", "pl", "ru", "fa")
ATTRIBUTE = ("attribute", "attribute_voice", "attribute_recording", "attribute_separator", "attribute_and")
"""The measured attributes' templates (their words: tests/attributes/test_translate.py)."""


def test_lexicon_covers_at_least_20_languages_with_the_papers_top_ones() -> None:
    languages = lexicon_languages()
    assert len(languages) >= 20 and set(PAPER_TOP) <= set(languages)


def test_every_language_translates_every_vocabulary_label() -> None:
    lexicon = load_lexicon()
    assert set(lexicon["terms"]["emotion"]) == set(EMOTIONS)
    assert set(lexicon["terms"]["gender"]) == set(GENDERS)
    assert set(lexicon["terms"]["age_group"]) == set(AGE_GROUPS)
    assert len(lexicon["terms"]["esc50"]) == 50 and len(lexicon["terms"]["urbansound8k"]) == 10
    for language, entry in lexicon["languages"].items():
        for category, terms in lexicon["terms"].items():
            values = entry["labels"][category]
            assert set(values) == set(terms), (language, category)
            assert all(v.strip() for v in values.values()), (language, category)
        assert set(entry["templates"]) == {"speech", "speech_neutral", "sound", "mixed", "sound_mixed", *ATTRIBUTE}


def test_labels_are_really_translated_not_copied() -> None:
    for language in lexicon_languages():
        if language == "en":
            continue
        same = sum(translate_sound(t, language) == translate_sound(t, "en") for t in load_lexicon()["terms"]["esc50"])
        assert same <= 12, language  # loanwords (motor, helicopter, siren ...) only


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "A man talking in a happy voice"),
        ("fr", "Un homme parle d'une voix joyeuse"),
        ("de", "Ein Mann spricht mit fröhlicher Stimme"),
        ("es", "Un hombre habla con voz alegre"),
        ("pl", "Mężczyzna mówi radosnym głosem"),
        ("ru", "Мужчина говорит радостным голосом"),
    ],
)
def test_speech_template_reads_naturally(language: str, expected: str) -> None:
    assert lexicon_caption(language, transcript="hello", gender="male", emotion="happy") == expected


def test_labels_are_matched_in_any_spelling() -> None:
    assert translate_label("esc50", "Dog", "fr") == "chien qui aboie"
    assert translate_sound("dog_bark", "de") == "Hundegebell" == translate_sound("dog bark", "de")
    assert translate_sound("crowd babble", "es") == "murmullo de multitud"
    assert translate_sound("theremin", "es") is None


def test_mixed_caption_keeps_the_transcript_verbatim() -> None:
    caption = lexicon_caption("it", transcript="Buongiorno a tutti", noise="rain")
    assert caption == "Una persona dice 'Buongiorno a tutti', rumore di fondo: pioggia"


def sound_sample():
    sample = make_sample(key="esc-1-dog", transcript=None)
    sample.item = SourceItem(key="esc-1-dog", uri="x", dataset="esc50", source_id="1", labels=("dog",))
    return sample


def test_add_mode_appends_one_translation_per_language_and_records_the_method() -> None:
    out, failures = TranslateStage(("fr", "de")).process([sound_sample()])
    (sample,) = out
    assert failures == []
    added = [c for c in sample.captions if c.origin == "translation"]
    assert [(c.language, c.text) for c in added] == [("fr", "Son : chien qui aboie"), ("de", "Geräusch: Hundegebell")]
    assert sample.original_data["translation"] == {"fr": {"method": "lexicon"}, "de": {"method": "lexicon"}}


def test_duplicate_mode_writes_separate_samples_with_their_own_keys() -> None:
    original = sound_sample()
    out, _ = TranslateStage(("fr", "de"), mode="duplicate").process([original])
    assert [s.key for s in out] == ["esc-1-dog_000_0", "esc-1-dog_000_100", "esc-1-dog_000_200"]
    assert out[0].captions == original.captions
    assert [c.language for c in out[1].captions] == ["fr"] and out[1].audio is original.audio
    assert out[2].original_data["translation_of"] == "esc-1-dog_000_0"


def test_augmented_copy_translation_names_its_background_noise() -> None:
    copy = make_sample().derive(augment_index=1, augmentations=[Augmentation("noise", {"noise_label": "rain"})])
    (sample,), _ = TranslateStage(("es",)).process([copy])
    assert sample.captions[-1].text == "Una persona dice 'It's raining outside', ruido de fondo: lluvia"


def test_languages_already_present_are_skipped_and_unknown_ones_add_nothing() -> None:
    sample = sound_sample()
    (out,), _ = TranslateStage(("en", "xx")).process([sample])
    assert out.captions == sample.captions


def test_llm_translation_is_used_when_valid_and_falls_back_to_the_lexicon_otherwise(tmp_path: Path) -> None:
    sample = sound_sample()
    config = LLMConfig(url=None, cache_dir=str(tmp_path), retries=0)
    with FakeLLM(answer("Un chien aboie")) as llm:
        stage = TranslateStage(("fr",), llm=LLMConfig(**{**config.__dict__, "url": llm.url}))
        (good,), _ = stage.process([sample])
    assert good.captions[-1] == Caption("Un chien aboie", "fr", "translation")
    assert good.original_data["translation"]["fr"]["method"] == "llm"
    with FakeLLM(answer("<p>Un chien</p>")) as llm:
        stage = TranslateStage(("fr",), llm=LLMConfig(**{**config.__dict__, "url": llm.url, "model": "m2"}))
        (fallback,), _ = stage.process([sample])
    assert fallback.captions[-1].text == "Son : chien qui aboie"
    assert fallback.original_data["translation"]["fr"] == {"method": "lexicon", "llm_fallback": "markup"}


def test_settings_and_language_lists() -> None:
    from pipelines.options import config_from
    from transforms.translate import build_translate, check_translate

    assert parse_languages("fr, de,fr") == ("fr", "de") and parse_languages("") == ()
    assert "en" not in parse_languages("lexicon") and len(parse_languages("lexicon")) >= 19
    config = config_from({"translate_to": "fr,rw", "translation_mode": "duplicate"})
    stage = build_translate(config)
    assert stage.languages == ("fr", "rw") and stage.mode == "duplicate" and stage.llm is None
    check_translate(config)  # both in the shipped lexicon
    with pytest.raises(ValueError, match="--llm-url"):
        check_translate(config_from({"translate_to": "fr,sw"}))  # Swahili: only an LLM can translate it
    with pytest.raises(ValueError):
        TranslateStage(("fr",), mode="triplicate")


def quoting_sample():
    sample = make_sample()
    caption = Caption("A person saying 'It's raining outside', background rain", "en", "template")
    return sample.derive(captions=[caption, *sample.captions])


def llm_translate(reply: str, tmp_path: Path, **stage_options):
    with FakeLLM(answer(reply)) as llm:
        config = LLMConfig(url=llm.url, cache_dir=None, retries=0)
        (sample,), _ = TranslateStage(("fr",), llm=config, **stage_options).process([quoting_sample()])
    return sample, llm


def test_llm_translation_keeps_the_transcript_verbatim_and_records_it(tmp_path: Path) -> None:
    sample, llm = llm_translate("Une personne dit « It's raining outside », bruit de pluie", tmp_path)
    assert sample.captions[-1].text == "Une personne dit « It's raining outside », bruit de pluie"
    assert sample.original_data["translation"]["fr"]["transcript"] == "verbatim"
    assert llm.bodies[0]["messages"][-1]["content"].endswith('Spoken words: "It\'s raining outside"')


def test_llm_translation_that_translates_the_transcript_falls_back_unless_allowed(tmp_path: Path) -> None:
    reply = "Une personne dit « Il pleut dehors », bruit de pluie"
    sample, _ = llm_translate(reply, tmp_path)
    assert sample.original_data["translation"]["fr"] == {"method": "lexicon", "llm_fallback": "transcript_changed"}
    allowed, _ = llm_translate(reply, tmp_path, translate_transcript=True)
    assert allowed.captions[-1].text == reply
    assert allowed.original_data["translation"]["fr"]["transcript"] == "translated"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Une personne dit « It's raining outside. Il fait froid », bruit de pluie", "speech_added"),
        ("Une personne dit « It's raining outside » à 3 amis, bruit de pluie", "unsupported_number"),
    ],
)
def test_unfaithful_llm_translation_falls_back_to_the_lexicon(reply: str, reason: str, tmp_path: Path) -> None:
    sample, _ = llm_translate(reply, tmp_path)
    assert sample.original_data["translation"]["fr"] == {"method": "lexicon", "llm_fallback": reason}
    assert sample.captions[-1].text == "Une personne parle"  # the lexicon's caption
