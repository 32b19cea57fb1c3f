"""Training from a corpus manifest: ``model.train --shards <corpus>`` mixes the recipe's datasets by
weight (reproducibly, each DDP rank its own share, resumable), trusts a tar only through its
marker and the manifest's SHA-256, and records the manifest it read."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest

from model import distributed
from model.checkpoint import find_checkpoint, read_checkpoint
from model.config import apply_overrides, load_config
from model.data import make_loader
from model.shards import resolve_shards
from model.tokenizer import CaptionTokenizer
from model.train import Trainer, build_parser, resolve_config
from tests.corpus.conftest import build_recipe, write_recipe
from tests.model.conftest import MICRO_OVERRIDES

pytestmark = pytest.mark.slow

WEIGHTS = {"speech-en": 3.0, "speech-fr": 1.0}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two demo datasets (espeak-ng English and French, 6 items each) weighted 3 : 1, built by ``clara corpus``."""
    folder = tmp_path_factory.mktemp("corpus")
    datasets = [
        {"name": name, "adapter": "demo", "languages": [name[-2:]], "weight": weight}
        for name, weight in WEIGHTS.items()
    ]
    recipe = write_recipe(folder / "mix.yaml", datasets, settings={"run": {"workers": 1}, "corpus": {"demo_items": 6}})
    assert build_recipe(recipe) == 0
    return folder / "out"


def _config():
    return apply_overrides(load_config("tiny"), MICRO_OVERRIDES)


def _loader(spec: str, seed: int = 0, resume=None, rank: int = 0, world: int = 1):
    config = _config()
    train = resolve_shards([spec], "train")
    tokenizer = CaptionTokenizer(config.model.text.max_tokens, config.model.text.tokenizer)
    return make_loader(
        train.urls, config.data, tokenizer, train=True, seed=seed, resume=resume, rank=rank, world_size=world,
        datasets=train.datasets,
    )  # fmt: skip


def _samples(loader, count: int) -> list[tuple[str, str]]:
    """The first ``count`` (dataset, key) pairs the loader yields."""
    pairs = []
    for batch in loader:
        pairs += list(zip(batch["datasets"], batch["keys"], strict=True))
        if len(pairs) >= count:
            return pairs[:count]
    raise AssertionError("the stream ended")


def test_the_loader_reads_both_datasets_at_the_recipes_weights_reproducibly(corpus: Path) -> None:
    train = resolve_shards([str(corpus)], "train")
    assert [(name, weight) for name, weight, _ in train.datasets] == list(WEIGHTS.items())
    assert train.manifest["manifest"] == str((corpus / "corpus.json").resolve())
    assert train.manifest["weights"] == {"speech-en": 0.75, "speech-fr": 0.25}
    assert resolve_shards([str(corpus / "corpus.json")], "train") == train  # the manifest or its folder
    pairs = _samples(_loader(str(corpus)), 320)  # ~12 passes over the 26 training samples
    counts = Counter(name for name, _ in pairs)  # the sampler alone: within 2 % over 10,000 (test_corpus_mix)
    assert counts["speech-en"] / 320 == pytest.approx(0.75, abs=0.03), counts
    assert all(key.startswith(f"demo-{name[-2:]}") for name, key in pairs), pairs[:5]
    assert _samples(_loader(str(corpus)), 40) == pairs[:40]  # the same seed: the same samples
    assert _samples(_loader(str(corpus), seed=1), 40) != pairs[:40]


def test_each_rank_reads_its_own_share_and_a_resumed_stream_goes_on_where_it_stopped(corpus: Path) -> None:
    ranks = [_samples(_loader(str(corpus), rank=r, world=2), 8) for r in (0, 1)]
    assert {"speech-en", "speech-fr"} <= {name for name, _ in ranks[0]}
    # the first 8 samples of each rank (fewer than each dataset's half of one epoch): no sample on both
    assert not {key for _, key in ranks[0]} & {key for _, key in ranks[1]}
    straight = iter(_loader(str(corpus)))
    first = [next(straight) for _ in range(5)]
    position = first[-1]["stream_position"]
    assert position[0] == 0 and position[1] == 20 and {p[0] for p in position[2]} == set(WEIGHTS)
    resumed = iter(_loader(str(corpus), resume={0: tuple(position[1:])}))
    for _ in range(5):
        expected, got = next(straight), next(resumed)
        assert got["keys"] == expected["keys"] and got["datasets"] == expected["datasets"]


def test_a_shard_is_trusted_only_through_its_marker_and_the_manifests_digest(
    corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "out"
    shutil.copytree(corpus, copy)
    marker = copy / "speech-fr" / "train" / "000000.stats.json"
    stats = json.loads(marker.read_text())
    tar = copy / "speech-fr" / "train" / "000000.tar"
    body = tar.read_bytes()
    tar.write_bytes(body[:2048] + bytes(1024) + body[3072:])  # damaged at the same size: not its marker's bytes
    with caplog.at_level(logging.WARNING):
        train = resolve_shards([str(copy)], "train")
    assert [name for name, _, _ in train.datasets] == ["speech-en"] and "speech-fr: skipping 1 shard" in caplog.text
    # a marker and tar that match each other but not the manifest (rebuilt since it was written): left out too
    shutil.copy(corpus / "speech-fr" / "train" / "000000.tar", tar)
    manifest = json.loads((copy / "corpus.json").read_text())
    manifest["datasets"][1]["shards"][0]["sha256"] = "0" * 64
    (copy / "corpus.json").write_text(json.dumps(manifest))
    assert [name for name, _, _ in resolve_shards([str(copy)], "train").datasets] == ["speech-en"]
    assert stats["sha256"] != "0" * 64


def test_a_short_training_run_on_the_corpus_records_the_manifest_it_read(corpus: Path, tmp_path: Path) -> None:
    argv = ["--shards", str(corpus / "corpus.json"), "--run", str(tmp_path / "run"), "--steps", "3"]
    for override in [*MICRO_OVERRIDES, "ckpt_every=3", "log_every=1", "val_every=1000"]:
        argv += ["--set", override]
    args = build_parser().parse_args(argv)
    trainer = Trainer(resolve_config(args, None), args, distributed.setup("cpu"))
    trainer.run()
    record = json.loads((tmp_path / "run" / "corpus.json").read_text())
    manifest = corpus / "corpus.json"
    assert record == {
        "manifest": str(manifest.resolve()),
        "sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "weights": {"speech-en": 0.75, "speech-fr": 0.25},
    }
    checkpoint = read_checkpoint(find_checkpoint(tmp_path / "run"))
    assert checkpoint["corpus"] == record
    draws, datasets = checkpoint["ranks"][0]["stream_positions"][0]
    assert draws >= 12 and {name for name, _, _ in datasets} == set(WEIGHTS)  # 3 steps of 4 read both datasets
