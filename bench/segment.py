"""Speech-aware segmentation, measured on espeak-ng paragraphs whose word timings are known.

    python bench/segment.py quality [--languages en,fr,de] [--model bundled:base]
    python bench/segment.py speed   [--model bundled:base] [--clips 6]

quality: each paragraph (13-35 s, several voices) goes through ``SegmentStage`` with Whisper
as the aligner and *no* transcript given, then: share of cuts that fall between words by the
true timings, longest segment, and word error rate of each segment's ASR transcript against
the true words whose midpoint lies inside the segment.

speed: real-time factor (audio seconds per wall second) of faster-whisper on CPU, one clip
at a time vs the batched pipeline packing all clips, in the same run; and model load time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soxr  # noqa: E402

from schemas import SAMPLE_RATE  # noqa: E402
from tests.segment.speech import PARAGRAPHS, make_sample  # noqa: E402
from transforms.segment.cut import normalize_token  # noqa: E402
from transforms.segment.stage import SegmentStage  # noqa: E402
from transforms.segment.whisper import WHISPER_SAMPLE_RATE, ClipRequest, FasterWhisperModelHandler  # noqa: E402
from transforms.tts import synthesize  # noqa: E402

VOICES = ("m1", "f2", "m3")


def corpus(language: str) -> list[tuple[str, str, np.ndarray, tuple]]:
    """(key, text, 48 kHz audio, true words): each paragraph, plus all of them joined (~30 s)."""
    texts = list(PARAGRAPHS[language])
    texts.append(" ".join(PARAGRAPHS[language][:2]))
    items = []
    for i, text in enumerate(texts):
        speech = synthesize(text, language, variant=VOICES[i % len(VOICES)])
        audio = soxr.resample(speech.audio, speech.sample_rate, SAMPLE_RATE).astype(np.float32)
        items.append((f"{language}{i}", text, audio, speech.words))
    return items


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """Levenshtein distance over words divided by the reference length."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1] / max(1, len(reference))


def _tokens(text: str) -> list[str]:
    return [t for t in (normalize_token(x) for x in text.split()) if t]


def quality(languages: list[str], model: str) -> None:
    stage = SegmentStage(whisper_model=model)
    stage.setup()
    print(f"model {model}; max 10 s; Whisper word timings, no transcript given")
    print("lang | items | audio s | segments | cuts between words | max segment s | WER mean | WER median | WER max")
    for language in languages:
        items = corpus(language)
        samples = [make_sample(key, audio, language) for key, _, audio, _ in items]
        out, failures = stage.process(samples)
        truth = {key: words for key, _, _, words in items}
        cuts_ok = cuts = 0
        wers = []
        for sample in out:
            words = truth[sample.item.key]
            start, end = sample.segment.start_s, sample.segment.start_s + sample.segment.duration_s
            for cut in (start, end):
                if 0.0 < cut < (sample.source_duration_s or 0) - 1e-3:
                    cuts += 1
                    cuts_ok += not any(w.start_s < cut < w.end_s for w in words)
            reference = [t for w in words if start <= w.start_s + w.duration_s / 2 < end for t in _tokens(w.word)]
            wers.append(word_error_rate(reference, _tokens(sample.transcript or "")))
        audio_s = sum(len(a) for _, _, a, _ in items) / SAMPLE_RATE
        longest = max((s.duration_s for s in out), default=0.0)
        print(
            f"{language} | {len(items)} | {audio_s:.1f} | {len(out)} | {cuts_ok}/{cuts} = {100 * cuts_ok / max(1, cuts):.1f}% | "
            f"{longest:.2f} | {100 * statistics.mean(wers):.1f}% | {100 * statistics.median(wers):.1f}% | "
            f"{100 * max(wers):.1f}%" + (f" | failures: {[f.reason for f in failures]}" if failures else "")
        )


def speed(model: str, clips: int, batch_size: int) -> None:
    requests = []
    texts = [t for language in ("en",) for t in PARAGRAPHS[language]]
    for i in range(clips):
        speech = synthesize(texts[i % len(texts)], "en", variant=VOICES[i % len(VOICES)])
        audio = soxr.resample(speech.audio, speech.sample_rate, WHISPER_SAMPLE_RATE).astype(np.float32)
        requests.append(ClipRequest(f"c{i}", audio, "en"))
    audio_s = sum(r.duration_s for r in requests)
    results = {}
    for batched in (False, True):
        handler = FasterWhisperModelHandler(model, batched=batched, batch_size=batch_size)
        started = time.perf_counter()
        loaded = handler.load_model()
        load_s = time.perf_counter() - started
        handler.run_inference(requests[:1], loaded)  # warm-up
        started = time.perf_counter()
        handler.run_inference(requests, loaded)
        elapsed = time.perf_counter() - started
        results[batched] = audio_s / elapsed
        print(
            f"{'batched  ' if batched else 'unbatched'} load {load_s:.2f} s | {audio_s:.0f} s audio in {elapsed:.1f} s | RTF {results[batched]:.2f}x real time"
        )
    print(
        f"batched / unbatched throughput: {results[True] / results[False]:.2f}x (model {model}, {clips} clips, batch {batch_size})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("quality", "speed", "all"), nargs="?", default="all")
    parser.add_argument("--languages", default="en,fr,de")
    parser.add_argument("--model", default="bundled:base")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    if args.what in ("quality", "all"):
        quality(args.languages.split(","), args.model)
    if args.what in ("speed", "all"):
        speed(args.model, args.clips, args.batch_size)


if __name__ == "__main__":
    main()
