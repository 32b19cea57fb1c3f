"""The shard plan: no split gathered on one worker, deterministic, duplicates caught in the shard."""

from __future__ import annotations

import collections

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.plan import DEFAULT_SPLIT_FRACTIONS, PlanShards, drop_duplicates, shard_count, shard_of
from schemas import SourceItem


def _item(i: int, split: str | None = "train", duration: float | None = 4.0, uri: str = "") -> SourceItem:
    return SourceItem(
        key=f"k{i:05d}", uri=uri or f"/x/{i}.wav", dataset="d", source_id=str(i), split=split, duration_hint_s=duration
    )


_COLLECTED: list = []  # module-level: the in-process runner unpickles the matcher, a closure would be a copy


def _collect(got: list) -> None:
    _COLLECTED.extend(got)


def _plan(items: list[SourceItem], shard_size: int, max_s: float | None = None) -> list:
    _COLLECTED.clear()
    pipeline = TestPipeline()
    planned = (
        pipeline
        | beam.Create(items, reshuffle=False)
        | PlanShards(DEFAULT_SPLIT_FRACTIONS, shard_size, max_s)
        | beam.MapTuple(lambda shard, item: (item.key, shard))
    )
    assert_that(planned, _collect)
    pipeline.run().wait_until_finish()
    return sorted(_COLLECTED)


def test_shard_count_follows_items_and_seconds():
    assert shard_count(0, 0.0, 512) == 0
    assert shard_count(1, 4.0, 512) == 1
    assert shard_count(1024, 0.0, 512) == 2 and shard_count(1025, 0.0, 512) == 3
    assert shard_count(100, 1000.0, 512, shard_max_seconds=100.0) == 10
    assert shard_count(3, 1000.0, 512, shard_max_seconds=1.0) == 3  # never more shards than items


def test_every_item_gets_one_shard_of_its_split_and_shards_are_balanced():
    items = [_item(i) for i in range(2000)] + [_item(10_000 + i, split="test") for i in range(30)]
    plan = _plan(items, shard_size=100)
    assert len(plan) == len(items)
    by_shard = collections.Counter(shard for _, shard in plan)
    train = {s: n for s, n in by_shard.items() if s[0] == "train"}
    assert {s[2] for s in train} == {20} and set(range(20)) == {s[1] for s in train}
    assert max(train.values()) < 2 * 100 and min(train.values()) > 100 // 2  # hashing spreads keys evenly
    assert {s for s in by_shard if s[0] == "test"} == {("test", 0, 1)}


def test_the_plan_depends_only_on_the_item_set_not_its_order():
    items = [_item(i) for i in range(300)]
    assert _plan(items, 64) == _plan(list(reversed(items)), 64)
    assert dict(_plan(items, 64))["k00007"] == ("train", shard_of("k00007", 5), 5)


def test_shard_max_seconds_raises_the_number_of_shards():
    plan = _plan([_item(i, duration=6.0) for i in range(10)], shard_size=100, max_s=12.0)
    assert {shard[2] for _, shard in plan} == {5}


def test_duplicates_meet_in_their_shard_and_the_first_by_uri_is_kept():
    shard = ("train", 0, 1)
    a, b, c = _item(1, uri="/b.wav"), _item(1, uri="/a.wav"), _item(2)
    out = list(drop_duplicates((shard, [c, a, b])))
    failures = [o.value for o in out if isinstance(o, beam.pvalue.TaggedOutput)]
    (kept_shard, kept) = next(o for o in out if not isinstance(o, beam.pvalue.TaggedOutput))
    assert kept_shard == shard and [(it.key, it.uri) for it in kept] == [("k00001", "/a.wav"), ("k00002", "/x/2.wav")]
    assert [(f.reason, f.stage, f.detail) for f in failures] == [("duplicate_key", "plan", "/b.wav")]


def test_no_step_sees_a_whole_split():
    """Every DoFn of the plan receives single items or per-shard groups, never a split's keys."""
    items = [_item(i) for i in range(500)]
    pipeline = TestPipeline()
    groups = (
        pipeline
        | beam.Create(items)
        | PlanShards((1.0, 0.0, 0.0), 50)
        | beam.GroupByKey()
        | beam.FlatMap(drop_duplicates).with_outputs("failures", main="shards")
    )
    assert_that(groups.shards | beam.MapTuple(lambda s, its: len(its) < 100), equal_to([True] * 10))
    pipeline.run().wait_until_finish()
