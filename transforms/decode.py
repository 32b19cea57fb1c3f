"""First in-shard stage: read each item's bytes, decode, resample to mono 48 kHz.

Bytes are read through :mod:`transforms.storage` (local paths, gs://, s3://); ``tts://`` items
are synthesised by espeak-ng instead. Each item becomes one whole-recording :class:`Sample`
(segment 0) or one :class:`Failure` naming why it could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from schemas import SAMPLE_RATE, Failure, Segment, SourceItem
from transforms import storage
from transforms.audio import AudioError, Decoded, TimeoutRunner, decode_bytes, to_48k
from transforms.stage import Sample
from transforms.tts import TTS_SCHEME, synthesize_uri

STAGE = "decode"


def read_uri(uri: str, max_bytes: int) -> bytes:
    """The item's bytes, read in blocks up to ``max_bytes`` (the cap is never reserved up front)."""
    try:
        return storage.read_bytes(uri, max_bytes=max_bytes)
    except storage.FileTooLarge:
        raise AudioError("file_too_large", f"> {max_bytes} bytes") from None
    except FileNotFoundError as exc:
        raise AudioError("missing_file", str(exc)[:200]) from None
    except Exception as exc:  # noqa: BLE001 - permission, I/O, object store errors
        if "not found" in str(exc).lower() or "no such file" in str(exc).lower():
            raise AudioError("missing_file", str(exc)[:200]) from None
        raise AudioError("unreadable_file", f"{type(exc).__name__}: {exc}"[:200]) from None


def load(item: SourceItem, max_duration_s: float, max_bytes: int) -> Decoded:
    """Decoded audio of an item at its native rate."""
    if item.uri.startswith(TTS_SCHEME):
        speech = synthesize_uri(item.uri)
        return Decoded(speech.audio, speech.sample_rate, speech.words)
    decoded = decode_bytes(read_uri(item.uri, max_bytes), max_duration_s)
    return replace(decoded, words=item.words)


@dataclass
class DecodeStage:
    """Items -> whole-recording samples at 48 kHz (or failures)."""

    timeout_s: float = 120.0
    max_duration_s: float = 3 * 3600.0
    min_duration_s: float = 0.1
    max_bytes: int = 2 * 1024**3
    name: str = STAGE

    def setup(self) -> None:
        self._runner = TimeoutRunner(self.timeout_s)

    def decode(self, item: SourceItem) -> Sample:
        decoded = self._runner(load, item, self.max_duration_s, self.max_bytes)
        audio = to_48k(decoded, self.min_duration_s)
        duration_s = len(audio) / SAMPLE_RATE
        segment = Segment(
            source_key=item.key,
            index=0,
            start_s=0.0,
            duration_s=duration_s,
            transcript=item.transcript,
            words=decoded.words,
        )
        if decoded.words and not item.words:
            item = replace(item, words=decoded.words)
        return Sample(item=item, audio=audio, segment=segment, source_duration_s=duration_s)

    def process_items(self, items: list[SourceItem]) -> tuple[list[Sample], list[Failure]]:
        if not hasattr(self, "_runner"):
            self.setup()
        samples: list[Sample] = []
        failures: list[Failure] = []
        for item in items:
            try:
                samples.append(self.decode(item))
            except AudioError as exc:
                failures.append(_failure(item, exc.reason, exc.detail))
            except Exception as exc:  # noqa: BLE001 - any decoder crash is this item's failure
                failures.append(_failure(item, "decode_error", f"{type(exc).__name__}: {exc}"))
        return samples, failures


def _failure(item: SourceItem, reason: str, detail: str) -> Failure:
    return Failure(key=item.key, source=item.dataset, stage=STAGE, reason=reason, detail=detail[:500])
