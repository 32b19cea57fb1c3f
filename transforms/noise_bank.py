"""Noise bank sources for pub-noise mixing (paper §III-A2, Fig. 2: pn^a with labels pn^t).

- ``generated``: the embedded default (``augment.noise.default_noise_bank``), its babble made
  from espeak-ng voices speaking a few sentences (:mod:`transforms.tts`), resampled to 48 kHz.
- ``folder``: every audio file under ``--noise-input`` (local, gs://, s3:// through
  :mod:`transforms.storage`; the extensions of :mod:`schemas.media`); the label is the file's
  folder name below the root (ESC-50 / UrbanSound8K laid out by class), else its file name.
- :func:`bank_from_labelled_uris` takes (label, uri) pairs, so a dataset adapter
  (ESC-50, UrbanSound8K, FSD50K, AudioSet) can feed its own labelled clips.

At most ``max_clips`` clips are held per worker, chosen by a stable hash of their URIs. Noise
files are outside bytes: each is read up to :data:`NOISE_MAX_BYTES` and decoded behind the decode
boundary (:class:`transforms.decode_worker.DecodeWorker`: the decode child with its memory limit
and kill, the numpy WAV fast path) under a duration cap (``--noise-max-s``: a bank needs seconds,
not hours). A file that fails, or is silent, stays out of the bank and becomes a
:class:`~schemas.Failure` (stage ``augment``) with the decoder's reason: :class:`NoiseFileFailures`
decodes the bank's files once more in the pipeline and puts those records in the run's failures
(``failures/pipeline.jsonl``, the card, the summary), counted by the Beam counters
``clara_noise/failed/<reason>`` beside ``clara_noise/clips``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from augment.noise import NoiseBank, default_noise_bank
from schemas import SAMPLE_RATE, Failure, make_key
from schemas.media import AUDIO_EXTENSIONS
from transforms import storage
from transforms.audio import AudioError
from transforms.decode import read_uri
from transforms.decode_stream import DecodeLimits
from transforms.decode_worker import DecodeWorker

NOISE_SOURCES: tuple[str, ...] = ("generated", "folder")
NOISE_MAX_S = 30.0
"""Longest noise clip taken into a bank by default (FSD50K's longest; ESC-50's are 5 s)."""
NOISE_MAX_BYTES = 64 << 20
"""Largest noise file read (30 s of 8-channel 48 kHz 24-bit PCM is 35 MB)."""
SILENT_PEAK = 1e-4
STAGE = "augment"

BABBLE_SENTENCES: tuple[tuple[str, str], ...] = (
    ("en", "The train to the city leaves from platform four in ten minutes."),
    ("en", "Could you pass me the menu, I think I will have the soup today."),
    ("fr", "Nous avons rendez-vous demain matin devant la vieille gare."),
    ("de", "Am Wochenende fahren wir mit den Kindern an den See."),
    ("es", "Mi hermana trabaja en un hospital cerca del mercado central."),
    ("en", "Nobody told me the meeting had been moved to the afternoon."),
)
BABBLE_VOICES: tuple[str, ...] = ("m3", "f2", "m7", "f4", "m1", "f1")


def generated_bank(seed: int = 0, duration_s: float = 8.0) -> NoiseBank:
    """The embedded default bank; its babble is several espeak-ng voices in several languages."""
    import soxr

    from transforms.tts import synthesize

    speech = []
    for (language, text), variant in zip(BABBLE_SENTENCES, BABBLE_VOICES, strict=True):
        spoken = synthesize(text, language, variant=variant)
        speech.append(soxr.resample(spoken.audio, spoken.sample_rate, SAMPLE_RATE).astype(np.float32))
    return default_noise_bank(speech, seed=seed, duration_s=duration_s)


@dataclass(frozen=True)
class NoiseDecoding:
    """How noise files are decoded: the duration cap, and the decode child's timeout and memory limit."""

    max_duration_s: float = NOISE_MAX_S
    timeout_s: float = 120.0
    memory_limit_mb: int = 1024
    max_bytes: int = NOISE_MAX_BYTES

    def worker(self) -> DecodeWorker:
        return DecodeWorker(self.timeout_s, self.memory_limit_mb)

    def decode(self, worker: DecodeWorker, uri: str) -> np.ndarray:
        """The file at ``uri`` as float32 mono at 48 kHz; raises :class:`AudioError` with the reason."""
        audio, _ = worker.decode(read_uri(uri, self.max_bytes), DecodeLimits(max_duration_s=self.max_duration_s))
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if not audio.size:
            raise AudioError("no_samples", "decoded to 0 samples")
        if float(np.max(np.abs(audio))) <= SILENT_PEAK:
            raise AudioError("silent_noise", f"peak <= {SILENT_PEAK}")
        return audio


def noise_failure(uri: str, error: AudioError, bank: str = "noise") -> Failure:
    """The failure record of a noise file (stage ``augment``; its key names the file)."""
    where = uri.split("://", 1)[-1].strip("/").split("/")[-2:]
    return Failure(
        key=make_key("noise", *where),
        source=bank,
        stage=STAGE,
        reason=error.reason,
        detail=f"noise file {uri}: {error.detail}"[:500],
    )


def label_from_path(path: str, root: str) -> str:
    """``root/dog_bark/123.wav`` → "dog bark"; ``root/1-100032-A-0-rain.wav`` → "rain"."""
    relative = path[len(root) :].lstrip("/") if path.startswith(root) else path.rsplit("/", 1)[-1]
    parts = relative.split("/")
    raw = parts[-2] if len(parts) > 1 else parts[-1].rsplit(".", 1)[0]
    words = [w for w in re.split(r"[\s_\-]+", raw) if w and not re.fullmatch(r"[0-9]+|[A-Z]", w)]
    return " ".join(words).lower() or raw


def _stable_subset(items: list[Any], key: Callable[[Any], str], max_items: int) -> list[Any]:
    if max_items <= 0 or len(items) <= max_items:
        return items
    ranked = sorted(items, key=lambda item: hashlib.sha256(key(item).encode()).hexdigest())
    return sorted(ranked[:max_items], key=key)


def chosen_clips(pairs: Iterable[tuple[str, str]], max_clips: int = 200) -> list[tuple[str, str]]:
    """The (label, uri) pairs a bank takes: at most ``max_clips``, a stable subset by URI."""
    return _stable_subset(sorted(set(pairs), key=lambda p: p[1]), key=lambda p: p[1], max_items=max_clips)


def load_labelled_uris(
    pairs: Iterable[tuple[str, str]],
    name: str = "noise",
    max_clips: int = 200,
    decoding: NoiseDecoding = NoiseDecoding(),
) -> tuple[tuple[tuple[str, np.ndarray], ...], list[Failure]]:
    """The bank's entries from (label, uri) pairs, and a failure for each file that is not one."""
    entries, failures = [], []
    worker = decoding.worker()
    try:
        for label, uri in chosen_clips(pairs, max_clips):
            try:
                entries.append((label, decoding.decode(worker, uri)))
            except AudioError as error:
                failures.append(noise_failure(uri, error, name))
    finally:
        worker.close()
    return tuple(entries), failures


def bank_from_labelled_uris(
    pairs: Iterable[tuple[str, str]],
    name: str = "noise",
    max_clips: int = 200,
    decoding: NoiseDecoding = NoiseDecoding(),
) -> NoiseBank:
    """A bank from (label, uri) pairs; files that fail or are silent stay out (their failures:
    :func:`load_labelled_uris`). Raises ValueError when no file is left."""
    entries, _ = load_labelled_uris(pairs, name, max_clips, decoding)
    return NoiseBank(entries=entries, name=name)


def folder_pairs(root: str) -> list[tuple[str, str]]:
    """(label, uri) of every audio file under ``root`` (recursively), labelled by folder or file name."""
    root = root.rstrip("/")
    pairs = []
    for pattern in (f"{root}/**", f"{root}/*"):
        for path in storage.list_files(pattern):
            if path.lower().endswith(AUDIO_EXTENSIONS):
                pairs.append((label_from_path(path, root), path))
    if not pairs:
        raise ValueError(f"no audio files under {root}")
    return pairs


def folder_name(root: str) -> str:
    return root.rstrip("/").rsplit("/", 1)[-1] or "folder"


def folder_bank(root: str, max_clips: int = 200, decoding: NoiseDecoding = NoiseDecoding()) -> NoiseBank:
    """Every audio file under ``root`` (recursively), labelled by folder or file name."""
    return bank_from_labelled_uris(folder_pairs(root), folder_name(root), max_clips, decoding)


def load_noise_bank(
    source: str,
    noise_input: str | None = None,
    max_clips: int = 200,
    seed: int = 0,
    decoding: NoiseDecoding = NoiseDecoding(),
) -> NoiseBank:
    """The bank named by ``--noise-source`` / ``--noise-input``."""
    if source == "generated":
        return generated_bank(seed=seed)
    if source == "folder":
        if not noise_input:
            raise ValueError("--noise-source folder needs --noise-input")
        return folder_bank(noise_input, max_clips=max_clips, decoding=decoding)
    raise ValueError(f"unknown noise source {source!r}")


@dataclass(frozen=True)
class NoiseBankLoader:
    """A picklable loader for ``AugmentStage``: the bank is built in each worker's ``setup()``."""

    source: str
    noise_input: str | None
    max_clips: int
    seed: int
    decoding: NoiseDecoding = NoiseDecoding()

    def __call__(self) -> NoiseBank:
        return load_noise_bank(self.source, self.noise_input, self.max_clips, self.seed, self.decoding)

    def clips(self) -> list[tuple[str, str]]:
        """The (label, uri) pairs the bank takes from outside files ([] for the generated bank)."""
        if self.source != "folder" or not self.noise_input:
            return []
        return chosen_clips(folder_pairs(self.noise_input), self.max_clips)

    @property
    def name(self) -> str:
        return folder_name(self.noise_input or "") if self.source == "folder" else "generated"


class _CheckNoiseFn(beam.DoFn):
    """(label, uri) -> nothing when the file makes a bank entry, else its failure record (counted)."""

    def __init__(self, loader: NoiseBankLoader, storage_options: dict[str, Any] | None = None) -> None:
        self.loader = loader
        self.storage_options = storage_options

    def setup(self) -> None:
        storage.configure(self.storage_options)
        self._worker = self.loader.decoding.worker()

    def teardown(self) -> None:
        worker = getattr(self, "_worker", None)
        if worker is not None:
            worker.close()

    def process(self, clip: tuple[str, str]) -> Iterator[Failure]:
        _, uri = clip
        try:
            self.loader.decoding.decode(self._worker, uri)
        except AudioError as error:
            Metrics.counter("clara_noise", f"failed/{error.reason}").inc()
            yield noise_failure(uri, error, self.loader.name)
        else:
            Metrics.counter("clara_noise", "clips").inc()


class NoiseFileFailures(beam.PTransform):
    """pipeline -> the failure records of the noise files a bank takes (each decoded once more, in
    the workers, behind the decode boundary; nothing when the bank takes no outside files)."""

    def __init__(self, loader: NoiseBankLoader, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.loader = loader
        self.storage_options = storage_options

    def expand(self, root: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            root
            | "NoiseClips" >> beam.Create(self.loader.clips())
            | "SpreadNoiseClips" >> beam.Reshuffle()
            | "CheckNoiseClips" >> beam.ParDo(_CheckNoiseFn(self.loader, self.storage_options))
        )
