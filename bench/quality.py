"""Cost of each measured quality filter, in seconds of audio per second of one core.

    python bench/quality.py [--seconds 600] [--clip-s 6] [--repeat 3] [--threads 1]

The audio: espeak-ng paragraphs (en, fr, de; 48 kHz) cut into ``--clip-s`` clips, with a third of
them mixed with Gaussian noise, until ``--seconds`` of audio. Each filter runs alone over every
clip through ``QualityStage.measure`` (so the shared 16 kHz resampling of ``language`` and
``silence`` is counted in each of them, as a run with only that filter pays it), best of
``--repeat`` passes; Whisper's load is timed apart and left out of ``language``. ``asr_confidence``
only reads what the segment stage recorded (near-free). Printed per filter, and for all six
together: s-audio per wall second and per CPU second of this process (all its threads: the
figure to size workers by, and the one a loaded machine disturbs least).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from schemas import SAMPLE_RATE
from tests.segment.speech import make_sample, paragraph
from transforms.quality import FILTERS, QualitySettings, QualityStage, wada_table


def clips(seconds: float, clip_s: float) -> list:
    rng = np.random.default_rng(0)
    pool = [paragraph(language, index)[1] for language in ("en", "fr", "de") for index in (0, 1)]
    size, out, total, i = int(clip_s * SAMPLE_RATE), [], 0.0, 0
    while total < seconds:
        source = pool[i % len(pool)]
        start = (i * size) % max(1, source.size - size)
        audio = source[start : start + size].copy()
        if i % 3 == 2:
            audio += rng.standard_normal(audio.size).astype(np.float32) * 0.02
        out.append(make_sample(f"c{i}", audio, language=("en", "fr", "de")[i % 3], transcript="words"))
        total += audio.size / SAMPLE_RATE
        i += 1
    return out


def rate(stage: QualityStage, samples: list, repeat: int) -> str:
    """s-audio per wall second and per CPU second, best of ``repeat`` passes."""
    audio_s = sum(s.duration_s for s in samples)
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        for sample in samples:
            stage.measure(sample)
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    return f"{audio_s / wall:10.0f} s-audio/s wall {audio_s / max(cpu, 1e-9):10.0f} s-audio/CPU-s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--clip-s", type=float, default=6.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="CTranslate2 / ONNX / torch threads")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    samples = clips(args.seconds, args.clip_s)
    audio_s = sum(s.duration_s for s in samples)
    load = os.getloadavg()[0]
    print(f"{len(samples)} clips, {audio_s:.0f} s of audio, {args.threads} thread(s), best of {args.repeat}")
    print(f"  load average {load:.1f} on {os.cpu_count()} cores (wall figures shrink under load)")
    start = time.perf_counter()
    wada_table.cache_clear()
    wada_table()
    print(f"  WADA table (once per worker)          {time.perf_counter() - start:8.2f} s")
    from transforms.segment.options import SegmentSettings

    segment = SegmentSettings(whisper_cpu_threads=args.threads)
    stages = {name: QualityStage(QualitySettings(filters=(name,)), segment=segment) for name in FILTERS}
    start = time.perf_counter()
    whisper = stages["language"].whisper()
    print(f"  Whisper base load (once per worker)   {time.perf_counter() - start:8.2f} s")
    for name in FILTERS:
        stages[name]._whisper = whisper
        print(f"  {name:<22} {rate(stages[name], samples, args.repeat)}")
    together = QualityStage(QualitySettings(filters=FILTERS), segment=segment)
    together._whisper = whisper
    print(f"  {'all six':<22} {rate(together, samples, args.repeat)}")


if __name__ == "__main__":
    main()
