"""WebDataset loader over clara-corpus shards → padded batches of (audio, caption tokens).

Per epoch the shard list is shuffled deterministically (seed, epoch), split by node (rank)
and then by DataLoader worker, as ``wds.split_by_node`` / ``wds.split_by_worker`` do; when
there are fewer shards than readers every reader takes every k-th *sample* instead, so no
rank starves. Samples pass a seeded shuffle buffer, are decoded (FLAC → float32 mono 48 kHz),
cropped to ``max_audio_s`` (random at train, centre at eval) and kept as int16, get one caption from the
sample's ``captions``/``text`` list (random at train, the first at eval) tokenised with its
language, and are batched to the longest item with padding masks for audio and text
(paper §V-A: "truncated or zero-padded to match the duration of the longest sample").

Bad samples and unreadable shards are skipped, logged and counted (``Batch["skipped"]``),
like ``wds.warn_and_continue`` without its sleep.

Every batch carries its reader's stream position ``(worker, epoch, samples read)``; given
those back (``resume``), readers skip (without decoding) to where the trainer stopped, so a
resumed run sees exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

import io
import logging
import random
import signal
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import soundfile as sf
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset

from model.config import DataConfig
from model.tokenizer import CaptionTokenizer
from schemas.records import SAMPLE_RATE, SampleMeta

log = logging.getLogger(__name__)

Batch = dict[str, Any]
StreamPosition = tuple[int, int]  # (epoch, samples read in that epoch)


def _stable_seed(*parts: object) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode())


def decode_sample(
    raw: dict[str, Any],
    *,
    train: bool,
    rng: random.Random,
    max_samples: int,
    min_samples: int,
    tokenizer: CaptionTokenizer,
    origins: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """One tar sample (``flac`` + ``json`` bytes) → audio, caption tokens and metadata.

    The JSON is read through the shard contract's record (:class:`schemas.records.SampleMeta`),
    never by raw keys; fields a LAION-style JSON may lack get neutral stand-ins.
    """
    key = raw["__key__"]
    if "flac" not in raw or "json" not in raw:
        raise ValueError(f"{key}: missing member(s), have {sorted(k for k in raw if not k.startswith('__'))}")
    # 16-bit PCM, as the shards store it: half the bytes of float32 through the loader, the
    # pinned buffer and the host-to-device copy; the model converts on the device (exactly).
    audio, sample_rate = sf.read(io.BytesIO(raw["flac"]), dtype="int16", always_2d=True)
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"{key}: sample rate {sample_rate}, the contract says {SAMPLE_RATE}")
    audio = audio.mean(axis=1).round().astype(np.int16) if audio.shape[1] > 1 else audio[:, 0]
    meta = SampleMeta.from_json(
        raw["json"], tag=(), split="train" if train else "test", duration_s=len(audio) / sample_rate
    )
    if len(audio) < min_samples:
        raise ValueError(f"{key}: {len(audio)} samples, shorter than {min_samples}")
    if len(audio) > max_samples:
        spare = len(audio) - max_samples
        start = rng.randint(0, spare) if train else spare // 2
        audio = audio[start : start + max_samples]
    captions = meta.captions  # SampleMeta.from_json gives LAION-style text-only JSON its captions
    if origins and train:  # data.caption_origins: train on these caption kinds only (all if none is there)
        captions = [c for c in captions if c.origin in origins] or captions
    caption = captions[rng.randrange(len(captions))] if train else captions[0]
    return {
        "key": key,
        "audio": np.ascontiguousarray(audio),
        "tokens": tokenizer.encode(caption.text, caption.language),
        "caption": caption.text,
        "language": caption.language,
    }


def bucket_length(length: int, bucket: int, cap: int) -> int:
    """``length`` rounded up to a multiple of ``bucket``, at most ``cap`` (and at least ``length``)."""
    return max(length, min(cap, -(-length // bucket) * bucket))


def collate(
    samples: list[dict[str, Any]], pad_id: int, audio_len: int | None = None, text_len: int | None = None
) -> Batch:
    """Pad audio (int16) and tokens to the longest item (or to given lengths); masks are True at real data."""
    audio_lengths = torch.tensor([len(s["audio"]) for s in samples], dtype=torch.long)
    audio = torch.zeros(len(samples), audio_len or int(audio_lengths.max()), dtype=torch.int16)
    for i, s in enumerate(samples):
        audio[i, : len(s["audio"])] = torch.from_numpy(s["audio"])
    text_lengths = torch.tensor([len(s["tokens"]) for s in samples], dtype=torch.long)
    tokens = torch.full((len(samples), text_len or int(text_lengths.max())), pad_id, dtype=torch.long)
    for i, s in enumerate(samples):
        tokens[i, : len(s["tokens"])] = torch.tensor(s["tokens"])
    text_mask = torch.arange(tokens.shape[1])[None, :] < text_lengths[:, None]
    return {
        "audio": audio,
        "audio_lengths": audio_lengths,
        "tokens": tokens,
        "text_mask": text_mask,
        "keys": [s["key"] for s in samples],
        "captions": [s["caption"] for s in samples],
        "languages": [s["language"] for s in samples],
    }


class ShardStream(IterableDataset):
    """An (infinite at train, single-pass at eval) stream of padded batches from shard URLs."""

    def __init__(
        self,
        urls: list[str] | tuple[str, ...],
        config: DataConfig,
        tokenizer: CaptionTokenizer,
        *,
        train: bool,
        seed: int = 0,
        resume: dict[int, StreamPosition] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        first_worker: int = 0,
    ) -> None:
        super().__init__()
        if not urls:
            raise ValueError("no shards to read")
        if config.pad_to not in ("longest", "bucket", "max"):
            raise ValueError(f"data.pad_to must be 'longest', 'bucket' or 'max', not {config.pad_to!r}")
        self.urls = list(urls)
        self.config = config
        self.tokenizer = tokenizer
        self.train = train
        self.seed = seed
        self.resume = dict(resume or {})
        self.rank, self.world_size = rank, world_size
        self.first_worker = first_worker
        self.skipped = 0
        self._warned_few_shards = False

    def _reader(self) -> tuple[int, int, int, int]:
        """``(rank, world, worker, workers)``; ``worker`` is the *stream* this DataLoader worker plays.

        The DataLoader always takes its first batch from worker 0, then round-robin. A run resumed
        where stream ``w`` was next must start with stream ``w``: DataLoader worker ``i`` plays
        stream ``(i + first_worker) % workers`` (its shards, its shuffle, its saved position).
        """
        rank, world, worker, workers = wds.utils.pytorch_worker_info()
        rank = self.rank if self.rank is not None else rank
        world = self.world_size if self.world_size is not None else world
        return rank, world, (worker + self.first_worker) % workers, workers

    def _count_and_continue(self, exn: Exception) -> bool:
        self.skipped += 1
        if self.skipped <= 10 or self.skipped % 100 == 0:
            log.warning("skipping bad sample/shard (%d so far in this reader): %r", self.skipped, exn)
        return True

    def _epoch_samples(self, epoch: int, skip: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """Raw samples of one epoch for this reader, numbered from 1 after the shuffle buffer."""
        rank, world, worker, workers = self._reader()
        urls = list(self.urls)
        if self.train:
            random.Random(_stable_seed(self.seed, epoch, "shards")).shuffle(urls)
        readers, reader = world * workers, rank * workers + worker
        sample_stride = 1
        if len(urls) >= readers:
            urls = urls[rank::world][worker::workers]
        else:
            sample_stride = readers
            if reader == 0 and not self._warned_few_shards:
                self._warned_few_shards = True
                log.warning(
                    "%d shard(s) for %d readers (ranks × workers): every reader reads every shard and keeps "
                    "1 sample in %d; write more shards for large runs",
                    len(urls),
                    readers,
                    readers,
                )
        source = wds.tarfile_to_samples(handler=self._count_and_continue)([{"url": u} for u in urls])
        if sample_stride > 1:
            source = (s for i, s in enumerate(source) if i % sample_stride == reader)
        if self.train:
            source = self._shuffled(source, random.Random(_stable_seed(self.seed, epoch, reader, "samples")))
        for position, raw in enumerate(source, start=1):
            if position > skip:
                yield position, raw

    def _shuffled(self, source: Iterator[dict[str, Any]], rng: random.Random) -> Iterator[dict[str, Any]]:
        buffer: list[dict[str, Any]] = []
        for sample in source:
            buffer.append(sample)
            if len(buffer) < max(self.config.shuffle_buffer, 1):
                continue
            index = rng.randrange(len(buffer))
            buffer[index], buffer[-1] = buffer[-1], buffer[index]
            yield buffer.pop()
        rng.shuffle(buffer)
        yield from buffer

    def _decode(self, raw: dict[str, Any], epoch: int) -> dict[str, Any] | None:
        """One raw sample decoded (its crop and caption seeded by seed, epoch and key); None when it is
        bad (counted and logged: a bad sample must not stop training)."""
        rng = random.Random(_stable_seed(self.seed, epoch, raw.get("__key__")))
        try:
            return decode_sample(
                raw,
                train=self.train,
                rng=rng,
                max_samples=int(self.config.max_audio_s * SAMPLE_RATE),
                min_samples=max(1, int(self.config.min_audio_s * SAMPLE_RATE)),
                tokenizer=self.tokenizer,
                origins=self.config.caption_origins,
            )
        except Exception as exn:  # a bad sample must not stop training
            self._count_and_continue(ValueError(f"sample {raw.get('__key__')} in {raw.get('__url__')}: {exn!r}"))
            return None

    def _decoded(self) -> Iterator[tuple[StreamPosition, dict[str, Any]]]:
        _, _, worker, _ = self._reader()
        epoch, skip = self.resume.get(worker, (0, 0))
        while True:
            produced = 0
            for position, raw in self._epoch_samples(epoch, skip):
                sample = self._decode(raw, epoch)
                if sample is None:
                    continue
                produced += 1
                yield (epoch, position), sample
            if not self.train:
                return
            if produced == 0 and skip == 0:
                raise RuntimeError(f"epoch {epoch} yielded no samples from {len(self.urls)} shard(s)")
            epoch, skip = epoch + 1, 0

    def __iter__(self) -> Iterator[Batch]:
        _, _, worker, _ = self._reader()
        batch: list[dict[str, Any]] = []
        reported = 0
        for position, sample in self._decoded():
            batch.append(sample)
            if len(batch) == self.config.batch_size:
                yield self._finish(batch, worker, position, reported)
                reported, batch = self.skipped, []
        if batch:  # only at eval: training streams never end
            yield self._finish(batch, worker, position, reported)

    def _finish(self, samples: list[dict[str, Any]], worker: int, position: StreamPosition, reported: int) -> Batch:
        max_audio, max_text = int(self.config.max_audio_s * SAMPLE_RATE), self.tokenizer.max_tokens
        audio_len = text_len = None
        if self.config.pad_to == "max":
            audio_len, text_len = max_audio, max_text
        elif self.config.pad_to == "bucket":  # few distinct shapes: torch.compile / CUDA graphs reuse them
            bucket = max(1, int(self.config.audio_bucket_s * SAMPLE_RATE))
            audio_len = bucket_length(max(len(s["audio"]) for s in samples), bucket, max_audio)
            text_len = bucket_length(max(len(s["tokens"]) for s in samples), self.config.text_bucket, max_text)
        batch = collate(samples, self.tokenizer.pad_id, audio_len=audio_len, text_len=text_len)
        batch["skipped"] = self.skipped - reported
        batch["stream_position"] = (worker, *position)
        return batch


CorpusPosition = tuple[int, tuple[tuple[str, int, int], ...]]
"""A corpus reader's position: (draws made, ((dataset, epoch, samples read in that epoch), ...))."""


class CorpusStream(ShardStream):
    """The training stream of a corpus manifest: its datasets mixed by the recipe's weights.

    Each dataset is read as a :class:`ShardStream` reads its shards (shuffled per epoch, split by
    rank and loader worker, a seeded shuffle buffer), and every next raw sample of a reader comes
    from the dataset that :func:`model.corpus_mix.mix` draws, seeded by (seed, reader): each
    dataset's share converges to its weight over the sum, the same seed gives the same samples,
    and a dataset that runs out starts its next epoch. The stream position of a batch is
    :data:`CorpusPosition` (the draws made and every dataset's epoch and samples read), so a
    resumed run skips to where it stopped, as :class:`ShardStream` does. Batches also carry
    ``datasets``: each sample's dataset.
    """

    def __init__(
        self,
        datasets: tuple[tuple[str, float, tuple[str, ...]], ...],
        config: DataConfig,
        tokenizer: CaptionTokenizer,
        *,
        seed: int = 0,
        resume: dict[int, Any] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        first_worker: int = 0,
    ) -> None:
        urls = [url for _, _, dataset_urls in datasets for url in dataset_urls]
        where = {"rank": rank, "world_size": world_size, "first_worker": first_worker}
        super().__init__(urls, config, tokenizer, train=True, seed=seed, resume=resume, **where)
        self.weights = {name: weight for name, weight, _ in datasets}
        self.parts = {
            name: ShardStream(part, config, tokenizer, train=True, seed=_stable_seed(seed, name), **where)
            for name, _, part in datasets
        }

    def _start(self, worker: int) -> tuple[int, dict[str, tuple[int, int]]]:
        draws, saved = self.resume.get(worker, (0, ()))
        start = {name: (epoch, read) for name, epoch, read in saved}
        if not set(start) <= set(self.parts):
            log.warning("the corpus's datasets changed since the checkpoint: the mix restarts at its start")
            return 0, {}
        return int(draws), start

    def _decoded(self) -> Iterator[tuple[CorpusPosition, dict[str, Any]]]:
        from model.corpus_mix import mix

        rank, _, worker, workers = self._reader()
        draws, state = self._start(worker)

        def passes(name: str) -> Any:
            first_epoch, skip = state.get(name, (0, 0))

            def one_pass(index: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
                epoch = first_epoch + index
                for position, raw in self.parts[name]._epoch_samples(epoch, skip if index == 0 else 0):
                    yield epoch, position, raw

            return one_pass

        seed = _stable_seed(self.seed, rank * workers + worker, "mix")
        failing: dict[str, int] = {}  # a dataset's epoch when its current run of bad samples began
        for name, (epoch, position, raw) in mix({n: passes(n) for n in self.parts}, self.weights, seed, draws):
            draws += 1
            state[name] = (epoch, position)
            sample = self._decode(raw, epoch)
            if sample is None:
                if epoch - failing.setdefault(name, epoch) >= 2:
                    raise RuntimeError(f"dataset {name}: a whole epoch without one sample that decodes")
                continue
            failing.pop(name, None)
            sample["dataset"] = name
            yield (draws, tuple((n, *state[n]) for n in sorted(state))), sample

    def _finish(self, samples: list[dict[str, Any]], worker: int, position: Any, reported: int) -> Batch:
        batch = super()._finish(samples, worker, position, reported)
        batch["datasets"] = [s["dataset"] for s in samples]
        return batch


def _quiet_worker(_: int) -> None:
    torch.set_num_threads(1)  # readers decode FLAC; leave the cores to the model
    # A preempting scheduler signals the whole process group: a worker killed by that SIGTERM
    # would make the DataLoader raise in the trainer before it can checkpoint. The trainer
    # handles the signal; its workers leave when it shuts the loader down.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_loader(
    urls: list[str] | tuple[str, ...],
    config: DataConfig,
    tokenizer: CaptionTokenizer,
    *,
    train: bool,
    seed: int = 0,
    resume: dict[int, StreamPosition] | None = None,
    pin_memory: bool = False,
    num_workers: int | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    first_worker: int = 0,
    datasets: tuple[tuple[str, float, tuple[str, ...]], ...] = (),
) -> DataLoader:
    """A DataLoader yielding :data:`Batch` dicts (batching happens inside the readers).

    ``rank``/``world_size`` default to the process group's; pass ``0``/``1`` to read everything.
    ``first_worker``: the reader stream that yields the first batch (exact resume, see ``_reader``).
    ``datasets``: a corpus manifest's (name, weight, urls) per dataset (``ShardSet.datasets``): at
    train, they are mixed by weight (:class:`CorpusStream`) instead of reading ``urls`` as one set.
    """
    workers = config.num_workers if num_workers is None else num_workers
    where = {"rank": rank, "world_size": world_size, "first_worker": first_worker % max(workers, 1)}
    if datasets and train:
        stream: ShardStream = CorpusStream(datasets, config, tokenizer, seed=seed, resume=resume, **where)
    else:
        stream = ShardStream(urls, config, tokenizer, train=train, seed=seed, resume=resume, **where)
    return DataLoader(
        stream,
        batch_size=None,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=config.prefetch_factor if workers > 0 else None,
        persistent_workers=False,
        worker_init_fn=_quiet_worker,
        # Its own generator: starting an iterator must not draw from the global RNG (exact resume).
        generator=torch.Generator().manual_seed(seed),
    )
