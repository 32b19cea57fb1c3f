"""The embedded demo corpus: deterministic, multilingual, with true word timings."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines.sources.base import SourceError, SourceSettings
from pipelines.sources.demo import DemoSource, sentences_for
from transforms.tts import STYLES, synthesize, synthesize_uri


def _items(lang="en", seed=0, n=12):
    return list(DemoSource(SourceSettings(language=lang, seed=seed, options={"items": str(n)})).items())


def test_same_seed_same_items_other_seed_other_items():
    assert _items(seed=1) == _items(seed=1)
    assert [i.uri for i in _items(seed=1)] != [i.uri for i in _items(seed=2)]


def test_items_cover_voices_styles_and_long_paragraphs():
    items = _items(n=40)
    assert {i.gender for i in items} == {"male", "female"}
    assert {i.emotion for i in items} == set(STYLES)
    long = [i for i in items if i.duration_hint_s > 10]
    assert 5 <= len(long) <= 15 and len(long) < len(items) / 2


def test_synthesis_is_deterministic_and_long_items_exceed_10s():
    item = _items(n=4)[3]  # every fourth item is a paragraph
    a, b = synthesize_uri(item.uri), synthesize_uri(item.uri)
    assert np.array_equal(a.audio, b.audio) and a.words == b.words
    assert a.duration_s > 10


@pytest.mark.parametrize("lang", ["en", "fr", "de"])
def test_word_timings_cover_the_text_in_order(lang):
    text = sentences_for(lang)[1]
    speech = synthesize(text, lang, "f2", "neutral")
    words = speech.words
    spoken = " ".join(w.word for w in words).split()
    written = [t.strip('.,;:!?¿¡"()') for t in text.split() if t.strip('.,;:!?¿¡"()')]
    assert spoken == written
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    for w, nxt in zip(words, words[1:]):
        assert w.end_s <= nxt.start_s + 1e-3  # words don't overlap
    assert words[-1].end_s <= speech.duration_s + 1e-3
    # the audio inside a word is louder than the pause between two sentences' words
    rate = speech.sample_rate
    loud = [np.sqrt(np.mean(speech.audio[int(w.start_s * rate) : int(w.end_s * rate)] ** 2)) for w in words]
    assert min(loud) > 0.005


def test_styles_change_the_speech():
    neutral = synthesize("The weather is lovely today.", "en", "m1", "neutral")
    sad = synthesize("The weather is lovely today.", "en", "m1", "sad")
    assert sad.duration_s > neutral.duration_s * 1.1  # sad is slower


def test_unknown_language_is_refused_before_work():
    with pytest.raises(SourceError, match="no voice"):
        DemoSource(SourceSettings(language="xx")).check()


def test_language_without_builtin_text_uses_numbers():
    sentences = sentences_for("lt")
    assert len(sentences) == 20 and all(s.endswith(".") for s in sentences)


def _digest(speech) -> str:
    return hashlib.sha256(speech.audio.tobytes()).hexdigest()


def test_an_utterance_does_not_depend_on_what_was_spoken_before_it():
    """The helper server forks a clean child per utterance: a fresh process gives the same bytes."""
    text, voice = "Seven breathy words for the determinism check.", ("en", "f2", "happy")
    synthesize("Un autre texte avant.", "fr", "m7", "angry")
    synthesize("Noch ein Satz davor, etwas länger.", "de", "f4", "sad")
    script = (
        "from tests.core.test_demo_corpus import _digest; from transforms.tts import synthesize; "
        f"print(_digest(synthesize({text!r}, *{voice!r})))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert _digest(synthesize(text, *voice)) == fresh.stdout.split()[-1]
