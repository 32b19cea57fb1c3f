"""Streaming decode under a budget: each hostile kind ends as a reason or lands bounded."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from tests.robust import hostile
from transforms.audio import AudioError
from transforms.decode_stream import AudioStream, DecodeLimits, decode_bytes, decode_to_48k

FAST = DecodeLimits(expansion_floor_bytes=8 << 20)
"""Default limits, but expansion is judged from 8 MiB of PCM on (the default waits for 64 MiB)."""


def reason(data: bytes, limits: DecodeLimits = FAST) -> str:
    with pytest.raises(AudioError) as caught:
        decode_to_48k(data, limits)
    return caught.value.reason


def test_constant_flac_frames_that_decode_to_hours_are_refused_as_suspicious_expansion():
    data = hostile.constant_flac(2.9 * 3600)  # ~112 KB
    assert len(data) < 130_000
    assert reason(data) == "suspicious_expansion"


def test_a_192_khz_stereo_constant_flac_is_refused_before_it_allocates_gigabytes():
    assert reason(hostile.constant_flac(1200, rate=192_000, channels=2)) == "suspicious_expansion"


def test_an_ogg_opus_of_two_byte_packets_is_refused_as_suspicious_expansion():
    assert reason(hostile.tiny_packet_opus(3600)) == "suspicious_expansion"


def test_decoding_stops_at_the_duration_cap_however_long_the_stream_claims_to_be():
    data = hostile.constant_flac(600)
    assert reason(data, DecodeLimits(max_duration_s=30.0)) == "too_long"


@pytest.mark.parametrize("rate", [1, 8, 100])
def test_a_wav_with_a_1_to_100_hz_rate_is_a_bad_sample_rate(rate):
    assert reason(hostile.wav_with_rate(rate)) == "bad_sample_rate"


def test_an_aiff_at_1_hz_is_a_bad_sample_rate():
    assert reason(hostile.aiff_with_rate(1.0)) == "bad_sample_rate"


def test_a_stream_without_a_decoder_is_unsupported_codec_not_an_attribute_error():
    assert reason(hostile.wav_without_decoder()) == "unsupported_codec"


def test_a_piped_flac_with_zero_total_samples_lands_whole():
    good = hostile.encoded(hostile.speech_like(5.0, 44_100), 44_100, "FLAC")
    audio, info = decode_to_48k(hostile.with_flac_total(good, 0), FAST)
    reference, _ = decode_to_48k(good, FAST)
    assert len(audio) == 5 * 48_000 and np.array_equal(audio, reference)
    assert info.header_frames is None and info.note() is None


def test_a_flac_whose_header_understates_its_length_lands_whole_and_says_so():
    good = hostile.encoded(hostile.speech_like(6.0, 44_100), 44_100, "FLAC")
    audio, info = decode_to_48k(hostile.with_flac_total(good, 2 * 44_100), FAST)
    assert len(audio) == 6 * 48_000
    assert info.note()["header_duration_s"] == 2.0 and info.note()["decoded_duration_s"] == 6.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: hostile.with_flac_total(hostile.encoded(hostile.speech_like(3.0, 16_000), 16_000, "FLAC"), 1 << 35),
        lambda: hostile.tiny_packet_opus(3.0, last_granule=48_000 * 3600 * 20),
    ],
    ids=["flac-total-samples", "ogg-last-granule"],
)
def test_length_fields_that_lie_are_never_allocated_and_the_disagreement_is_recorded(make):
    audio, info = decode_to_48k(make(), FAST)
    assert 2.5 * 48_000 < len(audio) < 3.5 * 48_000
    assert info.note()["header_duration_s"] > 3600


def test_an_m4a_replaying_one_aac_frame_stops_at_the_cap():
    assert reason(hostile.replayed_frame_m4a(3000), DecodeLimits(max_duration_s=20.0)) == "too_long"


def test_a_wav_whose_data_size_overstates_lands_with_the_audio_it_holds():
    audio, _ = decode_to_48k(hostile.wav_with_data_size(0x7FFFFFF0), FAST)
    assert len(audio) == 2 * 48_000


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate", "channels"),
    [
        ("WAV", "PCM_16", 44_100, 1),
        ("WAV", "PCM_16", 22_050, 2),
        ("FLAC", "PCM_24", 96_000, 2),
        ("OGG", "VORBIS", 44_100, 2),
        ("OGG", "OPUS", 48_000, 1),
        ("MP3", "MPEG_LAYER_III", 44_100, 2),
        ("WAV", "FLOAT", 16_000, 6),
    ],
)
def test_ordinary_files_decode_to_exactly_the_samples_a_one_shot_decode_and_resample_gives(
    fmt, subtype, rate, channels
):
    source = np.stack([hostile.speech_like(7.3, rate) * (0.5 + 0.1 * c) for c in range(channels)], axis=1)
    data = hostile.encoded(source, rate, fmt, subtype)
    blocks = DecodeLimits(block_frames=4096)  # many blocks: every block edge must be invisible
    streamed, info = decode_to_48k(data, blocks)
    whole = decode_bytes(data, 60.0)  # native rate, one array
    one_shot = whole.audio if rate == 48_000 else soxr.resample(whole.audio, rate, 48_000, quality="HQ")
    assert np.array_equal(streamed, one_shot.astype(np.float32))
    assert info.note() is None


def test_a_tts_rate_stream_resampled_in_blocks_equals_one_shot_soxr_bit_for_bit():
    audio = hostile.speech_like(12.0, 22_050)
    stream = AudioStream(hostile.encoded(audio, 22_050, "WAV", "FLOAT"), DecodeLimits(block_frames=1000))
    streamed = np.concatenate(list(stream.blocks_48k()))
    assert np.array_equal(streamed, soxr.resample(audio, 22_050, 48_000, quality="HQ"))


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 7, 8, 12])
def test_downmix_is_numpys_mean_bit_for_bit(channels):
    from transforms.decode_stream import to_mono

    rng = np.random.default_rng(channels)
    audio = (rng.standard_normal((50_001, channels)) * rng.uniform(1e-3, 4.0, channels)).astype(np.float32)
    assert to_mono(audio).tobytes() == np.ascontiguousarray(audio.mean(axis=1), dtype=np.float32).tobytes()


def test_large_inputs_are_read_in_place_and_small_ones_through_bytesio():
    from transforms import decode_stream

    assert isinstance(decode_stream._reader(bytearray(100)), decode_stream._Bytes)
    assert isinstance(decode_stream._reader(b"x" * 100), decode_stream._Bytes)
    big = bytearray(decode_stream._COPY_BELOW + 1)
    assert isinstance(decode_stream._reader(big), decode_stream._Reader)
    for reader in (decode_stream._Bytes(b"abcdef"), decode_stream._Reader(b"abcdef")):  # seeks as a file's
        assert reader.seek(-3, 0) == 0 and reader.seek(-10, 2) == 0 and reader.seek(2, 1) == 2
        assert reader.seek(-1, 2) == 5 and reader.read(5) == b"f"
