"""Every in-shard stage has one shape: a spec in the registry, ``setup``/``process``/``teardown``."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from pipelines.options import config_from
from pipelines.shard_step import BuildShardFn
from pipelines.stages import STAGES, build_chain
from schemas import Caption, Segment, SourceItem
from schemas.records import OriginalData
from transforms import encode
from transforms.stage import Encoded, Sample, Stage


def _sample(key: str, audio: np.ndarray, split: str = "train", **item) -> Sample:
    source = SourceItem(key=key, uri=f"/x/{key}.wav", dataset="d", source_id=key, **item)
    segment = Segment(key, 0, 0.0, len(audio) / 48_000)
    captions = [Caption("a tone", "en", "template")]
    return Sample(item=source, audio=audio, segment=segment, captions=captions, split=split)


def test_decode_and_encode_are_registered_stages_that_run_first_and_last():
    assert (STAGES[0].name, STAGES[-1].name) == ("decode", "encode")
    chain = build_chain(config_from({"augment": "gain", "translate_to": "fr", "filters": "loudness"}))
    assert [s.name for s in chain] == ["decode", "segment", "quality", "describe", "augment", "translate", "encode"]
    for stage in chain:
        assert Stage in type(stage).__mro__, stage.name  # setup and teardown come with the protocol when not its own
        assert all(callable(getattr(stage, m)) for m in ("setup", "process", "teardown")), stage.name


def test_the_shard_step_tears_down_every_stage_of_its_chain(monkeypatch):
    calls: list[str] = []

    class Recording(Stage):
        def __init__(self, name: str) -> None:
            self.name = name

        def setup(self) -> None:
            calls.append(f"setup {self.name}")

        def process(self, batch: list) -> tuple[list, list]:
            return batch, []

        def teardown(self) -> None:
            calls.append(f"teardown {self.name}")

    monkeypatch.setattr("pipelines.shard_step.build_chain", lambda config: [Recording(n) for n in "abc"])
    step = BuildShardFn("unused", config_from({}))
    step.setup()
    step.teardown()
    assert calls == ["setup a", "setup b", "setup c", "teardown a", "teardown b", "teardown c"]
    assert (step.decode.name, [s.name for s in step.chain]) == ("a", ["b", "c"])


def test_encode_turns_each_sample_into_its_members_and_a_bad_one_into_a_failure():
    good = _sample("good", np.zeros(4_800, dtype=np.float32))
    unsplit = _sample("nosplit", np.zeros(4_800, dtype=np.float32), split="")  # not in a shard: no split
    encoded, failures = encode.EncodeStage().process([good, unsplit])
    assert [type(e) for e in encoded] == [Encoded] and encoded[0].meta.key == good.key
    assert encoded[0].meta.split == "train" and encoded[0].flac[:4] == b"fLaC"
    assert [(f.key, f.stage, f.reason) for f in failures] == [(unsplit.key, "encode", "encode_error")]


def test_the_item_keys_encode_declares_are_the_ones_it_writes():
    item = dict(speaker_id="s", age="adult", emotion_intensity="strong", license="cc-by")
    item |= dict(labels=("dog",), extra={"a": 1}, origin="freesound:1")
    sample = _sample("every", np.zeros(480, dtype=np.float32), **item)
    assert set(encode.sample_meta(sample, "train").original_data) == set(encode.ITEM_KEYS)


@pytest.mark.parametrize("spec", [s for s in STAGES if s.record is not None], ids=lambda s: s.name)
def test_a_stages_typed_record_is_what_the_sample_schema_says_it_writes(spec):
    (key,) = spec.writes
    assert typing.get_type_hints(OriginalData)[key] is spec.record
