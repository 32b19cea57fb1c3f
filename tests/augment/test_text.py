"""Caption combination t̂ = f(p^t + t_i + t_j) (augment/text.py)."""

from __future__ import annotations

import pytest

from augment.text import SPEECH_TEMPLATES, combine_caption


def test_combined_caption_holds_the_transcript_verbatim_and_the_noise_label() -> None:
    caption = combine_caption("k1", "It's raining outside", None, "wind noise")
    assert "'It's raining outside'" in caption and "wind noise" in caption


def test_paper_example_template_gives_the_papers_sentence() -> None:
    keys = [f"key{i}" for i in range(50)]
    captions = {combine_caption(k, "It's raining outside", None, "wind noise") for k in keys}
    assert "A person saying 'It's raining outside', background wind noise" in captions


def test_template_choice_is_deterministic_by_key_and_varies_across_keys() -> None:
    assert combine_caption("abc", "hello", None, "rain") == combine_caption("abc", "hello", None, "rain")
    captions = {combine_caption(f"k{i}", "hello", None, "rain") for i in range(60)}
    assert len(captions) == len(SPEECH_TEMPLATES)


def test_sound_event_without_transcript_uses_its_description() -> None:
    caption = combine_caption("k", None, "A dog barking.", "rain")
    assert caption.startswith("A dog barking") and "rain" in caption and ".," not in caption


def test_effects_add_phrases_and_quiet_gain_is_said_but_small_gain_is_not() -> None:
    caption = combine_caption("k", "hi", None, "rain", [("reverb", {"rt60_s": 0.5}), ("gain", {"gain_db": -15.0})])
    assert caption.endswith("in a reverberant room, recorded quietly")
    assert combine_caption("k", "hi", None, None, [("gain", {"gain_db": 1.0})]) == "A person saying 'hi'"


def test_caption_needs_some_text() -> None:
    with pytest.raises(ValueError):
        combine_caption("k", None, None, "rain")


def test_a_description_that_says_the_transcript_keeps_gender_and_emotion() -> None:
    description = "A woman saying 'It is raining' in a happy voice"
    caption = combine_caption("k", "It is raining", description, "rain")
    assert caption.startswith(description) and "rain" in caption.removeprefix(description)
    assert combine_caption("k", "It is raining", "A woman talking", "rain").count("'It is raining'") == 1
