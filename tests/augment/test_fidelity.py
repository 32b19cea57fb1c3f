"""Fidelity of LLM answers to their inputs (transforms/fidelity.py)."""

from __future__ import annotations

import pytest

from transforms.fidelity import (
    CHECKS,
    FORM_CHECKS,
    Facts,
    check_fidelity,
    named_labels,
    outcome,
    quoted_spans,
    transcript_verbatim,
    validate_answer,
    words,
)

SPOKEN = "The teacher asked everyone to write a short story."
SOURCE = f"A man saying '{SPOKEN}' in a happy voice"
FACTS = Facts(source=SOURCE, transcript=SPOKEN)


def test_words_normalise_quotes_case_and_punctuation() -> None:
    assert words("It’s RAINING, 'outside'!") == words("its raining outside") == ["its", "raining", "outside"]


def test_quotations_are_found_in_every_style_and_apostrophes_stay_inside() -> None:
    text = "He says 'It's raining', then \"go\", “now”, « vite » and „jetzt“."
    assert [inner for _, _, inner in quoted_spans(text)] == ["It's raining", "go", "now", "vite", "jetzt"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (f'A man happily says, "{SPOKEN}"', "ok"),
        (f"In a cheerful voice a man says '{SPOKEN}'", "ok"),
        (
            'A man happily says, "The teacher asked everyone to write a short story. The teacher is angry."',
            "speech_added",
        ),
        (f'A man happily says, "{SPOKEN}" and then "Goodbye".', "speech_added"),
        ('A man happily says, "The teacher asked everyone to write a story."', "transcript_changed"),
        ('A man happily says, "The teacher asked all to write a short story."', "transcript_changed"),
        ("A man happily says that the teacher asked everyone to write a short story.", "transcript_unquoted"),
        (f'A man says, "{SPOKEN}"', "label_dropped"),
        (f'Someone happily says, "{SPOKEN}"', "label_dropped"),
        (f'A man angrily says, "{SPOKEN}"', "label_contradicted"),
        (f'A woman happily says, "{SPOKEN}"', "label_contradicted"),
        (f'An English-speaking man happily says, "{SPOKEN}"', "unsupported_label"),
        (f'A man happily says, "{SPOKEN}" over the rain', "unsupported_label"),
        (f'A man happily tells two pupils, "{SPOKEN}"', "unsupported_number"),
        (f'At 9 am a man happily says, "{SPOKEN}"', "unsupported_number"),
        (f'In Paris, a man happily says, "{SPOKEN}"', "unsupported_name"),
        (f'A man named John happily says, "{SPOKEN}"', "unsupported_name"),
    ],
)
def test_each_check(answer: str, reason: str) -> None:
    assert check_fidelity(answer, FACTS) == reason


def test_words_inside_the_quotation_are_speech_not_labels() -> None:
    spoken = "I am so angry with the two of you"
    facts = Facts(source=f"A woman saying '{spoken}' in a sad voice", transcript=spoken)
    assert check_fidelity('A woman sadly says, "I am so angry with the two of you."', facts) == "ok"
    assert named_labels(facts.source)["emotion"] == {"sad"}


def test_a_caption_without_speech_may_quote_nothing() -> None:
    facts = Facts(source="The sound of dog and rain")
    assert check_fidelity("A dog barks while rain falls.", facts) == "ok"
    assert check_fidelity("A dog barks while someone shouts 'Stop'.", facts) == "speech_added"
    assert check_fidelity("A dog barks.", facts) == "label_dropped"


def test_the_sounds_to_keep_can_be_given_beside_the_source() -> None:
    facts = Facts(source="A person saying 'Hello', background wind noise", transcript="Hello", labels=("wind",))
    assert check_fidelity("Over a gusty wind, a person says 'Hello'.", facts) == "ok"
    assert check_fidelity("A person says 'Hello'.", facts) == "label_dropped"


def test_numbers_and_names_the_inputs_have_are_allowed() -> None:
    facts = Facts(source="A woman saying 'Meet me at nine in Berlin'", transcript="Meet me at nine in Berlin")
    assert check_fidelity("A woman says, 'Meet me at nine in Berlin', about nine and Berlin.", facts) == "ok"
    support = Facts(source="Scene: a street. Audio: rain", support="Paris")
    assert check_fidelity("Rain falls on a street in Paris.", support) == "ok"


def test_a_translation_keeps_the_transcript_verbatim_unless_allowed_to_translate_it() -> None:
    kept = f"Un homme dit joyeusement « {SPOKEN} »"
    translated = "Un homme dit joyeusement « Le professeur a demandé à tous d'écrire une histoire. »"
    assert check_fidelity(kept, FACTS, english=False) == "ok" and transcript_verbatim(kept, SPOKEN)
    assert check_fidelity(translated, FACTS, english=False) == "transcript_changed"
    assert check_fidelity(translated, FACTS, english=False, transcript_may_be_translated=True) == "ok"
    assert not transcript_verbatim(translated, SPOKEN)
    assert check_fidelity(f"Un homme dit à 3 amis « {SPOKEN} »", FACTS, english=False) == "unsupported_number"


def test_validation_checks_form_first_then_fidelity() -> None:
    assert validate_answer("", FACTS) == (None, "empty")
    assert validate_answer(f'<b>A man</b> happily says "{SPOKEN}"', FACTS) == (None, "markup")
    good = f'A man happily says, "{SPOKEN}"'
    assert validate_answer(f"{good}\nHope this helps!", FACTS) == (good, "ok")


def test_outcomes_tell_rejections_from_failed_requests() -> None:
    assert outcome("ok") == "accepted"
    assert all(outcome(reason) == "rejected" for reason in (*CHECKS, *FORM_CHECKS))
    assert [outcome(r) for r in ("timeout", "http_500", "llm_unavailable", "ConnectionError")] == ["failed"] * 4


# -- visual fusion: the same checks ------------------------------------------------------------------


class FakeChat:
    """Answers every chat with one text; keeps the chats."""

    def __init__(self, text: str) -> None:
        self.text, self.chats = text, []

    def complete_many(self, chats: list) -> list[str]:
        self.chats.extend(chats)
        return [self.text] * len(chats)


def fuse(answer: str) -> tuple:
    from transforms.visual.fuse import CaptionFuser, FusionInput

    scene = FusionInput(
        visual=("A dog on a beach",),
        audio="A woman saying 'See you tomorrow' in a happy voice",
        transcript="See you tomorrow",
    )
    chat = FakeChat(answer)
    [result] = CaptionFuser(chat, model="fake").fuse_many([scene])
    return result, chat


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("On a beach with a dog, a woman happily says 'See you tomorrow'.", "ok"),
        ("On a beach with a dog, a woman happily says 'See you tomorrow, my love'.", "speech_added"),
        ("On a beach with a dog, a woman angrily says 'See you tomorrow'.", "label_contradicted"),
        ("On a beach, a woman happily says 'See you tomorrow'.", "label_dropped"),
        ("On a Malibu beach with a dog, a woman happily says 'See you tomorrow'.", "unsupported_name"),
    ],
)
def test_visual_fusion_answers_get_the_same_checks(answer: str, reason: str) -> None:
    result, chat = fuse(answer)
    assert result.reason == reason and result.method == ("llm" if reason == "ok" else "template")
    assert 'The spoken words are exactly: "See you tomorrow".' in chat.chats[0][0]["content"]


def test_the_run_summary_lists_llm_outcomes_by_check() -> None:
    from transforms.fidelity import summary_lines

    metrics = {
        "clara/shards_written": 2,
        "rewrite/accepted": 5,
        "rewrite_rejected/speech_added": 2,
        "rewrite_rejected/label_dropped": 1,
        "rewrite_failed/timeout": 1,
    }
    lines = summary_lines(metrics)
    assert lines[1].split() == ["rewrite", "5", "of", "9"]
    assert [line.split() for line in lines[2:]] == [
        ["rewrite_rejected/speech_added", "2"],
        ["rewrite_rejected/label_dropped", "1"],
        ["rewrite_failed/timeout", "1"],
    ]
    assert summary_lines({"clara/shards_written": 2}) == []


def test_every_emotion_of_the_vocabulary_has_words_and_names_itself() -> None:
    from schemas.vocab import EMOTIONS
    from transforms.fidelity import EMOTION_WORDS

    assert set(EMOTION_WORDS) == set(EMOTIONS)
    for emotion in EMOTIONS:
        assert named_labels(f"A person talking in a {emotion} voice")["emotion"] == {emotion}
