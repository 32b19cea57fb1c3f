"""FLAC encoded into a memfd (no calls back into Python) is the bytes libsndfile writes to a Python file."""

from __future__ import annotations

import threading

import numpy as np

from transforms.audio import encode_flac, encode_flac_buffered


def test_memfd_flac_is_the_buffered_bytes_for_speech_clipping_silence_and_length() -> None:
    rng = np.random.default_rng(7)
    t = np.arange(96_000) / 48_000
    cases = [
        (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
        (rng.standard_normal(48_000) * 2).astype(np.float32),  # clipped, not wrapped
        np.zeros(10, dtype=np.float32),
        (rng.standard_normal(480_001) * 0.2).astype(np.float32),
        # the float -> 16-bit rounding: half-way values (to even, as libsndfile's lrintf), both ends
        np.float32([-1.0, 1 - 1 / 32768, 0.5 / 32768, -0.5 / 32768, 1.5 / 32768, 2.5 / 32768, -1.5 / 32768] * 500),
        rng.standard_normal(20_000) * 0.3,  # float64 input
    ]
    for audio in cases * 2:  # the scratch file is reused: a short clip after a long one
        assert encode_flac(audio) == encode_flac_buffered(audio)


def test_threads_encode_into_their_own_scratch_files() -> None:
    audio = [(np.random.default_rng(i).standard_normal(48_000 * (i + 1)) * 0.1).astype(np.float32) for i in range(4)]
    expected = [encode_flac_buffered(a) for a in audio]
    got: dict[int, list[bytes]] = {}

    def work(i: int) -> None:
        got[i] = [encode_flac(a) for a in audio * 3]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(got[i] == expected * 3 for i in range(3))
