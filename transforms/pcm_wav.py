"""Ordinary 16-bit PCM WAV, decoded with numpy: the fast path inside the decode boundary.

The decode child (:mod:`transforms.decode_worker`) exists because native decoders can hang, crash
or balloon on hostile bytes. :meth:`DecodeWorker.decode <transforms.decode_worker.DecodeWorker.decode>`
tries this module first: no native parser runs here, so there is nothing to isolate, and the
contract is the child's (the same limits, the same samples, the same stream info). A RIFF/WAVE file whose chunk headers this module has all checked, holding 16-bit integer
PCM in one ``data`` chunk that lies inside the file, needs no native decoder: its samples are the
chunk's bytes read as little-endian int16 and scaled by 2**-15, exactly what libsndfile returns
(the scale is a power of two: no rounding), downmixed and resampled by the same numpy and soxr
calls as the child's, so the 48 kHz samples are the child's, bit for bit.

Anything else returns None and goes to the child, which decides it (and names any failure's
reason), so a file refused here is refused for the child's reason: another encoding or bit depth, a
length that disagrees with the file, a chunk running past the end, a rate or channel count outside
the limits, more audio than the child reads in one block. Memory is bounded by the file (at most
``MAX_BYTES``), time by one pass over it.
"""

from __future__ import annotations

import struct

import numpy as np
import soxr

from schemas import SAMPLE_RATE
from transforms.decode_stream import DecodeLimits, StreamInfo, to_mono

MAX_BYTES = 64 << 20
"""Larger files go to the child (which streams them)."""
_BLOCK_BUDGET = 32 << 20
"""The child reads a file whose frames fit this many bytes of float32 as one block (decode_stream)."""
_PCM_GUID = bytes.fromhex("0100000000001000800000aa00389b71")
_CHUNK = struct.Struct("<4sI")
_FMT = struct.Struct("<HHIIHH")


def _layout(data: bytes | bytearray, limits: DecodeLimits) -> tuple[int, int, int, int] | None:
    """(data offset, frames, channels, rate) of an ordinary 16-bit PCM WAV, else None."""
    size = len(data)
    if size < 44 or size > MAX_BYTES or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    if struct.unpack_from("<I", data, 4)[0] + 8 != size:
        return None
    fmt = found = None
    offset = 12
    while offset + 8 <= size:
        name, length = _CHUNK.unpack_from(data, offset)
        body, end = offset + 8, offset + 8 + length + (length & 1)
        if end > size + (length & 1):  # a chunk may not run past the end (a final pad byte may be missing)
            return None
        if name == b"fmt ":
            if fmt is not None or found is not None or length < 16:
                return None
            fmt = _FMT.unpack_from(data, body) + ((bytes(data[body + 24 : body + 40]),) if length >= 40 else (b"",))
        elif name == b"data":
            if found is not None or fmt is None:
                return None
            found = (body, length)
        offset = end
    if fmt is None or found is None or offset < size:
        return None
    tag, channels, rate, byte_rate, block_align, bits = fmt[:6]
    if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: PCM only
        tag = 1 if fmt[6] == _PCM_GUID else 0
    ordinary = (
        tag == 1
        and bits == 16
        and 1 <= channels <= limits.max_channels
        and limits.min_sample_rate <= rate <= limits.max_sample_rate
        and block_align == 2 * channels
        and byte_rate == rate * block_align
    )
    frames = found[1] // block_align if ordinary else 0
    if not ordinary or frames < 1 or frames > limits.max_duration_s * rate:
        return None
    if frames + 1 > _BLOCK_BUDGET // (4 * channels):  # the child would stream it in blocks
        return None
    return found[0], frames, channels, rate


def read_pcm16_wav(data: bytes | bytearray, limits: DecodeLimits | None = None) -> tuple[np.ndarray, StreamInfo] | None:
    """(mono float32 at 48 kHz, stream info) of an ordinary 16-bit PCM WAV, as the decode child
    gives them, or None."""
    layout = _layout(data, limits or DecodeLimits())
    if layout is None:
        return None
    offset, frames, channels, rate = layout
    pcm = np.frombuffer(data, dtype="<i2", count=frames * channels, offset=offset)
    audio = pcm.astype(np.float32) * np.float32(1.0 / 32768)
    if channels > 1:
        audio = to_mono(audio.reshape(frames, channels))
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE, quality="HQ")
    info = StreamInfo(rate, channels, "numpy/WAV/PCM_16", frames, decoded_frames=frames, output_samples=len(audio))
    return audio, info


def decode_pcm16_wav(data: bytes | bytearray, limits: DecodeLimits | None = None) -> np.ndarray | None:
    """Mono float32 at 48 kHz of an ordinary 16-bit PCM WAV (the decode child's samples), or None."""
    read = read_pcm16_wav(data, limits)
    return None if read is None else read[0]
