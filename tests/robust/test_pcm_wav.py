"""Ordinary 16-bit PCM WAV decoded by numpy gives the decode child's samples, bit for bit; anything
not plainly ordinary is left to the child."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.robust import hostile
from transforms import pcm_wav
from transforms.decode_stream import DecodeLimits
from transforms.decode_worker import DecodeWorker
from transforms.pcm_wav import decode_pcm16_wav


def _chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _with_chunks(wav: bytes, before: list[bytes] = (), after: list[bytes] = ()) -> bytes:
    """The WAV with extra chunks before its ``data`` chunk and after it (RIFF size fixed)."""
    at = wav.index(b"data")
    body = wav[12:at] + b"".join(before) + wav[at:] + b"".join(after)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WAVE" + body


def _wav(seconds: float, rate: int, channels: int = 1, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    audio = hostile.speech_like(seconds, rate) * 0.8
    if channels > 1:
        audio = np.stack([audio * (1 - 0.3 * c) for c in range(channels)], axis=1)
    return hostile.encoded(audio, rate, fmt, subtype)


ORDINARY = {
    "mono 44.1 kHz, odd length": lambda: _wav(6.0001, 44_100),
    "stereo 22.05 kHz": lambda: _wav(2.5, 22_050, channels=2),
    "mono 48 kHz (no resampling)": lambda: _wav(1.0, 48_000),
    "6 channels 16 kHz": lambda: _wav(0.7, 16_000, channels=6),
    "WAVE_FORMAT_EXTENSIBLE": lambda: _wav(1.2, 32_000, channels=2, fmt="WAVEX"),
    "LIST before data, cue after": lambda: _with_chunks(
        _wav(1.1, 44_100),
        before=[_chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00test\x00")],
        after=[_chunk(b"cue ", b"x" * 5)],
    ),
}


@pytest.fixture(scope="module")
def child():
    worker = DecodeWorker(timeout_s=60)
    yield worker
    worker.close()


@pytest.mark.parametrize("name", list(ORDINARY))
def test_an_ordinary_wav_decodes_to_the_childs_samples_bit_for_bit(name: str, child: DecodeWorker) -> None:
    data = ORDINARY[name]()
    ours = decode_pcm16_wav(data)
    theirs, _ = child.decode(data, DecodeLimits())
    assert ours is not None and ours.dtype == np.float32
    assert ours.shape == theirs.shape and ours.tobytes() == theirs.tobytes()


def _riff_size(data: bytes, delta: int) -> bytes:
    return data[:4] + struct.pack("<I", struct.unpack("<I", data[4:8])[0] + delta) + data[8:]


NOT_ORDINARY = {
    "24-bit": lambda: _wav(1.0, 44_100, subtype="PCM_24"),
    "8-bit": lambda: _wav(1.0, 16_000, subtype="PCM_U8"),
    "float": lambda: _wav(1.0, 16_000, subtype="FLOAT"),
    "data chunk past the end": lambda: hostile.wav_with_data_size(0x7FFFFFF0),
    "rate of 8 Hz": lambda: hostile.wav_with_rate(8),
    "no decoder (another codec tag)": hostile.wav_without_decoder,
    "cut short": lambda: _wav(1.0, 16_000)[:-1001],
    "RIFF size too small": lambda: _riff_size(_wav(1.0, 16_000), -2),
    "bytes after the last chunk": lambda: _riff_size(_wav(1.0, 16_000) + b"xyz", 3),
    "two data chunks": lambda: _with_chunks(_wav(0.5, 16_000), after=[_chunk(b"data", b"\0\0" * 100)]),
    "a chunk running past the end": lambda: _with_chunks(_wav(0.5, 16_000), after=[b"LIST" + struct.pack("<I", 999)]),
    "FLAC": lambda: _wav(1.0, 16_000, fmt="FLAC"),
    "not audio": lambda: b"RIFF" + bytes(100),
}


@pytest.mark.parametrize("name", list(NOT_ORDINARY))
def test_anything_not_plainly_ordinary_goes_to_the_child(name: str) -> None:
    assert decode_pcm16_wav(NOT_ORDINARY[name]()) is None


def test_limits_and_size_caps_send_a_file_to_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _wav(3.0, 16_000, channels=2)
    assert decode_pcm16_wav(data) is not None
    assert decode_pcm16_wav(data, DecodeLimits(max_duration_s=2.0)) is None  # the child says too_long
    assert decode_pcm16_wav(data, DecodeLimits(max_channels=1)) is None
    monkeypatch.setattr(pcm_wav, "MAX_BYTES", len(data) - 1)
    assert decode_pcm16_wav(data) is None
