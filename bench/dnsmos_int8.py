"""DNSMOS P.835 with its 2-D convolutions in int8 against the shipped fp32 network (issue [describe]).

    python bench/dnsmos_int8.py --out /tmp/dn                 # measure on recorded speech
    python bench/dnsmos_int8.py --out /tmp/dn --calibrate     # first write the int8 ranges again

``--calibrate`` writes :data:`transforms.attributes.dnsmos.INT8_RANGES` (onnxruntime's calibration
cache: each quantised tensor's min and max) from generated speech only: espeak-ng sentences of the
demo in en, fr, de and es, six voices, each as synthesised (digital silence between words) and
again in a drawn scene: dry or in a room of 0.3..1.2 s, clean or mixed with a noise of the
generated bank at -5..30 dB, at a drawn gain. No recorded clip is used, so the measure below is out of
sample.

The measure: ``bench/real_speech.py``'s recorded clips (and 9.5-s pieces of its 53-s sonnet, as
long as the corpus's longest segments), clean and mixed with each noise at 15 and 0 dB, scored by
the stage's fp32 and int8 sessions: CPU of each (this process, one thread), |OVRL - fp32|, |SIG|,
|BAK| (mean, 95th percentile, max), the quality word each gives, and the share of pairs ordered
clean > 15 dB > 0 dB by OVRL. Writes ``--out/dnsmos_int8.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def calibration_windows(per_language: int = 5) -> list[np.ndarray]:
    """Full model windows (tiled, as the stage tiles a short clip) of generated speech in generated scenes."""
    import soxr

    from augment.mix import mix_noise, weight_for_snr_db
    from pipelines.sources.demo.texts import sentences_for
    from transforms.attributes import dnsmos
    from transforms.tts import VARIANTS, synthesize
    from transforms.tts.scene import Scene, apply_scene, noise_bank

    rng = random.Random("dnsmos-int8-calibration")
    bank = noise_bank(16_000)
    rows = []
    for language in ("en", "fr", "de", "es"):
        sentences = sentences_for(language, count=40, seed=11)
        for i in range(per_language):
            text = " ".join(rng.sample(sentences, rng.choice((1, 1, 2, 3))))
            speech = synthesize(text, language, rng.choice(sorted(VARIANTS)))
            audio = soxr.resample(speech.audio, speech.sample_rate, 16_000).astype(np.float32)
            rows.append(dnsmos.windows(audio)[0])  # as synthesised: digital silence between words
            rt60 = rng.choice((None, None, 0.3, 0.6, 1.2))
            if rt60 is not None:
                audio = apply_scene(audio, 16_000, Scene(rt60_s=rt60, rir_seed=i))
            snr = rng.choice((None, 30.0, 15.0, 5.0, 0.0, -5.0))
            if snr is not None:
                _, noise = bank.entries[i % len(bank)]
                audio = mix_noise(audio, noise, weight_for_snr_db(snr), 1_600 * i).audio
            audio = audio * rng.choice((0.3, 1.0, 2.0))
            rows.append(dnsmos.windows(audio)[0])  # the full window: the percentile pools rows of one length
    return rows


def calibrate(path: Path) -> None:
    from onnxruntime.quantization import CalibrationDataReader

    from transforms.attributes import dnsmos

    class Reader(CalibrationDataReader):
        def __init__(self, rows: list[np.ndarray]) -> None:
            self.rows = iter(rows)

        def get_next(self):
            row = next(self.rows, None)
            return None if row is None else {"input_1": row[None]}

    rows = calibration_windows()
    print(f"calibrating on {len(rows)} generated windows ({sum(r.size for r in rows) / 16_000:.0f} s)", flush=True)
    dnsmos.write_int8_ranges(Reader(rows), path)
    print(f"wrote {path}", flush=True)


def measure() -> dict:
    from bench import real_speech
    from bench.attributes import noise_levels, to_16k
    from transforms.attributes import dnsmos, words
    from transforms.tts.scene import noise_bank

    paths = real_speech.fetch(Path.home() / ".cache" / "clara-corpus" / "real-speech")
    clips = [real_speech.load_clip(paths[c.source], c) for c in real_speech.CLIPS]
    sonnet = next(c for c in real_speech.CLIPS if c.start_s is not None).source
    whole = real_speech.load_clip(paths[sonnet], real_speech.Clip(sonnet))
    start = 2.68  # the sonnet's first line
    clips += [whole[int((start + 9.5 * k) * 48_000) : int((start + 9.5 * (k + 1)) * 48_000)] for k in range(5)]
    bank = noise_bank(48_000)
    inputs = []  # (clip, noise, level, 16 kHz audio)
    for c, audio in enumerate(clips):
        inputs += [(c, n, level, to_16k(mixed)) for n, level, mixed in noise_levels(audio, bank)]
    scores, cpu = {}, {}
    for precision in ("fp32", "int8"):
        dnsmos.estimate_dnsmos(inputs[0][3], precision=precision)  # the session, built once
        started = time.process_time()
        scores[precision] = [dnsmos.estimate_dnsmos(x[3], precision=precision) for x in inputs]
        cpu[precision] = time.process_time() - started
    out = {"clips": len(clips), "inputs": len(inputs), "audio_s": round(sum(x[3].size for x in inputs) / 16_000, 1),
           "cpu_s": {k: round(v, 1) for k, v in cpu.items()}, "speedup": round(cpu["fp32"] / cpu["int8"], 2)}  # fmt: skip
    for name in ("ovrl", "sig", "bak"):
        diff = np.abs([getattr(a, name) - getattr(b, name) for a, b in zip(scores["int8"], scores["fp32"])])
        out[f"abs_diff_{name}"] = {"mean": round(float(diff.mean()), 3), "p95": round(float(np.quantile(diff, 0.95)), 3),
                                   "max": round(float(diff.max()), 3)}  # fmt: skip
    same = sum(
        words.quality_level(a.ovrl) == words.quality_level(b.ovrl) for a, b in zip(scores["int8"], scores["fp32"])
    )
    out["quality_word_same_percent"] = round(100 * same / len(inputs), 1)
    for precision in ("fp32", "int8"):
        by = {(c, n, level): s.ovrl for (c, n, level, _), s in zip(inputs, scores[precision])}
        ordered = sum(int(by[(c, -1, "clean")] > by[(c, n, "noisy")]) + int(by[(c, n, "noisy")] > by[(c, n, "very_noisy")])
                      for c in range(len(clips)) for n in range(len(bank.entries)))  # fmt: skip
        out[f"ordered_percent_{precision}"] = round(100 * ordered / (2 * len(clips) * len(bank.entries)), 1)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--calibrate", action="store_true", help="write the int8 ranges again (from generated speech) first")
    args = p.parse_args()
    from transforms.attributes import dnsmos

    if args.calibrate:
        calibrate(dnsmos.INT8_RANGES)
    found = measure()
    print(json.dumps(found, indent=1), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dnsmos_int8.json").write_text(json.dumps(found, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
