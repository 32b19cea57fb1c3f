"""The LLM rewrite client and stage against a tiny in-test HTTP server (transforms/rewrite.py)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from schemas import Caption
from tests.augment.conftest import make_sample
from tests.augment.fake_llm import FakeLLM, answer
from transforms.rewrite import (
    ChatClient,
    LLMConfig,
    LLMError,
    RewriteStage,
    load_prompt,
    render,
    validate_rewrite,
)

SOURCE = "A person saying 'It's raining outside', background wind noise"
GOOD = "Amidst wind noise in the background, an individual declares, 'It's raining outside'."


def augmented_sample():  # noqa: ANN201
    sample = make_sample()
    return sample.derive(captions=[Caption(SOURCE, "en", "template"), *sample.captions])


def config(url: str, tmp_path: Path, **changes) -> LLMConfig:  # noqa: ANN003
    base = {"url": url, "timeout_s": 2.0, "retries": 2, "backoff_s": 0.01, "cache_dir": str(tmp_path / "cache")}
    return LLMConfig(**{**base, **changes})


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_good_answer_is_added_after_the_concatenative_caption(tmp_path: Path) -> None:
    with FakeLLM(answer(GOOD)) as llm:
        out, failures = RewriteStage(config(llm.url, tmp_path)).process([augmented_sample()])
    (sample,) = out
    assert failures == []
    assert [c.origin for c in sample.captions[:2]] == ["template", "rewrite"]
    assert sample.captions[0].text == SOURCE and sample.captions[1].text == GOOD
    assert sample.original_data["rewrite"] == {"model": "smollm2", "prompt": "rewrite_v1", "status": "ok"}
    assert llm.bodies[0]["messages"][-1] == {"role": "user", "content": SOURCE}


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("   \n  ", "empty"),
        ("<b>Wind</b> and a person saying 'It's raining outside'", "markup"),
        ("**Wind** noise as someone says 'It's raining outside'", "markup"),
        ("Wind blows as someone says 'It's raining outside'\x07", "control_characters"),
        ("Rewrite the caption: wind noise, 'It's raining outside'", "prompt_echo"),
        ("Amidst wind noise, an individual declares that the weather is bad.", "transcript_changed"),
        ("ĠAmidstĠwindĠnoise,Ġsomeone says 'It's raining outside'", "tokenizer_artifacts"),
        ("Wind. " * 100, "too_long"),
        ("Wind.", "too_short"),
        (SOURCE + ".", "unchanged"),
    ],
)
def test_garbage_answers_fall_back_to_the_concatenative_caption_with_the_reason(reply: str, reason: str) -> None:
    assert validate_rewrite(reply, SOURCE, "It's raining outside") == (None, reason)


def test_garbage_from_the_server_is_recorded_as_a_fallback(tmp_path: Path) -> None:
    with FakeLLM(answer("<html>oops</html>")) as llm:
        (sample,), _ = RewriteStage(config(llm.url, tmp_path)).process([augmented_sample()])
    assert [c.origin for c in sample.captions] == ["template", "template"]
    assert sample.original_data["rewrite"]["status"] == "fallback"
    assert sample.original_data["rewrite"]["reason"] == "markup"


def test_a_quoted_answer_line_is_unwrapped() -> None:
    assert validate_rewrite(f'"{GOOD}"\nHope this helps!', SOURCE, "It's raining outside") == (GOOD, "ok")


def test_500s_are_retried_then_fall_back(tmp_path: Path) -> None:
    with FakeLLM(lambda body, call: (500, "boom", 0.0)) as llm:
        (sample,), failures = RewriteStage(config(llm.url, tmp_path, retries=2)).process([augmented_sample()])
    assert llm.calls == 3 and failures == []
    assert sample.original_data["rewrite"]["reason"] == "http_500"


def test_a_500_then_a_good_answer_succeeds(tmp_path: Path) -> None:
    with FakeLLM(lambda body, call: (500, "boom", 0.0) if call == 1 else (200, GOOD, 0.0)) as llm:
        assert ChatClient(config(llm.url, tmp_path)).complete([{"role": "user", "content": "x"}]) == GOOD
    assert llm.calls == 2


def test_400_is_not_retried(tmp_path: Path) -> None:
    with FakeLLM(lambda body, call: (400, "bad request", 0.0)) as llm:
        with pytest.raises(LLMError) as error:
            ChatClient(config(llm.url, tmp_path)).complete([{"role": "user", "content": "x"}])
    assert error.value.reason == "http_400" and llm.calls == 1


def test_slow_server_times_out_and_falls_back(tmp_path: Path) -> None:
    with FakeLLM(answer(GOOD, delay=1.0)) as llm:
        stage = RewriteStage(config(llm.url, tmp_path, timeout_s=0.2, retries=1))
        (sample,), _ = stage.process([augmented_sample()])
    assert sample.original_data["rewrite"]["reason"] == "timeout"
    assert [c.origin for c in sample.captions] == ["template", "template"]


def test_server_down_falls_back_and_the_breaker_then_fails_fast(tmp_path: Path) -> None:
    stage = RewriteStage(config(closed_port_url(), tmp_path, retries=1, breaker_failures=2, concurrency=1))
    started = time.monotonic()
    out, failures = stage.process([augmented_sample() for _ in range(6)])
    assert time.monotonic() - started < 2.0 and failures == []
    reasons = [s.original_data["rewrite"]["reason"] for s in out]
    assert reasons[0] == "unreachable" and reasons[-1] == "llm_unavailable"


def test_answers_are_cached_on_disk_so_reruns_do_not_call_the_server(tmp_path: Path) -> None:
    with FakeLLM(answer(GOOD)) as llm:
        RewriteStage(config(llm.url, tmp_path)).process([augmented_sample()])
        (sample,), _ = RewriteStage(config(llm.url, tmp_path)).process([augmented_sample()])
        assert llm.calls == 1 and sample.captions[1].text == GOOD
        RewriteStage(config(llm.url, tmp_path, model="other-model")).process([augmented_sample()])
        assert llm.calls == 2


def test_concurrency_is_bounded_and_faster_than_sequential(tmp_path: Path) -> None:
    chats = [[{"role": "user", "content": f"caption {i}"}] for i in range(12)]
    with FakeLLM(answer(GOOD, delay=0.1)) as llm:
        started = time.monotonic()
        answers = ChatClient(config(llm.url, tmp_path, concurrency=3, cache_dir=None)).complete_many(chats)
        elapsed = time.monotonic() - started
    assert answers == [GOOD] * 12
    assert 2 <= llm.max_in_flight <= 3
    assert elapsed < 12 * 0.1 * 0.6


def test_without_an_endpoint_the_stage_changes_nothing() -> None:
    samples = [augmented_sample()]
    assert RewriteStage(LLMConfig(url=None)).process(samples) == (samples, [])


def test_scope_augmented_rewrites_only_augmented_copies(tmp_path: Path) -> None:
    from schemas import Augmentation

    copy = augmented_sample()
    copy.augmentations = [Augmentation("noise", {})]
    with FakeLLM(answer(GOOD)) as llm:
        out, _ = RewriteStage(config(llm.url, tmp_path), scope="augmented").process([make_sample(), copy])
    assert "rewrite" not in out[0].original_data and out[1].original_data["rewrite"]["status"] == "ok"
    assert llm.calls == 1


def test_prompt_file_renders_system_fewshot_and_the_caption() -> None:
    messages = render(load_prompt("rewrite_v1"), caption="A {weird} caption")
    assert messages[0]["role"] == "system" and messages[-1] == {"role": "user", "content": "A {weird} caption"}
    assert [m["role"] for m in messages[1:-1]] == ["user", "assistant"] * 3
    assert not any(m["content"].startswith("#") for m in messages)


def test_options_build_the_stage() -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(["--llm-url=http://127.0.0.1:9/v1", "--llm-concurrency=8", "--rewrite=augmented"])
    stage = RewriteStage.from_options(options)
    assert stage.enabled and stage.config.concurrency == 8 and stage.scope == "augmented"
    assert not RewriteStage.from_options(PipelineOptions([])).enabled


def test_a_rewrite_that_drops_the_background_sound_falls_back() -> None:
    dropped = "An individual declares, 'It's raining outside'."
    assert validate_rewrite(dropped, SOURCE, "It's raining outside", ("wind noise",)) == (None, "fact_dropped")
    assert validate_rewrite(GOOD, SOURCE, "It's raining outside", ("wind noise",)) == (GOOD, "ok")
