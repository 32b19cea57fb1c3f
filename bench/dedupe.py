"""The cost and the reach of the dedupe fingerprint (transforms/fingerprint.py, pipelines/dedupe.py).

    python bench/dedupe.py [--clips 40] [--seconds 6] [--rounds 3]

Printed, each measured in this one run:

- **cost**, in seconds of audio per second on one core (best of ``--rounds``; the 2 cores here are
  shared, so the best round is the least disturbed):
  ``fingerprint``: 48 kHz float32 in memory -> 64-byte print (what --dedupe-audio adds per item on
  top of decoding); ``decode + fingerprint``: a WAV file's bytes through the isolated decode stage
  (the child process the build uses) and the fingerprint, i.e. the whole extra pass;
  ``buckets``: prints filed and matched per second by ``match_bucket`` (the grouped step).
- **reach**: the bit distance of copies (resampled, gain, MP3 32/64 kbit/s, Opus 24 kbit/s,
  10 ms of leading silence), of unrelated clips, and whether each copy shares an LSH bucket with
  its original (what decides that the Beam step ever compares them).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from pipelines.dedupe import AudioPrint, match_bucket
from schemas import SourceItem
from tests.quality_dedup.conftest import mp3_bytes, recording
from transforms.decode import DecodeStage
from transforms.decode_stream import DecodeLimits, decode_to_48k
from transforms.fingerprint import MAX_DISTANCE, bucket_keys, fingerprint

RATE = 48_000


def opus_bytes(audio: np.ndarray, rate: int = RATE, bit_rate: int = 24_000) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate)
        stream.bit_rate = bit_rate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(audio[None, :].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


def decoded(data: bytes) -> np.ndarray:
    return decode_to_48k(data, DecodeLimits())[0]


def clips(count: int, seconds: float) -> list[np.ndarray]:
    """Half espeak-ng speech (one sentence each), half tone bursts over noise; 48 kHz."""
    from transforms.tts import synthesize

    out = []
    for i in range(count):
        if i % 2:
            audio = resample_poly(recording(i, seconds), 160, 147)
        else:
            words = " ".join(SENTENCE_WORDS[(i * 7 + j) % len(SENTENCE_WORDS)] for j in range(12))
            speech = synthesize(f"clip {i}: {words}", "en")  # the number keeps every sentence apart
            g = np.gcd(RATE, speech.sample_rate)
            audio = resample_poly(speech.audio.astype(np.float64), RATE // g, speech.sample_rate // g)
        out.append(np.asarray(audio, dtype=np.float32))
    return out


SENTENCE_WORDS = (
    "the quick brown fox jumps over a lazy dog while seven small birds sing in the old garden "
    "near our house before rain falls on green hills and people walk home slowly"
).split()


def cost(audio: list[np.ndarray], rounds: int) -> dict[str, float]:
    """Seconds of audio per second of each variant, best of ``rounds`` alternating rounds."""
    seconds = sum(len(a) for a in audio) / RATE
    with tempfile.TemporaryDirectory() as folder:
        items = []
        for i, a in enumerate(audio):
            path = Path(folder) / f"{i}.wav"
            sf.write(path, resample_poly(a, 147, 160).astype(np.float32), 44_100, subtype="PCM_16")
            items.append(SourceItem(key=f"k{i}", uri=str(path), dataset="bench", source_id=str(i)))
        stage = DecodeStage()
        stage.setup()
        stage.process_items(items[:1])  # the decode child starts once per worker, not per item
        prints = [fingerprint(a) for a in audio]
        records = [AudioPrint(f"k{i:05d}", p.bits, p.duration_s) for i, p in enumerate(prints)] * 25
        variants = {
            "fingerprint": lambda: [fingerprint(a) for a in audio],
            "decode": lambda: stage.process_items(items),
            "decode + fingerprint": lambda: [fingerprint(s.audio) for s in stage.process_items(items)[0]],
            "matching": lambda: list(match_bucket(("b", records))),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, work in variants.items():
                started = time.perf_counter()
                work()
                times[name].append(time.perf_counter() - started)
    figures = {name: seconds / min(t) for name, t in times.items() if name != "matching"}
    figures["bucket prints/s"] = len(records) / min(times["matching"])
    return figures


def reach(audio: list[np.ndarray]) -> None:
    variants = {
        "resampled 22.05 kHz": lambda a: resample_poly(resample_poly(a, 147, 320), 320, 147),
        "resampled 16 kHz": lambda a: resample_poly(resample_poly(a, 1, 3), 3, 1),
        "gain -6 dB": lambda a: a * 10 ** (-6 / 20),
        "gain +3 dB": lambda a: a * 10 ** (3 / 20),
        "mp3 64k 44.1 kHz": lambda a: decoded(mp3_bytes(resample_poly(a, 147, 160).astype(np.float32), 44_100)),
        "mp3 32k 16 kHz": lambda a: decoded(mp3_bytes(resample_poly(a, 1, 3).astype(np.float32), 16_000, 32_000)),
        "opus 24k": lambda a: decoded(opus_bytes(a)),
        "10 ms leading silence": lambda a: np.concatenate([np.zeros(480, np.float32), a]),
    }
    originals = [fingerprint(a) for a in audio]
    print(f"\ncopies (distance: share of differing bits; match <= {MAX_DISTANCE}; bucket: share an LSH bucket)")
    print(f"  {'variant':24s} {'mean':>6s} {'max':>6s} {'matched':>8s} {'bucketed':>9s}")
    for name, make in variants.items():
        d, matched, bucketed = [], 0, 0
        for a, fp in zip(audio, originals, strict=True):
            copy = fingerprint(np.asarray(make(a), dtype=np.float32))
            d.append(fp.distance(copy))
            matched += fp.matches(copy)
            bucketed += bool(set(bucket_keys(fp)) & set(bucket_keys(copy)))
        n = len(audio)
        print(f"  {name:24s} {np.mean(d):6.3f} {max(d):6.3f} {matched:>4d}/{n:<3d} {bucketed:>5d}/{n:<3d}")
    unrelated = [a.distance(b) for i, a in enumerate(originals) for b in originals[:i]]
    print(
        f"  {'unrelated pairs':24s} {np.mean(unrelated):6.3f}  min {min(unrelated):.3f}"
        f"  ({sum(d <= MAX_DISTANCE for d in unrelated)} of {len(unrelated)} within the match distance)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    audio = clips(args.clips, args.seconds)
    figures = cost(audio, args.rounds)
    total = sum(len(a) for a in audio) / RATE
    print(f"{args.clips} clips, {total:.0f} s of audio; best of {args.rounds} rounds, one process")
    for name in ("fingerprint", "decode", "decode + fingerprint"):
        print(f"  {name:24s} {figures[name]:8.0f} s-audio/s")
    print(f"  {'bucket matching':24s} {figures['bucket prints/s']:8.0f} prints/s (one bucket of {args.clips * 25})")
    print(
        f"  the fingerprint adds {figures['decode'] / figures['fingerprint']:.2f}x the decode time; "
        f"the dedupe pass runs at {figures['decode + fingerprint'] / figures['decode']:.2f}x the speed of decoding alone"
    )
    reach(audio)


if __name__ == "__main__":
    main()
