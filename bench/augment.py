"""Benchmark of the augment stage and the LLM rewrite client (issue 6, "Measure").

    python -m bench.augment [--seconds 60] [--llm-url http://127.0.0.1:8000/v1] [--captions 32]

Prints seconds of audio processed per second for each effect, for pub-noise mixing and for the
whole AugmentStage (one copy), on 6-s clips of a speech-like signal; then, if an LLM server
answers, rewrite throughput (captions/s) sequentially and with bounded concurrency, cache off.
All ratios come from one run on this machine.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request

import numpy as np

from augment import effects
from augment.mix import mix_noise
from augment.noise import default_noise_bank
from augment.stage import AugmentSettings, AugmentStage
from schemas import SAMPLE_RATE

CLIP_S = 6.0


def speech_like(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(140 + 60 * np.sin(2 * np.pi * 0.5 * t)) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    return (0.2 * voiced + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def rate(fn, clips: list[np.ndarray]) -> float:  # noqa: ANN001
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
    stage = AugmentStage(AugmentSettings(copies=1, seed=0), noise_bank=bank)

    def one(audio: np.ndarray) -> None:
        segment = Segment(
            source_key="bench", index=0, start_s=0.0, duration_s=len(audio) / SAMPLE_RATE, transcript="hello there"
        )
        stage.process([Sample(item=item, audio=audio, segment=segment)])

    rows.append(("AugmentStage, 1 copy, all effects p=0.5", rate(one, clips)))
    return rows


def served_model(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
            return json.loads(response.read())["data"][0]["id"]
    except (OSError, ValueError, KeyError, IndexError):
        return None


def bench_rewrite(url: str, count: int) -> list[tuple[str, float]]:
    from transforms.rewrite import ChatClient, LLMConfig, load_prompt, render

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per measurement")
    parser.add_argument("--llm-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--captions", type=int, default=32)
    args = parser.parse_args()
    print(f"{'augmentation':<70} {'s audio / s':>12}")
    for name, value in bench_audio(args.seconds):
        print(f"{name:<70} {value:>12.1f}")
    rows = bench_rewrite(args.llm_url, args.captions)
    if rows:
        base = rows[0][1]
        print(f"\n{'rewrite':<70} {'captions / s':>12} {'vs seq':>7}")
        for name, value in rows:
            print(f"{name:<70} {value:>12.2f} {value / base:>6.2f}x")


if __name__ == "__main__":
    main()
