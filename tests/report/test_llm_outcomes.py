"""The report counts what became of each LLM answer: accepted, rejected by check, failed."""

from __future__ import annotations

from pathlib import Path

from pipelines.report import llm_outcomes
from pipelines.report_data import CorpusFigures
from pipelines.report_html import _llm


def meta(key: str, **original_data) -> dict:
    return {"key": key, "captions": [], "original_data": {"dataset": "demo", **original_data}}


def test_rewrite_fusion_and_translation_outcomes_are_counted_by_check() -> None:
    figures = CorpusFigures()
    samples = [
        meta("a", rewrite={"status": "ok"}),
        meta("b", rewrite={"status": "fallback", "reason": "speech_added", "outcome": "rejected"}),
        meta("c", rewrite={"status": "fallback", "reason": "speech_added"}),
        meta("d", rewrite={"status": "fallback", "reason": "timeout"}),
        meta("e", visual={"fusion": {"method": "template", "reason": "label_contradicted"}}),
        meta("f", visual={"fusion": {"method": "template", "reason": "no_llm"}}),
        meta("g", translation={"fr": {"method": "llm"}, "de": {"method": "lexicon", "llm_fallback": "unchanged"}}),
        meta("h", translation={"fr": {"method": "lexicon"}}),
    ]
    for sample in samples:
        figures.add_sample(sample, Path("000000.tar"), "train")
    assert llm_outcomes(figures.llm_outcomes) == {
        "rewrite": {"accepted": 1, "rejected": {"speech_added": 2}, "failed": {"timeout": 1}},
        "fusion": {"accepted": 0, "rejected": {"label_contradicted": 1}, "failed": {}},
        "translation": {"accepted": 1, "rejected": {"unchanged": 1}, "failed": {}},
    }


def test_the_captions_section_shows_the_llm_rows_only_when_an_llm_was_used() -> None:
    outcomes = {"rewrite": {"accepted": 3, "rejected": {"transcript_changed": 2}, "failed": {}}}
    html = _llm({"llm_outcomes": outcomes})
    assert 'id="llm-outcomes"' in html and "transcript_changed" in html and '<td class="n">2</td>' in html
    assert _llm({"llm_outcomes": {}}) == ""
