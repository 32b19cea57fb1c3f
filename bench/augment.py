"""Benchmark of the augment stage and the LLM rewrite client.

    python -m bench.augment [--seconds 60] [--llm-url http://127.0.0.1:8000/v1] [--captions 32]
    python -m bench.augment --fidelity-only [--llm-url ...]

Prints seconds of audio processed per second for each effect, for pub-noise mixing and for the
whole AugmentStage (one copy), on 6-s clips of a speech-like signal; then, if an LLM server
answers, rewrite throughput (captions/s) sequentially and with bounded concurrency, cache off;
then rewrite acceptance on the demo corpus's captions (``bench_fidelity``): accepted / rejected
by reason, before (form checks and a transcript substring test) and after (form + fidelity
checks, ``transforms/fidelity.py``), for the ``rewrite_v1`` (default) and ``rewrite_v2`` prompts.
All ratios come from one run on this machine.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter

import numpy as np

from augment import effects
from augment.mix import mix_noise
from augment.noise import default_noise_bank
from schemas import SAMPLE_RATE
from transforms.augment import DEFAULT_AUGMENTATIONS, AugmentSettings, AugmentStage

CLIP_S = 6.0


def speech_like(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(140 + 60 * np.sin(2 * np.pi * 0.5 * t)) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    return (0.2 * voiced + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def rate(fn, clips: list[np.ndarray]) -> float:
    """Seconds of audio per second of wall time for ``fn`` over ``clips``."""
    fn(clips[0][: SAMPLE_RATE // 10])  # warm-up (imports, FFT plans)
    started = time.perf_counter()
    for clip in clips:
        fn(clip)
    return len(clips) * CLIP_S / (time.perf_counter() - started)


def bench_audio(total_s: float) -> list[tuple[str, float]]:
    clips = [speech_like(CLIP_S, i) for i in range(max(1, int(total_s / CLIP_S)))]
    bank = default_noise_bank([speech_like(3.0, 99)], seed=0)
    rng = np.random.default_rng(0)
    rows = []
    for name in effects.EFFECTS:
        params = effects.draw_params(name, rng, clips[0])
        rows.append(
            (
                f"{name} {json.dumps(params)[:60]}",
                rate(lambda a, n=name, p=params: effects.apply_effect(n, a, p), clips),
            )
        )
    noise = bank.entries[1][1]
    rows.append(("noise mix (λ=0.3, pink)", rate(lambda a: mix_noise(a, noise, 0.3, 1234), clips)))

    from schemas import Segment, SourceItem
    from transforms.stage import Sample  # only for the stage figure

    item = SourceItem(key="bench", uri="x", dataset="bench", source_id="bench", transcript="hello there")
    stage = AugmentStage(AugmentSettings(augmentations=DEFAULT_AUGMENTATIONS, copies=1, seed=0), noise_bank=bank)

    def one(audio: np.ndarray) -> None:
        segment = Segment(
            source_key="bench", index=0, start_s=0.0, duration_s=len(audio) / SAMPLE_RATE, transcript="hello there"
        )
        stage.process([Sample(item=item, audio=audio, segment=segment)])

    rows.append(("AugmentStage, 1 copy, all effects p=0.5", rate(one, clips)))
    return rows


def bench_rewrite(url: str, count: int) -> list[tuple[str, float]]:
    from transforms.llm import ChatClient, LLMConfig, load_prompt, render, served_model

    model = served_model(url)
    if model is None:
        print(f"(no LLM server at {url}: rewrite throughput skipped)")
        return []
    noises = ["rain", "crowd babble", "white noise", "electrical hum", "brown noise", "pink noise"]
    prompt = load_prompt("rewrite_v1")
    rows = []
    for concurrency in (1, 4, 8):
        chats = [
            render(prompt, caption=f"A person saying 'Sentence number {concurrency}-{i}', background {noises[i % 6]}")
            for i in range(count)
        ]
        client = ChatClient(LLMConfig(url=url, model=model, concurrency=concurrency, cache_dir=None, timeout_s=120))
        started = time.perf_counter()
        answers = client.complete_many(chats)
        elapsed = time.perf_counter() - started
        ok = sum(isinstance(a, str) for a in answers)
        rows.append((f"rewrite, concurrency {concurrency} ({ok}/{count} answered)", count / elapsed))
    return rows


def demo_captions(limit: int | None = None) -> list[tuple[str, str]]:
    """(caption, transcript) pairs as the demo corpus's rewrite stage sees them: the English demo
    items (same draws as ``DemoSource``: voice, style, one sentence or five to seven), a segment per
    sentence, each as spoken (the describe template) and as its noise + reverb copy (Eq. 1's
    concatenative caption)."""
    from augment.noise import DEFAULT_LABELS
    from augment.text import combine_caption
    from pipelines.sources.demo.texts import sentences_for
    from transforms.describe import speech_caption
    from transforms.tts import STYLES, VARIANTS

    sentences = sentences_for("en")
    variants, styles = sorted(VARIANTS), sorted(STYLES)
    pairs = []
    for i in range(60):  # DemoSource's default --demo-items
        rng = random.Random(f"demo:en:0:{i}")
        variant, style = rng.choice(variants), rng.choice(styles)
        count = rng.randint(5, 7) if i % 4 == 3 else 1
        for k, sentence in enumerate(rng.sample(sentences, count)):
            spoken = speech_caption(VARIANTS[variant], sentence, style)
            noise = DEFAULT_LABELS[(i + k) % len(DEFAULT_LABELS)]
            copy = combine_caption(f"demo-en-{i}-{k}", sentence, spoken, noise, [("reverb", {})])
            pairs += [(spoken, sentence), (copy, sentence)]
    return pairs[:limit]


def legacy_validate(answer: str, source: str, transcript: str) -> str:
    """The form-only validation (before ``transforms/fidelity.py``): form checks and the transcript as a
    substring, nothing more."""
    from transforms.fidelity import check_form, clean_answer

    text = clean_answer(answer)
    reason = check_form(text, answer.strip(), source)
    squash = lambda t: " ".join(t.split()).strip(" .,!?;:'\"“”«»").lower()  # noqa: E731
    if reason == "ok" and squash(transcript) not in squash(text):
        reason = "transcript_changed"
    return reason


def bench_fidelity(url: str, limit: int | None = None) -> list[tuple[str, Counter]]:
    """Rewrite outcomes on the demo captions: (setting, Counter of reasons, "ok" = accepted)."""
    from transforms.fidelity import Facts, validate_answer
    from transforms.llm import ChatClient, LLMConfig, load_prompt, render, served_model
    from transforms.rewrite import rewrite_chat

    model = served_model(url)
    if model is None:
        print(f"(no LLM server at {url}: rewrite acceptance skipped)")
        return []
    pairs = demo_captions(limit)
    client = ChatClient(LLMConfig(url=url, model=model, concurrency=8, cache_dir=".cache/llm", timeout_s=120))
    v1, v2 = load_prompt("rewrite_v1"), load_prompt("rewrite_v2")
    before = client.complete_many([render(v1, caption=c) for c, _ in pairs])
    after = client.complete_many([rewrite_chat(v2, c, t) for c, t in pairs])

    def judge(answers: list, check) -> Counter:
        return Counter(a.reason if not isinstance(a, str) else check(a, c, t) for a, (c, t) in zip(answers, pairs))

    def fidelity(answer: str, caption: str, transcript: str) -> str:
        return validate_answer(answer, Facts(source=caption, transcript=transcript))[1]

    rows = [
        ("rewrite_v1, form checks only (before)", judge(before, legacy_validate)),
        ("rewrite_v1, form + fidelity checks (after)", judge(before, fidelity)),
        ("rewrite_v2, form checks only", judge(after, legacy_validate)),
        ("rewrite_v2, form + fidelity checks", judge(after, fidelity)),
    ]
    unfaithful = [
        (c, a)
        for a, (c, t) in zip(before, pairs)
        if isinstance(a, str) and legacy_validate(a, c, t) == "ok" and fidelity(a, c, t) != "ok"
    ]
    for caption, answer in unfaithful[:5]:
        print(f"  accepted before, rejected now: {caption!r} -> {answer.strip()!r}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per measurement")
    parser.add_argument("--llm-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--captions", type=int, default=32)
    parser.add_argument("--fidelity-only", action="store_true", help="only the rewrite acceptance figures")
    parser.add_argument("--fidelity-limit", type=int, default=None, help="at most this many demo captions")
    args = parser.parse_args()
    if not args.fidelity_only:
        print(f"{'augmentation':<70} {'s audio / s':>12}")
        for name, value in bench_audio(args.seconds):
            print(f"{name:<70} {value:>12.1f}")
        rows = bench_rewrite(args.llm_url, args.captions)
        if rows:
            base = rows[0][1]
            print(f"\n{'rewrite':<70} {'captions / s':>12} {'vs seq':>7}")
            for name, value in rows:
                print(f"{name:<70} {value:>12.2f} {value / base:>6.2f}x")
    for name, reasons in bench_fidelity(args.llm_url, args.fidelity_limit):
        total = sum(reasons.values())
        rejected = ", ".join(f"{r} {n}" for r, n in reasons.most_common() if r != "ok")
        print(f"{name:<45} accepted {reasons['ok']:>4}/{total:<4} rejected: {rejected}")


if __name__ == "__main__":
    main()
