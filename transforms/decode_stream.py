"""Streaming decode with a budget: encoded bytes -> mono float32 blocks at 48 kHz (paper §III-A1).

Never trusts a header's length: audio is read in blocks (libsndfile) or frames
(PyAV/FFmpeg), downmixed and resampled block by block (``soxr.ResampleStream``, whose output
is bit-identical to a one-shot ``soxr.resample``), and decoding stops as soon as the stream
passes ``max_duration_s``, before anything more is allocated. A header's length is only
compared with what decoded; a disagreement is reported in :attr:`StreamInfo.note`, so nothing
is silently truncated. Sanity limits turn absurd streams into failure reasons early:

- sample rate outside 4–384 kHz -> ``bad_sample_rate``; more than 64 channels -> ``too_many_channels``;
- decoded PCM (16-bit equivalent) more than ``max_expansion`` times the encoded size ->
  ``suspicious_expansion`` (constant FLAC frames, Opus of 1-byte packets, a replayed AAC frame);
- an audio stream FFmpeg has no decoder for -> ``unsupported_codec``.

A FLAC's STREAMINFO total is zeroed before libsndfile sees it: libsndfile then reads every
frame to the end (it stops at the header's count otherwise) and a piped FLAC, whose header
says 0, is read like any other.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from schemas import SAMPLE_RATE
from transforms import internals
from transforms.audio import AudioError, Decoded

_UNKNOWN_FRAMES = 1 << 62
"""libsndfile reports SF_COUNT_MAX frames when a header gives no length."""


@dataclass(frozen=True)
class DecodeLimits:
    """What a stream may cost before it is refused."""

    max_duration_s: float = 3 * 3600.0
    min_sample_rate: int = 4_000
    max_sample_rate: int = 384_000
    max_channels: int = 64
    max_expansion: float = 1000.0
    """Decoded 16-bit PCM bytes per encoded byte (low-bitrate Opus is ~128, DTX silence a few hundred)."""
    expansion_floor_bytes: int = 64 << 20
    """Decoded PCM below this size is never called suspicious (headers dominate tiny files)."""
    block_frames: int = 1 << 18
    """Frames per read (~6 s at 44.1 kHz: most ordinary files are one block), fewer for many channels."""


@dataclass
class StreamInfo:
    """What a stream said about itself and what it turned out to be."""

    sample_rate: int
    channels: int
    decoder: str
    header_frames: int | None = None
    decoded_frames: int = 0
    output_samples: int = 0
    stopped_early: str = ""
    """Decoder error after some audio had decoded: the audio kept, the error recorded."""

    def note(self, tolerance_s: float = 1.0, tolerance_rel: float = 0.05) -> dict | None:
        """The ``decode`` entry of a sample's ``original_data`` when the header and the decode disagree."""
        note: dict = {}
        if self.header_frames is not None:
            header_s = self.header_frames / self.sample_rate
            decoded_s = self.decoded_frames / self.sample_rate
            if abs(header_s - decoded_s) > max(tolerance_s, tolerance_rel * max(header_s, decoded_s)):
                note["header_duration_s"] = round(header_s, 4)
                note["decoded_duration_s"] = round(decoded_s, 4)
        if self.stopped_early:
            note["stopped_early"] = self.stopped_early[:300]
        return {"decoder": self.decoder, **note} if note else None


class AudioStream:
    """One encoded file, opened: :attr:`info` is known, :meth:`blocks_48k` yields its audio."""

    def __init__(self, data: bytes, limits: DecodeLimits | None = None) -> None:
        if not data:
            raise AudioError("empty_file", "0 bytes")
        self.data = data
        self.limits = limits or DecodeLimits()
        self._native = self._open()

    # -- native-rate mono blocks -------------------------------------------------------------
    def _open(self) -> Iterator[np.ndarray]:
        self.data, header_frames = _unlock_flac_length(self.data)
        try:
            sound = sf.SoundFile(_reader(self.data))
        except Exception:  # libsndfile can't read it: try FFmpeg
            return self._open_pyav()
        frames = header_frames if header_frames is not None else sound.frames
        self.info = StreamInfo(
            sample_rate=int(sound.samplerate),
            channels=int(sound.channels),
            decoder=f"libsndfile/{sound.format}/{sound.subtype}",
            header_frames=frames if 0 < frames < _UNKNOWN_FRAMES else None,
        )
        try:
            self._check_format(self.info.sample_rate, self.info.channels)
        except AudioError:
            sound.close()
            raise
        return self._soundfile_blocks(sound)

    def _soundfile_blocks(self, sound: sf.SoundFile) -> Iterator[np.ndarray]:
        channels = self.info.channels
        cap = self._max_frames(self.info.sample_rate)
        said = self.info.header_frames  # sizes the first read only (within the budget); reading goes on to the end
        wanted = max(self.limits.block_frames, said + 1) if said else self.limits.block_frames
        frames = max(4096, min(wanted, (32 << 20) // (4 * channels)))  # an ordinary file: one block, one soxr call
        block = np.empty((frames, channels), dtype=np.float32)
        read = internals.soundfile_reader(sound, block)  # sf.read seeks, which fails on unknown lengths
        with sound:
            try:  # libsndfile's Opus reader skips its pre-roll only after a seek, as sf.read does
                sound.seek(0)
            except Exception:  # unknown-length streams can't tell; nothing to skip there
                pass
            while True:
                want = min(frames, cap + 1 - self.info.decoded_frames)
                got = read(want)
                if got <= 0:
                    return
                self._count(got, channels)
                view = block[:got]
                yield to_mono(view)  # a new array: the block buffer is reused

    def _open_pyav(self) -> Iterator[np.ndarray]:
        import av

        try:
            container = av.open(_reader(self.data), mode="r", metadata_errors="ignore")
        except Exception as exc:
            raise AudioError("not_audio", f"{type(exc).__name__}: {exc}"[:200]) from None
        try:
            if not container.streams.audio:
                raise AudioError("no_audio_stream", f"streams: {[s.type for s in container.streams]}")
            stream = container.streams.audio[0]
            if stream.codec_context is None:
                raise AudioError("unsupported_codec", f"FFmpeg has no decoder for audio stream #{stream.index}")
            codec = stream.codec_context
            rate = int(stream.rate or codec.sample_rate or 0)
            self.info = StreamInfo(
                sample_rate=rate,
                channels=int(codec.channels or 1),
                decoder=f"ffmpeg/{container.format.name}/{codec.name}",
                header_frames=_header_frames(container, stream, rate),
            )
            self._check_format(rate, self.info.channels)
        except BaseException:
            container.close()
            raise
        return self._pyav_blocks(container, stream)

    def _pyav_blocks(self, container, stream) -> Iterator[np.ndarray]:  # PyAV objects
        import av

        resampler = av.AudioResampler(format="flt", layout="mono", rate=self.info.sample_rate)
        pending: list[np.ndarray] = []  # frames are ~1k samples: gathered into blocks, one resampler call each
        waiting = produced = 0
        with container:
            try:
                for frame in container.decode(stream):
                    channels = frame.layout.nb_channels
                    self._check_format(frame.sample_rate, channels)
                    self._count(frame.samples, channels)
                    for out in resampler.resample(frame):
                        pending.append(out.to_ndarray().reshape(-1))
                        waiting += pending[-1].size
                    if waiting >= self.limits.block_frames:
                        produced += waiting
                        yield np.concatenate(pending).astype(np.float32, copy=False)
                        pending, waiting = [], 0
                pending += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
            except AudioError:
                raise
            except MemoryError:
                raise
            except Exception as exc:  # truncated/corrupt stream: keep what decoded, say so
                if not (produced or pending):
                    raise AudioError("corrupt_audio", f"{type(exc).__name__}: {exc}"[:200]) from None
                self.info.stopped_early = f"{type(exc).__name__}: {exc}"
        if pending:
            produced += sum(p.size for p in pending)
            yield np.concatenate(pending).astype(np.float32, copy=False)
        if not produced:
            raise AudioError("no_audio_frames")

    def _max_frames(self, rate: int) -> int:
        return int(self.limits.max_duration_s * rate)

    def _check_format(self, rate: int, channels: int) -> None:
        lim = self.limits
        if not lim.min_sample_rate <= rate <= lim.max_sample_rate:
            raise AudioError("bad_sample_rate", f"{rate} Hz outside {lim.min_sample_rate}-{lim.max_sample_rate} Hz")
        if not 1 <= channels <= lim.max_channels:
            raise AudioError("too_many_channels", f"{channels} channels (at most {lim.max_channels})")

    def _count(self, frames: int, channels: int) -> None:
        """Add decoded frames; refuse a stream past the duration cap or expanding suspiciously."""
        info, lim = self.info, self.limits
        info.decoded_frames += frames
        if info.decoded_frames > self._max_frames(info.sample_rate):
            raise AudioError("too_long", f"> {lim.max_duration_s:.0f} s (stopped decoding at the cap)")
        pcm_bytes = info.decoded_frames * channels * 2
        if pcm_bytes > max(lim.expansion_floor_bytes, lim.max_expansion * len(self.data)):
            raise AudioError(
                "suspicious_expansion",
                f"{len(self.data)} bytes decoded to > {pcm_bytes / 2**20:.0f} MiB of PCM "
                f"({info.decoded_frames / info.sample_rate:.0f} s so far)",
            )

    # -- public ------------------------------------------------------------------------------
    def native_blocks(self) -> Iterator[np.ndarray]:
        """Mono float32 blocks at the stream's own rate, checked for NaN/inf."""
        for block in self._native:
            if not np.isfinite(block.sum(dtype=np.float64)):  # one pass, no boolean array
                raise AudioError("non_finite_samples")
            yield block

    def blocks_48k(self) -> Iterator[np.ndarray]:
        """Mono float32 blocks at 48 kHz (soxr HQ, streamed; one call when the stream is one block)."""
        rate = self.info.sample_rate
        blocks = self.native_blocks()
        first = next(blocks, None)
        if first is None:
            return
        second = next(blocks, None)
        if rate == SAMPLE_RATE:
            for block in itertools.chain((first,) if second is None else (first, second), blocks):
                self.info.output_samples += len(block)
                yield block
            return
        if second is None:  # the same samples as streaming gives, without the stream's overhead
            out = soxr.resample(first, rate, SAMPLE_RATE, quality="HQ")
            self.info.output_samples += len(out)
            yield out
            return
        stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        for block in itertools.chain((first, second), blocks):
            out = stream.resample_chunk(block)
            self.info.output_samples += len(out)
            if len(out):
                yield out
        if self.info.decoded_frames:
            out = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            self.info.output_samples += len(out)
            if len(out):
                yield out


def to_mono(audio: np.ndarray) -> np.ndarray:
    """``audio.mean(axis=1)`` of (frames, channels) float32, bit for bit, a column at a time: numpy's
    mean along a short inner axis is many times slower (``bench/decode.py``). Up to 7
    channels numpy adds them in order, as here; from 8 it sums pairwise, so those keep ``mean``."""
    channels = audio.shape[1]
    if channels == 1:
        return audio[:, 0].copy()
    if channels > 7:
        return np.ascontiguousarray(audio.mean(axis=1), dtype=np.float32)
    mono = audio[:, 0].copy()
    for channel in range(1, channels):
        mono += audio[:, channel]
    mono /= channels
    return mono


def _unlock_flac_length(data: bytes | bytearray) -> tuple[bytes | bytearray, int | None]:
    """(the bytes with STREAMINFO's total samples zeroed, the total it said); other formats unchanged.

    A bytearray is patched in place (the decode child's input: no copy of a large file).
    """
    if len(data) < 42 or data[:4] != b"fLaC" or data[4] & 0x7F != 0:
        return data, None
    packed = int.from_bytes(data[18:26], "big")
    total = packed & ((1 << 36) - 1)
    if total == 0:
        return data, None
    patched = data if isinstance(data, bytearray) else bytearray(data)
    patched[18:26] = (packed & ~((1 << 36) - 1)).to_bytes(8, "big")
    return patched, total


_COPY_BELOW = 32 << 20
"""Inputs up to this size are read through a C ``BytesIO`` (a bytearray is copied into it)."""


def _reader(data: bytes | bytearray) -> io.IOBase:
    """A seekable file over the bytes. libsndfile reads an MP3 ~160 bytes at a time (~800 calls for
    8 s), each a call back into Python: ``BytesIO``'s C ``readinto`` costs a fraction of a Python
    one. It shares ``bytes`` but copies a bytearray, so large inputs get the zero-copy view reader."""
    if isinstance(data, bytes) or len(data) <= _COPY_BELOW:
        return _Bytes(data)
    return _Reader(data)


class _Bytes(io.BytesIO):
    """``BytesIO`` whose seek before the start lands at 0, as :class:`_Reader`'s (and a file's) does."""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            return super().seek(max(0, offset))
        base = self.tell() if whence == io.SEEK_CUR else len(self.getbuffer())
        return super().seek(max(0, base + offset))


class _Reader(io.RawIOBase):
    """A seekable reader over bytes or a bytearray without copying it (``io.BytesIO`` copies a bytearray)."""

    def __init__(self, data: bytes | bytearray) -> None:
        self._view = memoryview(data)
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # any writable buffer
        n = max(0, min(len(buffer), len(self._view) - self._at))
        buffer[:n] = self._view[self._at : self._at + n]
        self._at += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: len(self._view)}[whence]
        self._at = max(0, base + offset)
        return self._at

    def tell(self) -> int:
        return self._at


def _header_frames(container, stream, rate: int) -> int | None:  # PyAV objects
    """The length the container claims, in frames at ``rate`` (None when it claims none)."""
    if stream.duration and stream.time_base:
        return int(stream.duration * stream.time_base * rate)
    if container.duration:
        return int(container.duration / 1_000_000 * rate)
    return None


def decode_to_48k(data: bytes, limits: DecodeLimits | None = None) -> tuple[np.ndarray, StreamInfo]:
    """The whole stream at 48 kHz, in this process (tests, tools; the pipeline isolates it)."""
    stream = AudioStream(data, limits)
    blocks = list(stream.blocks_48k())
    audio = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return audio, stream.info


def decode_bytes(data: bytes, max_duration_s: float = 3600.0) -> Decoded:
    """Decode an encoded audio (or video) file's bytes to float32 mono at its own rate, in this process.

    Streams under the duration cap; the pipeline decodes in a
    child process instead (:mod:`transforms.decode_worker`).
    """
    stream = AudioStream(data, DecodeLimits(max_duration_s=max_duration_s))
    blocks = list(stream.native_blocks())
    audio = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return Decoded(audio=audio, sample_rate=stream.info.sample_rate)
