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
    rewrite_chat,
    validate_rewrite,
)

SOURCE = "A person saying 'It's raining outside', background wind noise"
GOOD = "Amidst wind noise in the background, an individual declares, 'It's raining outside'."


def augmented_sample():
    sample = make_sample()
    return sample.derive(captions=[Caption(SOURCE, "en", "template"), *sample.captions])


def config(url: str, tmp_path: Path, **changes) -> LLMConfig:
    base = {"url": url, "timeout_s": 2.0, "retries": 2, "cache_dir": str(tmp_path / "cache")}
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


def test_the_v2_prompt_sends_the_transcript_as_a_constant(tmp_path: Path) -> None:
    with FakeLLM(answer(GOOD)) as llm:
        (sample,), _ = RewriteStage(config(llm.url, tmp_path), prompt="rewrite_v2").process([augmented_sample()])
    assert sample.original_data["rewrite"]["prompt"] == "rewrite_v2"
    last = {"role": "user", "content": f'Caption: {SOURCE}\nSpoken words: "It\'s raining outside"'}
    assert llm.bodies[0]["messages"][-1] == last


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


def test_v2_prompt_hands_the_transcript_over_as_a_quoted_constant() -> None:
    messages = rewrite_chat(load_prompt("rewrite_v2"), "A man saying 'Hi there' in a happy voice", "Hi  there")
    assert messages[-1]["content"] == "Caption: A man saying 'Hi there' in a happy voice\nSpoken words: \"Hi there\""
    assert [m["role"] for m in messages[1:-1]] == ["user", "assistant"] * 4
    no_speech = rewrite_chat(load_prompt("rewrite_v2"), "The sound of rain", None)
    assert no_speech[-1]["content"].endswith("Spoken words: none (quote nothing)")


def test_a_rewrite_that_drops_the_background_sound_falls_back() -> None:
    dropped = "An individual declares, 'It's raining outside'."
    assert validate_rewrite(dropped, SOURCE, "It's raining outside", ("wind noise",)) == (None, "label_dropped")
    assert validate_rewrite(GOOD, SOURCE, "It's raining outside", ("wind noise",)) == (GOOD, "ok")


# -- fidelity: a rewrite never changes what was said ------------------------------------------------

SPOKEN = "The teacher asked everyone to write a short story."
TEACHER = f"A man saying '{SPOKEN}' in a happy voice"


def teacher_sample():
    sample = make_sample(key="demo-en-0042", transcript=SPOKEN)
    return sample.derive(captions=[Caption(TEACHER, "en", "template")])


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (f'A man happily says, "{SPOKEN[:-1]} The teacher is angry."', "speech_added"),
        ('A man happily says, "The teacher asked everyone to write a long story."', "transcript_changed"),
        (f'A man says, "{SPOKEN}"', "label_dropped"),
        (f'A man angrily says, "{SPOKEN}"', "label_contradicted"),
        (f'A man happily tells his 30 pupils, "{SPOKEN}"', "unsupported_number"),
    ],
    ids=["added_sentence", "changed_word", "dropped_label", "contradicted_label", "invented_number"],
)
def test_an_unfaithful_rewrite_falls_back_with_the_check_that_caught_it(
    reply: str, reason: str, tmp_path: Path
) -> None:
    with FakeLLM(answer(reply)) as llm:
        (sample,), failures = RewriteStage(config(llm.url, tmp_path)).process([teacher_sample()])
    assert failures == [] and [c.origin for c in sample.captions] == ["template"]
    record = sample.original_data["rewrite"]
    assert (record["status"], record["reason"], record["outcome"]) == ("fallback", reason, "rejected")


def test_a_faithful_rewrite_is_accepted(tmp_path: Path) -> None:
    faithful = f'Sounding cheerful, a man says, "{SPOKEN}"'
    with FakeLLM(answer(faithful)) as llm:
        (sample,), _ = RewriteStage(config(llm.url, tmp_path)).process([teacher_sample()])
    assert sample.original_data["rewrite"]["status"] == "ok"
    assert [(c.origin, c.text) for c in sample.captions] == [("template", TEACHER), ("rewrite", faithful)]


def test_outcomes_are_beam_counters_by_check(tmp_path: Path) -> None:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.testing.test_pipeline import TestPipeline

    replies = {
        "demo-en-0001": f'A man happily says, "{SPOKEN}"',
        "demo-en-0002": f'A man happily says, "{SPOKEN[:-1]} The teacher is angry."',
        "demo-en-0003": f'A man happily says, "{SPOKEN[:-1]} The teacher is angry."',
        "demo-en-0004": f'A man angrily says, "{SPOKEN}"',
    }
    samples = []
    for key in replies:
        sample = make_sample(key=key, transcript=SPOKEN)
        samples.append(sample.derive(captions=[Caption(TEACHER + f" ({key})", "en", "template")]))

    def reply(body: dict, call: int) -> tuple[int, str, float]:
        key = next(k for k in replies if k in body["messages"][-1]["content"])
        return 200, replies[key], 0.0

    with FakeLLM(reply) as llm:
        stage = RewriteStage(config(llm.url, tmp_path))
        pipeline = TestPipeline()
        _ = pipeline | beam.Create([0]) | beam.Map(lambda _: len(stage.process(samples)[0]))
        result = pipeline.run()
        result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter())["counters"]
    totals = {f"{c.key.metric.namespace}/{c.key.metric.name}": c.committed for c in counters}
    assert totals == {
        "rewrite/accepted": 1,
        "rewrite_rejected/speech_added": 2,
        "rewrite_rejected/label_contradicted": 1,
    }


def test_the_client_survives_pickling_as_beam_ships_it_to_workers(tmp_path: Path) -> None:
    from apache_beam.internal import pickler

    with FakeLLM(answer(GOOD)) as llm:
        client = ChatClient(config(llm.url, tmp_path, cache_dir=None))
        assert client.complete([{"role": "user", "content": "one"}]) == GOOD
        shipped = pickler.loads(pickler.dumps(client))
        assert shipped.complete([{"role": "user", "content": "two"}]) == GOOD
    assert llm.calls == 2
