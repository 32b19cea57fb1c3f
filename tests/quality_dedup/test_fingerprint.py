"""The audio fingerprint: copies through resampling, gain and MP3 match; other recordings don't."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from pipelines.dedupe import AudioPrint, match_bucket
from tests.quality_dedup.conftest import mp3_bytes, recording
from transforms.fingerprint import BITS, MAX_DISTANCE, bucket_keys, fingerprint


def decoded(data: bytes) -> tuple[np.ndarray, int]:
    from transforms.decode_stream import DecodeLimits, decode_to_48k

    audio, _ = decode_to_48k(data, DecodeLimits())
    return audio, 48_000


def test_a_fingerprint_has_a_fixed_size_whatever_the_duration():
    short, long = fingerprint(recording(1, 0.5), 44_100), fingerprint(recording(1, 30.0), 44_100)
    assert len(short.bits) == len(long.bits) == BITS // 8
    assert short.duration_s == 0.5 and long.duration_s == 30.0


def test_resampled_quieter_and_mp3_copies_are_within_the_distance_and_share_a_bucket():
    audio = recording(7)
    original = fingerprint(audio, 44_100)
    copies = {
        "resampled 16 kHz": fingerprint(resample_poly(audio, 160, 441), 16_000),
        "-6 dB": fingerprint(audio * 10 ** (-6 / 20), 44_100),
        "+3 dB": fingerprint(audio * 10 ** (3 / 20), 44_100),
        "mp3 64k": fingerprint(*decoded(mp3_bytes(audio, 44_100))),
    }
    for name, copy in copies.items():
        assert original.matches(copy), (name, original.distance(copy))
        assert set(bucket_keys(original)) & set(bucket_keys(copy)), name


def test_different_recordings_are_far_apart():
    prints = [fingerprint(recording(seed), 44_100) for seed in range(6)]
    nearest = min(a.distance(b) for i, a in enumerate(prints) for b in prints[:i])
    assert nearest > MAX_DISTANCE + 0.1


def test_a_recording_and_its_flac_at_48k_have_the_same_bits():
    audio = recording(3)
    buffer = io.BytesIO()
    sf.write(buffer, resample_poly(audio, 160, 147).astype(np.float32), 48_000, format="FLAC", subtype="PCM_16")
    again, rate = sf.read(io.BytesIO(buffer.getvalue()), dtype="float32")
    assert fingerprint(audio, 44_100).distance(fingerprint(again, rate)) <= 0.01


def test_the_first_key_lands_whatever_order_a_bucket_arrives_in():
    fp = fingerprint(recording(5), 44_100)
    prints = [AudioPrint(key, fp.bits, fp.duration_s) for key in ("k3", "k1", "k2")]
    forward = dict(match_bucket(("b", prints)))
    backward = dict(match_bucket(("b", prints[::-1])))
    assert forward == backward
    assert sorted(forward) == ["k2", "k3"] and {v.of for v in forward.values()} == {"k1"}


def test_an_eval_print_removes_the_train_item_and_is_never_removed_itself():
    fp = fingerprint(recording(5), 44_100)
    prints = [
        AudioPrint("k1", fp.bits, fp.duration_s),
        AudioPrint("esc50/1-1-A-0.wav", fp.bits, fp.duration_s, "esc50"),
    ]
    verdicts = dict(match_bucket(("b", prints)))
    assert list(verdicts) == ["k1"]
    assert verdicts["k1"].reason == "eval_overlap" and verdicts["k1"].of == "esc50: esc50/1-1-A-0.wav"


def test_a_spooled_long_recording_is_fingerprinted_in_blocks_with_the_same_bits(monkeypatch):
    """A long item carried on disk (transforms/spooled) is read a block at a time, never whole."""
    from transforms import fingerprint as fingerprint_module
    from transforms.spooled import SpooledAudio

    rng = np.random.default_rng(7)
    n = 48_000 * 130  # more than two of the fingerprint's 60-s blocks
    audio = (rng.standard_normal(n) * np.sin(np.arange(n) / 48_000 * 2.0)).astype(np.float32)
    spooled = SpooledAudio.from_array(audio)
    reads: list[int] = []
    whole = SpooledAudio.__array__

    def counted(self, *args, **kwargs):
        reads.append(len(self))
        return whole(self, *args, **kwargs)

    monkeypatch.setattr(SpooledAudio, "__array__", counted)
    got = fingerprint(spooled)
    assert reads == []  # only slices of a block were read, never the recording as one array
    assert got.duration_s == 130.0
    assert got.distance(fingerprint(audio)) == 0.0
    assert fingerprint_module.STREAM_BLOCK_S * 48_000 < n
