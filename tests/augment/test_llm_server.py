"""Integration: the real client against the local vLLM server (``deploy/llm/serve.sh``), if it is up.

Start it with ``make llm-server`` (or ``deploy/llm/serve.sh``); ``LLM_URL`` points elsewhere.
First setup costs ~10 min and ~5 GB (the .venv-llm); the server is up ~60 s after start.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from schemas import Caption
from tests.augment.conftest import make_sample
from transforms.rewrite import ChatClient, LLMConfig, RewriteStage, load_prompt, render

LLM_URL = os.environ.get("LLM_URL", "http://127.0.0.1:8000/v1")


def served_model() -> str | None:
    try:
        with urllib.request.urlopen(f"{LLM_URL}/models", timeout=2) as response:
            return json.loads(response.read())["data"][0]["id"]
    except (OSError, ValueError, KeyError, IndexError):
        return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(served_model() is None, reason=f"no LLM server at {LLM_URL} (start it: deploy/llm/serve.sh)"),
]

CAPTIONS = [
    "A person saying 'Good morning everyone', background rain",
    "Someone saying 'Where is the station' with crowd babble in the background",
    "A voice saying 'I love this song' over electrical hum",
]


def test_real_server_answers_clean_text_through_the_client(tmp_path: Path) -> None:
    client = ChatClient(LLMConfig(url=LLM_URL, model=served_model(), cache_dir=str(tmp_path), timeout_s=60))
    answers = client.complete_many([render(load_prompt("rewrite_v1"), caption=c) for c in CAPTIONS])
    for text in answers:
        assert isinstance(text, str) and text.strip()
        assert "Ġ" not in text and "Ċ" not in text  # the converted tokenizer decodes bytes


def test_real_server_rewrites_or_falls_back_with_a_reason(tmp_path: Path) -> None:
    samples = []
    for i, caption in enumerate(CAPTIONS):
        sample = make_sample(key=f"llm-{i}", transcript=caption.split("'")[1])
        samples.append(sample.derive(captions=[Caption(caption, "en", "template"), *sample.captions]))
    stage = RewriteStage(LLMConfig(url=LLM_URL, model=served_model(), cache_dir=str(tmp_path), timeout_s=60))
    out, failures = stage.process(samples)
    assert failures == [] and len(out) == len(samples)
    for sample in out:
        record = sample.original_data["rewrite"]
        if record["status"] == "ok":
            assert sample.captions[1].origin == "rewrite" and sample.transcript in sample.captions[1].text
        else:
            assert record["reason"] not in ("unreachable", "timeout", "llm_unavailable")
    assert sum(s.original_data["rewrite"]["status"] == "ok" for s in out) >= 1
