"""First in-shard stage: read each item's bytes, decode, resample to mono 48 kHz.

Bytes are read through :mod:`transforms.storage` (local paths, gs://, s3://); ``tts://`` items
are synthesised by espeak-ng instead. Each item becomes one whole-recording :class:`Sample`
(segment 0) or one :class:`Failure` naming why it could not be read.

Files are decoded behind one boundary, :class:`transforms.decode_worker.DecodeWorker`: a child
process (memory limit, real kill on timeout) that streams under a duration budget
(:mod:`transforms.decode_stream`: a header's length is never trusted; when it disagrees with what
decoded, the sample's ``original_data["decode"]`` says so), with ordinary 16-bit PCM WAV read by
numpy as its fast path (:mod:`transforms.pcm_wav`: every chunk header checked, no native decoder,
the same samples). The noise bank's files (:mod:`transforms.noise_bank`) and video frames
(:mod:`transforms.visual.frames`) go through the same boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from schemas import SAMPLE_RATE, Failure, Segment, SourceItem
from schemas.settings import setting
from transforms import storage
from transforms.audio import AudioError, Decoded, to_48k
from transforms.decode_stream import DecodeLimits, StreamInfo, decode_to_48k
from transforms.decode_worker import DecodeWorker
from transforms.pcm_wav import read_pcm16_wav
from transforms.stage import Sample, Stage, StageSpec
from transforms.tts import TTS_SCHEME, synthesize_uri

STAGE = "decode"


def read_uri(uri: str, max_bytes: int) -> bytes:
    """The item's bytes, read in blocks up to ``max_bytes`` (the cap is never reserved up front)."""
    try:
        return storage.read_bytes(uri, max_bytes=max_bytes)
    except storage.FileTooLarge:
        raise AudioError("file_too_large", f"> {max_bytes} bytes") from None
    except storage.StorageError as exc:  # transient faults that outlasted the retry budget
        raise AudioError("storage_error", str(exc)[:200]) from None
    except FileNotFoundError as exc:
        raise AudioError("missing_file", str(exc)[:200]) from None
    except Exception as exc:  # permission, I/O, object store errors
        if "not found" in str(exc).lower() or "no such file" in str(exc).lower():
            raise AudioError("missing_file", str(exc)[:200]) from None
        raise AudioError("unreadable_file", f"{type(exc).__name__}: {exc}"[:200]) from None


@dataclass
class DecodeStage(Stage):
    """Items -> whole-recording samples at 48 kHz (or failures)."""

    timeout_s: float = 120.0
    max_duration_s: float = 3 * 3600.0
    min_duration_s: float = 0.1
    max_bytes: int = 2 * 1024**3
    memory_limit_mb: int = 1024
    """Address space the decode child may add to what its imports use (it streams; 1 GiB is ample)."""
    max_expansion: float = 1000.0
    """Decoded 16-bit PCM bytes per encoded byte above which a stream is ``suspicious_expansion``."""
    spill_after_s: float = 600.0
    """An item longer than this is carried in a temporary file, not in memory (:mod:`transforms.spooled`)."""
    isolate: bool = True
    """Decode in a child process (False: in this process, for tools that know their inputs)."""
    name: str = STAGE

    def setup(self) -> None:
        self._worker = DecodeWorker(self.timeout_s, self.memory_limit_mb, self.spill_after_s) if self.isolate else None

    def teardown(self) -> None:
        """End the decode child and wait for it (it would end by itself once this process goes)."""
        worker = getattr(self, "_worker", None)
        if worker is not None:
            worker.close()

    @property
    def limits(self) -> DecodeLimits:
        return DecodeLimits(max_duration_s=self.max_duration_s, max_expansion=self.max_expansion)

    def decode_file(self, data: bytes) -> tuple[np.ndarray, dict | None]:
        """48 kHz audio of an encoded file and the note on its header (None when it told the truth)."""
        if self._worker is not None:
            audio, fields = self._worker.decode(data, self.limits)
            note = StreamInfo(**fields).note()
        else:
            audio, info = read_pcm16_wav(data, self.limits) or decode_to_48k(data, self.limits)
            note = info.note()
        if audio.size == 0:
            raise AudioError("no_samples", "decoded to 0 samples")
        if len(audio) < self.min_duration_s * SAMPLE_RATE:
            raise AudioError("too_short", f"{len(audio) / SAMPLE_RATE:.3f} s < {self.min_duration_s} s")
        return audio, note

    def decode(self, item: SourceItem) -> Sample:
        note = None
        if item.uri.startswith(TTS_SCHEME):  # synthesised in its own helper process, seconds long
            speech = synthesize_uri(item.uri)
            audio = to_48k(Decoded(speech.audio, speech.sample_rate), self.min_duration_s)
            words = speech.words
        else:
            audio, note = self.decode_file(read_uri(item.uri, self.max_bytes))
            words = item.words
        duration_s = len(audio) / SAMPLE_RATE
        segment = Segment(
            source_key=item.key,
            index=0,
            start_s=0.0,
            duration_s=duration_s,
            transcript=item.transcript,
            words=words,
        )
        if words and not item.words:
            item = replace(item, words=words)
        sample = Sample(item=item, audio=audio, segment=segment, source_duration_s=duration_s)
        if note:
            sample.original_data["decode"] = note
        return sample

    def process(self, batch: list[SourceItem]) -> tuple[list[Sample], list[Failure]]:
        """The stage shape (:class:`transforms.stage.Stage`): items in, whole-recording samples out."""
        return self.process_items(batch)

    def process_items(self, items: list[SourceItem]) -> tuple[list[Sample], list[Failure]]:
        if not hasattr(self, "_worker"):
            self.setup()
        samples: list[Sample] = []
        failures: list[Failure] = []
        for item in items:
            try:
                samples.append(self.decode(item))
            except AudioError as exc:
                failures.append(_failure(item, exc.reason, exc.detail))
            except Exception as exc:  # any decoder crash is this item's failure
                failures.append(_failure(item, "decode_error", f"{type(exc).__name__}: {exc}"))
        return samples, failures


def _failure(item: SourceItem, reason: str, detail: str) -> Failure:
    return Failure(key=item.key, source=item.dataset, stage=STAGE, reason=reason, detail=detail[:500])


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class DecodeSettings:
    """Decoding: read each item, decode, resample to mono 48 kHz."""

    # The defaults are the stage's own, stated once on ``DecodeStage``.

    timeout_s: float = setting(
        DecodeStage.timeout_s,
        "give up on an item whose decoding takes longer (s)",
        shapes_output=False,
        flag="--decode-timeout-s",
    )
    max_duration_s: float = setting(
        DecodeStage.max_duration_s, "refuse inputs longer than this (s)", shapes_output=True
    )
    memory_limit_mb: int = setting(
        DecodeStage.memory_limit_mb,
        "address space the decode child process may add to what its imports use (MB)",
        shapes_output=False,
        flag="--decode-memory-limit-mb",
    )
    max_expansion: float = setting(
        DecodeStage.max_expansion,
        "decoded 16-bit PCM bytes per encoded byte above which a stream is refused as suspicious",
        shapes_output=True,
        flag="--decode-max-expansion",
    )


def build_decode(config: Any) -> DecodeStage:
    """The decode stage of a build config (``config.decode``); it always runs, first."""
    s: DecodeSettings = config.decode
    return DecodeStage(
        timeout_s=s.timeout_s,
        max_duration_s=s.max_duration_s,
        memory_limit_mb=s.memory_limit_mb,
        max_expansion=s.max_expansion,
    )


SPEC = StageSpec(name=STAGE, settings=DecodeSettings, build=build_decode, order=0, writes=("decode",))
