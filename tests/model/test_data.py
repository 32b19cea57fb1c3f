"""The shard loader: finding shards, skipping bad samples, padding masks, splitting, resuming."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from model.config import TrainConfig
from model.data import ShardStream, make_loader
from model.shards import resolve_shards
from model.tokenizer import CaptionTokenizer
from tests.model.conftest import CORRUPT, TRAIN_SAMPLES, VALID_SAMPLES

TOKENIZER = CaptionTokenizer(32)


def _eval_batches(urls, config: TrainConfig, **kwargs) -> list[dict]:
    return list(make_loader(urls, config.data, TOKENIZER, train=False, **kwargs))


def test_dataset_folder_resolves_to_its_committed_split_shards_and_sizes(toy_shards: Path) -> None:
    train = resolve_shards([str(toy_shards)], "train")
    assert [Path(u).name for u in train.urls] == ["000000.tar", "000001.tar", "000002.tar", "000003.tar"]
    assert train.num_samples == TRAIN_SAMPLES
    assert resolve_shards([str(toy_shards / "train")], "valid").num_samples == VALID_SAMPLES
    assert resolve_shards([str(toy_shards.parent)], "valid").num_samples == VALID_SAMPLES


def test_a_shard_without_its_commit_marker_is_left_out(toy_shards: Path, tmp_path: Path) -> None:
    copy = tmp_path / "toy"
    shutil.copytree(toy_shards, copy)
    (copy / "train" / "000002.stats.json").unlink()
    assert "000002.tar" not in [Path(u).name for u in resolve_shards([str(copy)], "train").urls]


def test_object_store_urls_become_pipes_with_the_split_filled_in() -> None:
    shards = resolve_shards(["gs://bucket/c/{split}/{000000..000001}.tar"], "valid")
    assert shards.urls == (
        "pipe:gsutil cat gs://bucket/c/valid/000000.tar",
        "pipe:gsutil cat gs://bucket/c/valid/000001.tar",
    )
    assert shards.num_samples is None


def test_loader_skips_a_corrupt_sample_and_counts_it(toy_shards: Path, micro_config: TrainConfig) -> None:
    batches = _eval_batches(resolve_shards([str(toy_shards)], "train").urls, micro_config)
    assert sum(len(b["keys"]) for b in batches) == TRAIN_SAMPLES - CORRUPT
    assert sum(b["skipped"] for b in batches) == CORRUPT
    assert "toy-train-0000_000_0" not in {k for b in batches for k in b["keys"]}


def test_batches_pad_to_the_longest_item_with_masks(toy_shards: Path, micro_config: TrainConfig) -> None:
    batch = _eval_batches(resolve_shards([str(toy_shards)], "valid").urls, micro_config)[0]
    lengths = batch["audio_lengths"]
    assert batch["audio"].shape == (4, int(lengths.max()))
    for row, length in zip(batch["audio"], lengths, strict=True):
        assert (row[length:] == 0).all() and row[:length].abs().max() > 0.1
    expected = [TOKENIZER.encode(c, lang) for c, lang in zip(batch["captions"], batch["languages"], strict=True)]
    assert batch["text_mask"].sum(1).tolist() == [len(ids) for ids in expected]
    assert batch["tokens"].shape[1] == max(len(ids) for ids in expected)
    assert (batch["tokens"][~batch["text_mask"]] == TOKENIZER.pad_id).all()
    first = batch["tokens"][0][batch["text_mask"][0]].tolist()
    assert first[0] == TOKENIZER.language_token("en") and first[-1] == TOKENIZER.eot


def test_eval_crops_long_clips_at_the_centre_deterministically(toy_shards: Path, micro_config: TrainConfig) -> None:
    micro_config.data.max_audio_s = 0.25
    urls = resolve_shards([str(toy_shards)], "valid").urls
    first, second = _eval_batches(urls, micro_config), _eval_batches(urls, micro_config)
    assert all(int(b["audio_lengths"].max()) <= 12_000 for b in first)
    assert all(torch.equal(a["audio"], b["audio"]) for a, b in zip(first, second, strict=True))


def test_two_ranks_read_disjoint_samples_covering_the_split(toy_shards: Path, micro_config: TrainConfig) -> None:
    urls = resolve_shards([str(toy_shards)], "train").urls
    keys = [
        {k for b in _eval_batches(urls, micro_config, rank=rank, world_size=2) for k in b["keys"]} for rank in (0, 1)
    ]
    assert not keys[0] & keys[1]
    assert len(keys[0] | keys[1]) == TRAIN_SAMPLES - CORRUPT


def test_more_readers_than_shards_split_by_sample_instead(toy_shards: Path, micro_config: TrainConfig) -> None:
    urls = resolve_shards([str(toy_shards)], "valid").urls  # 2 shards, 3 readers
    keys = [
        {k for b in _eval_batches(urls, micro_config, rank=rank, world_size=3) for k in b["keys"]} for rank in range(3)
    ]
    assert all(keys) and sum(map(len, keys)) == len(set().union(*keys)) == VALID_SAMPLES


def test_training_stream_is_endless_and_reshuffles_each_epoch(toy_shards: Path, micro_config: TrainConfig) -> None:
    urls = resolve_shards([str(toy_shards)], "train").urls
    stream = iter(ShardStream(urls, micro_config.data, TOKENIZER, train=True, seed=3))
    per_epoch = (TRAIN_SAMPLES - CORRUPT) // micro_config.data.batch_size
    batches = [next(stream) for _ in range(2 * per_epoch + 2)]
    epoch0 = [k for b in batches[:per_epoch] for k in b["keys"]]
    epoch1 = [k for b in batches if b["stream_position"][1] == 1 for k in b["keys"]]
    assert epoch0 != sorted(epoch0)
    assert epoch0[: len(epoch1)] != epoch1[: len(epoch0)]


def test_resuming_at_a_stream_position_yields_the_same_following_batches(
    toy_shards: Path, micro_config: TrainConfig
) -> None:
    urls = resolve_shards([str(toy_shards)], "train").urls
    data = micro_config.data

    def take(resume=None, n=8):
        stream = iter(ShardStream(urls, data, TOKENIZER, train=True, seed=5, resume=resume))
        return [next(stream) for _ in range(n)]

    straight = take()
    worker, epoch, position = straight[4]["stream_position"]
    resumed = take({worker: (epoch, position)}, n=3)
    for a, b in zip(straight[5:], resumed, strict=True):
        assert a["keys"] == b["keys"] and a["captions"] == b["captions"]
        assert torch.equal(a["audio"], b["audio"])


def test_fixed_padding_gives_static_shapes(toy_shards: Path, micro_config: TrainConfig) -> None:
    micro_config.data.pad_to = "max"
    batches = _eval_batches(resolve_shards([str(toy_shards)], "valid").urls, micro_config)
    assert {tuple(b["audio"].shape[1:]) for b in batches} == {(48_000,)}
    assert {b["tokens"].shape[1] for b in batches} == {TOKENIZER.max_tokens}
    assert all(b["text_mask"].sum(1).max() < TOKENIZER.max_tokens for b in batches)


def test_training_picks_random_captions_each_with_its_own_language_token(
    toy_shards: Path, micro_config: TrainConfig
) -> None:
    from dataclasses import replace

    urls = resolve_shards([str(toy_shards)], "train").urls
    every_caption = replace(micro_config.data, caption_origins=())  # `tiny` leaves translations out
    stream = iter(ShardStream(urls, every_caption, TOKENIZER, train=True, seed=0))
    batches = [next(stream) for _ in range(5)]
    pairs = [(lang, int(b["tokens"][i, 0])) for b in batches for i, lang in enumerate(b["languages"])]
    assert {lang for lang, _ in pairs} == {"en", "fr"}
    assert all(token == TOKENIZER.language_token(lang) for lang, token in pairs)


def test_pipe_urls_read_like_local_files(toy_shards: Path, micro_config: TrainConfig) -> None:
    spec = f"pipe:cat {toy_shards}/{{split}}/{{000000..000001}}.tar"  # how gs:// and s3:// are read
    urls = resolve_shards([spec], "valid").urls
    local = resolve_shards([str(toy_shards)], "valid").urls
    assert [b["keys"] for b in _eval_batches(urls, micro_config)] == [
        b["keys"] for b in _eval_batches(local, micro_config)
    ]


def test_caption_origins_keeps_training_to_those_captions(toy_shards: Path, micro_config: TrainConfig) -> None:
    """``data.caption_origins``: the toy clips carry an English template and a French translation."""
    from dataclasses import replace

    urls = resolve_shards([str(toy_shards)], "train").urls

    def languages(origins: list[str]) -> set[str]:
        stream = iter(ShardStream(urls, replace(micro_config.data, caption_origins=origins), TOKENIZER, train=True))
        return {lang for _ in range(5) for lang in next(stream)["languages"]}

    assert languages(["template"]) == {"en"}
    assert languages(["transcript"]) == {"en", "fr"}  # no caption of that origin: all are kept
