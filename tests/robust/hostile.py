"""Small hostile audio files, made byte by byte: each one a way a header or a stream can lie.

Each kind is one that mutated files turned up, rebuilt small so a test
can run dozens of them: FLACs of constant frames (65535 samples for ~13 bytes), an Ogg Opus of
TOC-only packets, an M4A whose sample table replays one AAC frame, WAV/AIFF with absurd sample
rates, FLAC/Ogg/WAV length fields that lie, a piped FLAC (0 total samples), a WAV whose codec
nobody decodes.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

# -- FLAC ---------------------------------------------------------------------------------------


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _utf8_number(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n < 0x800:
        return bytes([0xC0 | (n >> 6), 0x80 | (n & 0x3F)])
    if n < 0x10000:
        return bytes([0xE0 | (n >> 12), 0x80 | ((n >> 6) & 0x3F), 0x80 | (n & 0x3F)])
    return bytes([0xF0 | (n >> 18), 0x80 | ((n >> 12) & 0x3F), 0x80 | ((n >> 6) & 0x3F), 0x80 | (n & 0x3F)])


def _streaminfo(rate: int, channels: int, block: int, total: int) -> bytes:
    packed = (rate << 44) | ((channels - 1) << 41) | (15 << 36) | total  # 16-bit samples
    body = struct.pack(">HH", block, block) + bytes(6) + packed.to_bytes(8, "big") + bytes(16)
    return b"fLaC" + bytes([0x80, 0, 0, 34]) + body  # last metadata block, STREAMINFO


def _constant_frame(index: int, block: int, channels: int, value: int) -> bytes:
    header = bytes([0xFF, 0xF8, 0x70, ((channels - 1) << 4) | (4 << 1)])  # block size in 16 bits, 16-bit samples
    header += _utf8_number(index) + struct.pack(">H", block - 1)
    header += bytes([_crc8(header)])
    frame = header + (b"\x00" + struct.pack(">h", value)) * channels  # CONSTANT subframes
    return frame + struct.pack(">H", _crc16(frame))


def constant_flac(seconds: float, rate: int = 48_000, channels: int = 1, header_total: int | None = None) -> bytes:
    """A FLAC of constant-value frames of 65535 samples: ~13 bytes per 1.4 s at 48 kHz.

    ``header_total`` is what STREAMINFO claims (default: the truth; 0 is a piped FLAC's header).
    """
    block = 65535
    frames = max(1, int(seconds * rate) // block)
    total = frames * block if header_total is None else header_total
    body = b"".join(_constant_frame(i, block, channels, 1000 + (i % 7)) for i in range(frames))
    return _streaminfo(rate, channels, block, total) + body


def with_flac_total(data: bytes, total: int) -> bytes:
    """A FLAC's bytes with STREAMINFO's total-samples field (36 bits) replaced."""
    patched = bytearray(data)
    packed = int.from_bytes(patched[18:26], "big")
    patched[18:26] = ((packed & ~((1 << 36) - 1)) | total).to_bytes(8, "big")
    return bytes(patched)


def speech_like(seconds: float, rate: int) -> np.ndarray:
    """A tone that comes and goes (a stand-in for a good file's content)."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))).astype(np.float32)


def encoded(audio: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


# -- Ogg ----------------------------------------------------------------------------------------


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _ogg_page(packets: list[bytes], granule: int, sequence: int, flags: int) -> bytes:
    lacing = b""
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, 0x5EED, sequence, 0, len(lacing))
    page = bytearray(header + lacing + b"".join(packets))
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return bytes(page)


def tiny_packet_opus(seconds: float, last_granule: int | None = None) -> bytes:
    """An Ogg Opus stream of 2-byte packets (TOC + count: six empty 20 ms frames each), 255 to a page.

    ``last_granule`` overrides the final page's granule position (the stream's length field).
    """
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48_000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 7) + b"hostile" + struct.pack("<I", 0)
    pages = [_ogg_page([head], 0, 0, 0x02), _ogg_page([tags], 0, 1, 0)]
    packets = int(seconds / 0.12)
    granule, sequence = 312, 2
    while packets > 0:
        count = min(255, packets)
        packets -= count
        granule += 6 * 960 * count
        final = packets == 0
        claimed = last_granule if final and last_granule is not None else granule
        pages.append(_ogg_page([b"\xfb\x06"] * count, claimed, sequence, 0x04 if final else 0))
        sequence += 1
    return b"".join(pages)


def with_last_granule(data: bytes, granule: int) -> bytes:
    """An Ogg file with its last page's granule position (its length field) replaced."""
    start = data.rindex(b"OggS")
    page = bytearray(data[start:])
    page[6:14] = struct.pack("<q", granule)
    page[22:26] = b"\0\0\0\0"
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return data[:start] + bytes(page)


# -- WAV / AIFF ---------------------------------------------------------------------------------


def wav_with_rate(rate: int, seconds_of_bytes: float = 2.0) -> bytes:
    """A valid 16-bit mono WAV whose header then claims ``rate`` Hz (1–100 Hz: hours of audio)."""
    data = bytearray(encoded(speech_like(seconds_of_bytes, 16_000), 16_000, "WAV", "PCM_16"))
    data[24:28] = struct.pack("<I", rate)
    data[28:32] = struct.pack("<I", rate * 2)
    return bytes(data)


def wav_with_data_size(size: int) -> bytes:
    """A WAV whose data chunk claims ``size`` bytes (the file holds 2 s)."""
    data = bytearray(encoded(speech_like(2.0, 16_000), 16_000, "WAV", "PCM_16"))
    at = data.index(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", size)
    return bytes(data)


def aiff_with_rate(rate: float = 1.0) -> bytes:
    """An AIFF whose COMM chunk says ``rate`` Hz (an 80-bit float; 1.0 turns 2 s of bytes into hours)."""
    data = bytearray(encoded(speech_like(2.0, 16_000), 16_000, "AIFF", "PCM_16"))
    at = data.index(b"COMM") + 8 + 8
    exponent = 16383 + int(np.floor(np.log2(rate)))
    mantissa = int(rate / 2.0 ** (exponent - 16383) * (1 << 63))
    data[at : at + 10] = struct.pack(">HQ", exponent, mantissa)
    return bytes(data)


def wav_without_decoder() -> bytes:
    """A well-formed WAV whose format tag (0x3039) no decoder knows."""
    pcm = (speech_like(1.0, 16_000) * 20000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 0x3039, 1, 16_000, 32_000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


# -- MP4 ----------------------------------------------------------------------------------------


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of the boxes in ``data[start:end]``."""
    end = len(data) if end is None else end
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        found.append((kind, start, start + size))
        start += size
    return found


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def replayed_frame_m4a(replays: int) -> bytes:
    """An M4A (AAC) whose sample table plays its second frame ``replays`` times.

    PyAV writes a short AAC track (mdat before moov); the rebuilt moov's ``stsz``/``stco``/
    ``stsc``/``stts`` then list ``replays`` samples that all point at the same bytes.
    """
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=44_100, layout="mono")
        frame = av.AudioFrame.from_ndarray(speech_like(0.5, 44_100)[None], format="flt", layout="mono")
        frame.sample_rate = 44_100
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    data = buf.getvalue()
    return _replay_in_moov(data, replays)


def _replay_in_moov(data: bytes, replays: int) -> bytes:
    top = {kind: (s, e) for kind, s, e in _boxes(data)}
    moov_start, moov_end = top[b"moov"]
    assert moov_start > top[b"mdat"][0], "moov after mdat, so chunk offsets stay valid"
    path = [b"trak", b"mdia", b"minf", b"stbl"]

    def rebuild(start: int, end: int, depth: int) -> bytes:
        out = b""
        for kind, s, e in _boxes(data, start, end):
            if depth < len(path) and kind == path[depth]:
                out += _box(kind, rebuild(s + 8, e, depth + 1))
            elif depth == 1 and kind == b"edts":  # an edit list would cut playback to the original length
                continue
            elif depth == len(path) and kind in (b"stsz", b"stco", b"stsc", b"stts"):
                out += _replayed_table(kind, data[s:e], replays)
            else:
                out += data[s:e]
        return out

    moov = _box(b"moov", rebuild(moov_start + 8, moov_end, 0))
    return data[:moov_start] + moov + data[moov_end:]


def _replayed_table(kind: bytes, box: bytes, replays: int) -> bytes:
    version_flags = box[8:12]
    if kind == b"stsz":
        count = struct.unpack(">I", box[16:20])[0]
        sizes = struct.unpack(f">{count}I", box[20 : 20 + 4 * count])
        offset_in_chunk = sum(sizes[:1])
        _replayed_table.frame = (offset_in_chunk, sizes[1])  # type: ignore[attr-defined]
        return _box(kind, version_flags + struct.pack(">II", sizes[1], replays))
    if kind == b"stco":
        first = struct.unpack(">I", box[16:20])[0]
        _replayed_table.chunk = first  # type: ignore[attr-defined]
        offset = first + _replayed_table.frame[0]  # type: ignore[attr-defined]
        return _box(kind, version_flags + struct.pack(">I", replays) + struct.pack(">I", offset) * replays)
    if kind == b"stsc":
        return _box(kind, version_flags + struct.pack(">IIII", 1, 1, 1, 1))
    return _box(kind, version_flags + struct.pack(">III", 1, replays, 1024))  # stts


# -- video --------------------------------------------------------------------------------------


def one_frame_video(width: int, height: int, audio_s: float = 1.0) -> bytes:
    """An MP4 of one flat H.264 frame (mdat before moov) and ``audio_s`` of an AAC tone."""
    from fractions import Fraction

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=22_050, layout="mono")
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            plane.update(b"\x64" * plane.buffer_size)
        frame.pts, frame.time_base = 0, Fraction(1, 25)
        for packet in [*video.encode(frame), *video.encode(None)]:
            out.mux(packet)
        tone = speech_like(audio_s, 22_050)
        for start in range(0, len(tone) - 1023, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 22_050, start
            for packet in sound.encode(chunk):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    return buf.getvalue()


def replayed_frame_video(width: int, height: int, replays: int, frame_ticks: int | None = None) -> bytes:
    """An MP4 whose video sample table shows its one H.264 frame ``replays`` times (an AAC track of
    1 s beside it, untouched): 10,000 frames of 8192x8192 in ~250 KB. ``frame_ticks``: each frame's
    duration in the track's time units (1: thousands of frames a second; default: 25 fps)."""
    data = one_frame_video(width, height)
    top = {kind: (s, e) for kind, s, e in _boxes(data)}
    moov_start, moov_end = top[b"moov"]
    assert moov_start > top[b"mdat"][0], "moov after mdat, so chunk offsets stay valid"

    def table(kind: bytes, box: bytes) -> bytes | None:
        version_flags = box[8:12]
        if kind == b"stts":
            ticks = frame_ticks or struct.unpack(">I", box[20:24])[0]
            return _box(kind, version_flags + struct.pack(">III", 1, replays, ticks))
        if kind == b"stsz":
            size = struct.unpack(">I", box[12:16])[0] or struct.unpack(">I", box[20:24])[0]
            return _box(kind, version_flags + struct.pack(">II", size, replays))
        if kind == b"stsc":
            return _box(kind, version_flags + struct.pack(">IIII", 1, 1, 1, 1))
        if kind == b"stco":
            offset = struct.pack(">I", struct.unpack(">I", box[16:20])[0])
            return _box(kind, version_flags + struct.pack(">I", replays) + offset * replays)
        return None if kind in (b"stss", b"ctts", b"sdtp") else box  # every sample a key frame

    def rebuild(start: int, end: int, depth: int) -> bytes:
        out = b""
        for kind, s, e in _boxes(data, start, end):
            if kind == b"trak" and depth == 0 and b"vide" not in data[s:e][:400]:
                out += data[s:e]  # the sound track stays as it is
            elif kind in (b"trak", b"mdia", b"minf", b"stbl"):
                out += _box(kind, rebuild(s + 8, e, depth + 1))
            elif kind == b"edts":
                continue
            elif depth == 4:
                out += table(kind, data[s:e]) or b""
            else:
                out += data[s:e]
        return out

    moov = _box(b"moov", rebuild(moov_start + 8, moov_end, 0))
    return data[:moov_start] + moov + data[moov_end:]
