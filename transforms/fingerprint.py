"""An audio fingerprint for exact and near-duplicate detection (resampling, gain, re-encoding).

The bits are the Philips robust hash (Haitsma & Kalker, "A Highly Robust Audio Fingerprinting
System", ISMIR 2002, §4.2): the sign of the energy difference between adjacent bands, differenced
again between adjacent time steps. Two differences of log energies cancel any gain; the bands lie
between 300 Hz and 3 kHz, which every sample rate >= 8 kHz and every usual codec (MP3, Opus, AAC at
speech bitrates) keep.

Unlike Philips (one 32-bit word per 11.6 ms frame, matched by sliding), the time axis here is the
recording's own length cut into ``TIME_STEPS`` equal spans, each span's band energies averaged
over its frames. So every fingerprint has the same size (``BITS`` bits, 64 bytes) whatever the
duration — what lets (key, fingerprint) records cross a shuffle at 100 M items — and copies of one
recording are compared bit by bit without searching an offset (a codec's few ms of padding moves
a span by a fraction of a percent). It catches whole-recording duplicates; a clip cut out of a
longer recording is not one.

Chromaprint (``fpcalc``) was the other candidate: it is not on PyPI as a wheel (``pyacoustid`` needs
the C library from the system), and its chroma features describe music, not speech or sound events.

Matching (:func:`distance`): the share of differing bits; copies score ~0-0.1, unrelated
recordings ~0.5. :func:`bucket_keys` cuts the bits into bands for locality-sensitive hashing, so
that the Beam step (``pipelines/dedupe.py``) compares only recordings that share a band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

from schemas import SAMPLE_RATE

ANALYSIS_RATE = 8_000
"""Fingerprints are computed at 8 kHz: every source rate and codec keeps what lies below 4 kHz."""
N_FFT = 512
BANDS = 17
"""Log-spaced bands between ``LOW_HZ`` and ``HIGH_HZ``: 16 band differences per time step."""
LOW_HZ, HIGH_HZ = 300.0, 3000.0
FLOOR = 10 ** (-50 / 10)
"""Band energies are floored 50 dB under the clip's loudest span and band."""
TIME_STEPS = 33
"""Spans of the recording: 32 time differences x 16 band differences = 512 bits."""
BITS = (TIME_STEPS - 1) * (BANDS - 1)
MAX_DISTANCE = 0.25
"""Share of differing bits up to which two recordings are the same audio (measured: copies
through MP3/Opus 0-0.2, unrelated recordings 0.43-0.55; bench/dedupe.py)."""
BAND_BITS = 22
"""Bits per LSH band (:func:`bucket_keys`)."""
LSH_BANDS = 12
"""Bands a fingerprint is filed under (12 x 22 of its 512 bits)."""
PROBE_BITS = 2
"""Each band is also filed with its ``PROBE_BITS`` least reliable bits flipped (multi-probe LSH)."""
DURATION_TOLERANCE = 0.03
"""Copies of one recording differ in length by codec padding only: within 3 % (or 0.1 s)."""
MIN_DURATION_SLACK_S = 0.1


@dataclass(frozen=True)
class Fingerprint:
    """One recording's fingerprint: ``BITS`` bits packed into bytes, and its duration."""

    bits: bytes
    duration_s: float
    strength: tuple[int, ...] = ()
    """Per bit, |difference| in 0.01 dB steps: how far it was from flipping (not kept in records)."""

    def distance(self, other: Fingerprint) -> float:
        return distance(self.bits, other.bits)

    def same_length(self, other: Fingerprint) -> bool:
        a, b = self.duration_s, other.duration_s
        return abs(a - b) <= max(MIN_DURATION_SLACK_S, DURATION_TOLERANCE * max(a, b))

    def matches(self, other: Fingerprint, max_distance: float = MAX_DISTANCE) -> bool:
        return self.same_length(other) and self.distance(other) <= max_distance


def _band_edges() -> np.ndarray:
    """FFT bin index where each log-spaced band starts (and where the last one ends)."""
    edges_hz = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)
    return np.searchsorted(np.fft.rfftfreq(N_FFT, 1.0 / ANALYSIS_RATE), edges_hz)


_EDGES = _band_edges()
FRAMES_PER_BLOCK = 4096
"""STFT frames transformed at once (~8 MB): an hour at 8 kHz is 112,500 frames."""
_WINDOW = np.hanning(N_FFT).astype(np.float32)


STREAM_BLOCK_S = 60
"""A recording that is not an in-memory array (a long item spooled to disk, ``transforms/spooled``)
is read, downmixed and resampled this many seconds at a time: only its 8 kHz copy is held."""


def _analysis_signal(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at ``ANALYSIS_RATE``; a spooled recording never comes into memory whole."""
    if isinstance(audio, np.ndarray):
        x = np.asarray(audio, dtype=np.float32)
        if x.ndim > 1:
            x = x.mean(axis=1)
        if sample_rate != ANALYSIS_RATE:
            x = soxr.resample(x, sample_rate, ANALYSIS_RATE, quality="LQ")
        return x
    n, step = len(audio), max(1, int(sample_rate * STREAM_BLOCK_S))
    resampler = soxr.ResampleStream(sample_rate, ANALYSIS_RATE, 1, dtype="float32", quality="LQ")
    parts = []
    for start in range(0, n, step):
        block = np.asarray(audio[start : start + step], dtype=np.float32)
        if block.ndim > 1:
            block = block.mean(axis=1)
        if sample_rate == ANALYSIS_RATE:
            parts.append(block)
        else:
            parts.append(resampler.resample_chunk(block, last=start + step >= n))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def band_energies(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(TIME_STEPS, BANDS) mean band power of each span of the recording (mono float)."""
    x = _analysis_signal(audio, sample_rate)
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    # A hop small enough that every span gets a few frames, even for sub-second clips.
    hop = int(np.clip((x.size - N_FFT) // (TIME_STEPS * 4), 16, N_FFT // 2))
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::hop]  # a view: no copy
    span_of = np.minimum((np.arange(len(frames)) * TIME_STEPS) // len(frames), TIME_STEPS - 1)
    sums = np.zeros((TIME_STEPS, BANDS))
    for start in range(0, len(frames), FRAMES_PER_BLOCK):  # bounded memory for hours-long items
        block = slice(start, start + FRAMES_PER_BLOCK)
        spectrum = np.fft.rfft(frames[block] * _WINDOW, axis=1)[:, _EDGES[0] : _EDGES[-1]]
        power = spectrum.real**2 + spectrum.imag**2
        np.add.at(sums, span_of[block], np.add.reduceat(power, _EDGES[:-1] - _EDGES[0], axis=1))
    counts = np.bincount(span_of, minlength=TIME_STEPS)[:, None]
    return sums / np.maximum(counts, 1)


def fingerprint(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Fingerprint:
    """The fingerprint of a whole recording (any rate, mono or (n, channels))."""
    n = len(audio)
    energies = band_energies(audio, sample_rate)
    # A floor 50 dB under the loudest band: bands a codec empties (or fills with its noise) read
    # as the floor in every copy, so their bits are 0 everywhere instead of coin flips.
    log_e = np.log10(energies + FLOOR * energies.max() + 1e-12)
    across_bands = log_e[:, :-1] - log_e[:, 1:]
    values = (across_bands[1:] - across_bands[:-1]).ravel()
    strength = np.where(values == 0, 65535, np.minimum(np.abs(values) * 1000, 65535)).astype(int)  # 0: floored
    return Fingerprint(
        bits=np.packbits(values > 0).tobytes(),
        duration_s=round(n / sample_rate, 3),
        strength=tuple(strength.tolist()),
    )


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def distance(a: bytes, b: bytes) -> float:
    """Share of differing bits of two fingerprints."""
    x = np.frombuffer(a, dtype=np.uint8) ^ np.frombuffer(b, dtype=np.uint8)
    return float(_POPCOUNT[x].sum()) / (len(a) * 8)


def distances(one: bytes, many: np.ndarray) -> np.ndarray:
    """Share of differing bits of ``one`` against each row of ``many`` ((n, BITS // 8) uint8)."""
    x = np.bitwise_xor(many, np.frombuffer(one, dtype=np.uint8)[None, :])
    return _POPCOUNT[x].sum(axis=1) / (many.shape[1] * 8)


def bucket_keys(fp: Fingerprint) -> list[str]:
    """Locality-sensitive bucket names of a fingerprint: ``LSH_BANDS`` x 2^``PROBE_BITS`` of them.

    Band ``i`` holds ``BAND_BITS`` bits from all over the print (``_LSH_ORDER``). Copies of a recording disagree
    mostly on bits whose energy difference was near zero, so each band is filed under every
    variant with its ``PROBE_BITS`` weakest bits flipped (multi-probe LSH, Lv et al., VLDB 2007):
    two copies meet in a band when the bits they disagree on are among either one's weakest.
    Measured (bench/dedupe.py, 40 clips of espeak speech and tone bursts): resampled and
    gain-changed copies have identical bits; copies through MP3 64 and 32 kbit/s meet in 40/40,
    with 10 ms of leading silence 38/40, through Opus 24 kbit/s 35/40. A random pair shares a given
    band with probability 4^PROBE_BITS / 2^BAND_BITS = 3.8e-6, some band with 4.6e-5.
    """
    bits = np.unpackbits(np.frombuffer(fp.bits, dtype=np.uint8))
    strength = np.asarray(fp.strength)
    keys = []
    for band in range(LSH_BANDS):
        positions = _LSH_ORDER[band * BAND_BITS : (band + 1) * BAND_BITS]
        value = int("".join(map(str, bits[positions])), 2)
        weakest = np.argsort(strength[positions], kind="stable")[:PROBE_BITS]
        for flips in range(1 << PROBE_BITS):
            variant = value
            for j, position in enumerate(weakest):
                if flips >> j & 1:
                    variant ^= 1 << (BAND_BITS - 1 - int(position))
            keys.append(f"{band}:{variant:06x}")
    return sorted(set(keys))


_LSH_ORDER = np.random.default_rng(0).permutation(BITS)
"""Bit positions of the LSH bands, scattered so that every band spans the whole recording."""
