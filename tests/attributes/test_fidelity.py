"""The LLM rewrite may not contradict a measured attribute (fake LLM: tests/augment/fake_llm.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from schemas import Caption, Segment, SourceItem
from tests.augment.fake_llm import FakeLLM, answer
from transforms.fidelity import Facts, check_fidelity
from transforms.rewrite import LLMConfig, RewriteStage
from transforms.stage import Sample

SOURCE = "A woman speaks quickly in a high-pitched voice; the recording is clean and close-sounding"
SAID = {"rate": "fast", "pitch": "high", "noise": "clean", "reverberation": "close"}


def _sample() -> Sample:
    item = SourceItem(key="k", uri="/k.wav", dataset="t", source_id="k", language="en", gender="female")
    return Sample(
        item=item,
        audio=np.zeros(4800, dtype=np.float32),
        segment=Segment("k", 0, 0.0, 0.1),
        captions=[Caption(SOURCE, "en", "template")],
        original_data={"attributes": {"words": SAID}},
    )


def _rewrite(reply: str, tmp_path: Path) -> dict:
    config = LLMConfig(url="", timeout_s=2.0, retries=0, cache_dir=str(tmp_path / "cache"))
    with FakeLLM(answer(reply)) as llm:
        stage = RewriteStage(LLMConfig(**{**config.__dict__, "url": llm.url}))
        (sample,), _ = stage.process([_sample()])
    return sample.original_data["rewrite"]


@pytest.mark.parametrize(
    "reply",
    [
        "A woman talks slowly in a high-pitched voice; the recording is clean and close-sounding.",
        "A woman speaks quickly in a deep voice; the recording is clean and close-sounding.",
        "A woman speaks quickly in a high-pitched voice in a noisy, close-sounding recording.",
        "A woman speaks quickly in a high-pitched voice, distant and echoing but clean.",
    ],
)
def test_a_rewrite_that_contradicts_a_measured_attribute_is_rejected_and_counted(reply, tmp_path):
    record = _rewrite(reply, tmp_path)
    assert record["status"] == "fallback" and record["reason"] == "attribute_contradicted"


def test_a_faithful_rewrite_of_the_attributes_is_kept(tmp_path):
    record = _rewrite("Speaking fast, a woman with a high-pitched voice is recorded close and clean.", tmp_path)
    assert record["status"] == "ok"


def test_the_words_inside_a_quotation_are_speech_not_a_description():
    facts = Facts(source="A man saying 'go slowly' quickly", transcript="go slowly", attributes=(("rate", "fast"),))
    assert check_fidelity("A man quickly says 'go slowly'", facts) == "ok"
