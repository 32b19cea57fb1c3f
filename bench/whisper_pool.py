"""The pooled Whisper fusion's front end against the bare library loop and the frames it replaced.

    python bench/whisper_pool.py [--clips 16] [--seconds 10] [--whisper bundled:base]

One batch of ``--clips`` clips (48 kHz, lengths from ``--seconds`` down by 0.1 s a clip, so the
padding is real) through, on one thread:

- ``bare``: faster-whisper's own loop, ``feature_extractor`` + ``WhisperModel.encode`` per clip at
  16 kHz (what a user would write; no cache, nothing pooled);
- ``first``: ``WhisperFrames.clip_vectors`` on a cold cache (resample, encode, clip vector, cache);
- ``cached``: the same batch again (every clip a lookup: what every epoch after the first costs with
  ``data.max_audio_s`` at least the longest clip), as int16 PCM, the way training batches arrive;
- ``frames``: the path the pooled fusion took before (session 13's runs): the cached frames repeated to
  the log-mel's rate (``[B, frames, dim]``) and their masked mean and spread.

Prints seconds per batch, the ratios (``bare / first``, ``frames / cached``), the largest difference
between the two ways of pooling, and the cache's bytes per clip for each. The demo trains at batch 64:
the ``frames`` path was paid at every training step.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--whisper", default="bundled:base")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats of the cached and frames paths")
    args = p.parse_args()

    import soxr

    from model.audio import frame_count
    from model.layers import masked_mean
    from model.whisper_frames import WHISPER_RATE, WhisperFrames, load_whisper

    torch.set_num_threads(1)
    rate, hop = 48_000, 512
    g = torch.Generator().manual_seed(0)
    longest = int(args.seconds * rate)
    lengths = torch.tensor([max(rate // 10, longest - i * rate // 10) for i in range(args.clips)])
    pcm = (torch.randn(args.clips, longest, generator=g) * 0.2 * 32767).clamp(-32768, 32767).to(torch.int16)
    for i, length in enumerate(lengths.tolist()):
        pcm[i, length:] = 0
    wave = pcm.float() / 32768.0  # what LogMel turns a batch into before the frames path
    model = load_whisper(args.whisper, "cpu")
    probe = WhisperFrames(args.whisper, 0, rate, hop, cache_size=0)
    dim = probe.encode_clip(wave[0, :rate].numpy(), "cpu").shape[1]
    stem = WhisperFrames(args.whisper, dim, rate, hop)
    pooled = WhisperFrames(args.whisper, dim, rate, hop, pooled=True)
    total = int(frame_count(longest, hop))
    mask = torch.arange(total)[None] < frame_count(lengths, hop)[:, None]

    def bare() -> None:
        for i, length in enumerate(lengths.tolist()):
            audio = soxr.resample(wave[i, :length].numpy(), rate, WHISPER_RATE)
            mel = model.feature_extractor(audio)
            model.encode(np.ascontiguousarray(mel[:, : mel.shape[1] - mel.shape[1] % 2][None]))

    def frames() -> torch.Tensor:
        repeated = stem(wave, lengths, total)
        mean = masked_mean(repeated, mask)
        spread = masked_mean((repeated - mean[:, None]).square(), mask).clamp_min(1e-8).sqrt()
        return torch.cat([mean, spread], dim=-1)

    def timed(fn) -> tuple[float, object]:
        start = time.perf_counter()
        out = fn()
        return time.perf_counter() - start, out

    bare_s, _ = timed(bare)
    first_s, vectors = timed(lambda: pooled.clip_vectors(pcm, lengths))
    frames()  # fills the frames' cache
    cached_s = frames_s = 0.0
    for _ in range(args.repeats):
        cached_s += timed(lambda: pooled.clip_vectors(pcm, lengths))[0] / args.repeats
        seconds, old = timed(frames)
        frames_s += seconds / args.repeats
    report = {
        "clips": args.clips,
        "seconds": args.seconds,
        "whisper": args.whisper,
        "bare_s": round(bare_s, 3),
        "first_s": round(first_s, 3),
        "cached_s": round(cached_s, 4),
        "frames_s": round(frames_s, 4),
        "bare_over_first": round(bare_s / first_s, 2),
        "frames_over_cached": round(frames_s / cached_s, 1),
        "bare_over_cached": round(bare_s / cached_s, 1),
        "max_abs_difference": float((vectors - old).abs().max()),
        "cache_bytes_per_clip": {
            "frames": int(sum(v.nbytes for v in stem._cache.values()) / args.clips),
            "clip_vectors": int(sum(v.nbytes for v in pooled._cache.values()) / args.clips),
        },
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
