"""Integration: the real client against the local vLLM server (``deploy/llm/serve.sh``), if it is up.

Start it with ``make llm-server`` (or ``deploy/llm/serve.sh``); ``LLM_URL`` points elsewhere.
First setup costs ~10 min and ~4 GB (the .venv-llm); the server is up ~60 s after start. Without
a server every test here is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.sources.demo.texts import sentences_for
from schemas import Caption
from tests.augment.conftest import make_sample
from transforms.describe import speech_caption
from transforms.fidelity import Facts, check_fidelity, transcript_verbatim
from transforms.llm import ChatClient, LLMConfig, load_prompt, render, served_model
from transforms.rewrite import RewriteStage

LLM_URL = os.environ.get("LLM_URL", "http://127.0.0.1:8000/v1")
MODEL = served_model(LLM_URL)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MODEL is None, reason=f"no LLM server at {LLM_URL} (start it: deploy/llm/serve.sh)"),
]

CAPTIONS = [
    "A person saying 'Good morning everyone', background rain",
    "Someone saying 'Where is the station' with crowd babble in the background",
    "A voice saying 'I love this song' over electrical hum",
]


def config(tmp_path: Path) -> LLMConfig:
    return LLMConfig(url=LLM_URL, model=MODEL or "", cache_dir=str(tmp_path), timeout_s=60, concurrency=8)


def test_real_server_answers_clean_text_through_the_client(tmp_path: Path) -> None:
    client = ChatClient(config(tmp_path))
    answers = client.complete_many([render(load_prompt("rewrite_v1"), caption=c) for c in CAPTIONS])
    for text in answers:
        assert isinstance(text, str) and text.strip()
        assert "Ġ" not in text and "Ċ" not in text  # the converted tokenizer decodes bytes


def test_real_server_rewrites_or_falls_back_with_a_reason(tmp_path: Path) -> None:
    samples = []
    for i, caption in enumerate(CAPTIONS):
        sample = make_sample(key=f"llm-{i}", transcript=caption.split("'")[1])
        samples.append(sample.derive(captions=[Caption(caption, "en", "template"), *sample.captions]))
    out, failures = RewriteStage(config(tmp_path)).process(samples)
    assert failures == [] and len(out) == len(samples)
    for sample in out:
        record = sample.original_data["rewrite"]
        if record["status"] == "ok":
            assert sample.captions[1].origin == "rewrite" and sample.transcript in sample.captions[1].text
        else:
            assert record["outcome"] == "rejected", record


def test_no_accepted_rewrite_of_the_demo_corpus_changes_what_was_said(tmp_path: Path) -> None:
    """Over the demo's English sentences, every accepted rewrite quotes the transcript
    verbatim, adds no speech, and keeps the speaker's gender and emotion."""
    voices = [("male", "happy"), ("female", "angry"), ("male", "sad"), ("female", "neutral")]
    samples = []
    for i, sentence in enumerate(sentences_for("en")):
        gender, emotion = voices[i % len(voices)]
        sample = make_sample(key=f"demo-en-{i:04d}", transcript=sentence)
        caption = Caption(speech_caption(gender, sentence, emotion), "en", "template")
        samples.append(sample.derive(captions=[caption]))
    out, _ = RewriteStage(config(tmp_path)).process(samples)
    accepted = [s for s in out if s.original_data["rewrite"]["status"] == "ok"]
    for sample in accepted:
        source, rewrite = sample.captions[0].text, sample.captions[1].text
        assert transcript_verbatim(rewrite, sample.transcript), (source, rewrite)
        assert check_fidelity(rewrite, Facts(source=source, transcript=sample.transcript)) == "ok"
    reasons = [s.original_data["rewrite"].get("reason", "ok") for s in out]
    assert "unreachable" not in reasons and "timeout" not in reasons
