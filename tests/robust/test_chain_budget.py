"""A stage that multiplies a batch (segmentation of a long recording) hands the rest of the chain
pieces within the batch's audio budget, so materialised audio (augmented copies) never piles up."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from pipelines.card import StatsAccumulator
from pipelines.plan import ShardRef
from pipelines.shard_step import BuildShardFn
from schemas import SAMPLE_RATE, Caption, Segment, SourceItem
from transforms.stage import Sample


class _Split:
    name = "split"

    def process(self, samples):  # one 10-s segment per 10 s, as lazy as a spooled view
        out = []
        for sample in samples:
            for i in range(len(sample.audio) // (10 * SAMPLE_RATE)):
                audio = sample.audio[i * 10 * SAMPLE_RATE : (i + 1) * 10 * SAMPLE_RATE]
                out.append(
                    sample.derive(
                        audio=audio, segment=Segment(source_key="long", index=i, start_s=10.0 * i, duration_s=10.0)
                    )
                )
        return out, []


class _Copy:
    name = "copy"

    def __init__(self) -> None:
        self.batch_seconds: list[float] = []

    def process(self, samples):  # keeps each sample and adds a materialised copy
        self.batch_seconds.append(sum(s.duration_s for s in samples))
        out = []
        for sample in samples:
            out += [sample, sample.derive(audio=np.array(sample.audio) * 0.5, augment_index=1)]
        return out, []


def _run(budget_s: float) -> tuple[list[str], _Copy]:
    copy = _Copy()
    fn = BuildShardFn.__new__(BuildShardFn)
    fn.config = SimpleNamespace(run=SimpleNamespace(batch_audio_s=budget_s))
    fn.chain = [_Split(), copy]
    item = SourceItem(key="long", uri="mem://long", dataset="t", source_id="long", language="en")
    recording = np.zeros(30 * 60 * SAMPLE_RATE // 6, dtype=np.float32)  # 5 minutes
    sample = Sample(
        item=item,
        audio=recording,
        segment=Segment(source_key="long", index=0, start_s=0.0, duration_s=300.0),
        captions=[Caption(text="a long recording", language="en", origin="human")],
    )
    stats = StatsAccumulator(ShardRef("t", "train", 0), 1)
    keys = []
    for written in fn._run_chain([sample], [], stats):  # no encode stage in this chain: the samples come out
        keys.append(written.key)
    return keys, copy


def test_a_multiplied_batch_goes_down_the_chain_within_the_audio_budget():
    keys, copy = _run(budget_s=60.0)
    assert max(copy.batch_seconds) <= 60.0 and len(copy.batch_seconds) == 5  # 30 segments, 6 a run
    whole_keys, whole = _run(budget_s=10_000.0)
    assert whole.batch_seconds == [300.0]
    assert keys == whole_keys and len(keys) == 60  # the same samples in the same order
