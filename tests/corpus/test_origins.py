"""Adapters name the recording's origin across datasets: YouTube segments and Freesound sounds."""

from __future__ import annotations

import pytest

from pipelines.sources.base import SourceSettings, make_source
from pipelines.sources.common import freesound_origin, youtube_origin
from schemas import SourceItem
from tests.corpus import trees

_FOUND: list = []


def _keep(record) -> None:
    _FOUND.append(record)


def items_of(name: str, root) -> dict[str, SourceItem]:
    """The items an adapter yields, through its own ``expand`` (Beam joins for the YouTube datasets)."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline

    source = make_source(name, SourceSettings(input=str(root)))
    source.check()
    _FOUND.clear()
    with TestPipeline() as p:
        _ = source.expand(p) | beam.Map(_keep)
    return {r.key: r for r in _FOUND if isinstance(r, SourceItem)}


def test_youtube_origin_is_one_id_for_audioset_audiocaps_and_vggsound_starts():
    assert youtube_origin("abcdefghijk", "30.000") == youtube_origin("abcdefghijk", "30") == "youtube:abcdefghijk@30"
    assert youtube_origin("abcdefghijk", 12.5) == "youtube:abcdefghijk@12.5"
    assert freesound_origin("0100032") == "freesound:100032" and freesound_origin("n/a") == ""


def test_audioset_and_audiocaps_name_the_same_segment_by_one_origin(tmp_path):
    ids = trees.youtube_ids(2, "yt")
    aset = items_of("audioset", trees.audioset(tmp_path / "as", ids, [1, 2]))
    acaps = items_of("audiocaps", trees.audiocaps(tmp_path / "ac", ids, [1, 2]))
    assert sorted(i.origin for i in aset.values()) == sorted(i.origin for i in acaps.values())
    assert sorted(i.origin for i in aset.values()) == [f"youtube:{y}@30" for y in sorted(ids)]


def test_esc50_fsd50k_and_clotho_name_the_freesound_sound(tmp_path):
    esc = items_of("esc50", trees.esc50(tmp_path / "esc", [100032], [1]))
    fsd = items_of("fsd50k", trees.fsd50k(tmp_path / "fsd", [100032], [1]))
    assert [i.origin for i in esc.values()] == [i.origin for i in fsd.values()] == ["freesound:100032"]


def test_an_item_without_origin_keeps_its_shard_fingerprint_and_one_with_it_changes_it():
    from pipelines.plan import shard_fingerprint

    plain = SourceItem(key="k", uri="u", dataset="d", source_id="s")
    assert shard_fingerprint([plain], {}) == "e6f73b908bf4b440"  # as before items had an origin
    named = SourceItem(key="k", uri="u", dataset="d", source_id="s", origin="youtube:abc@3")
    assert shard_fingerprint([named], {}) != shard_fingerprint([plain], {})


def test_an_origin_survives_the_record_round_trip():
    named = SourceItem(key="k", uri="u", dataset="d", source_id="s", origin="youtube:abc@3")
    assert SourceItem.from_dict(named.to_dict()) == named


def test_a_malformed_origin_is_refused():
    with pytest.raises(ValueError, match="origin"):
        SourceItem(key="k", uri="u", dataset="d", source_id="s", origin="no namespace")


def test_a_side_file_print_files_under_the_same_buckets_as_the_recording():
    from pipelines.corpus_screen import buckets_of, parse_side, side_line, weak_bits
    from tests.quality_dedup.conftest import recording
    from transforms.fingerprint import bucket_keys, fingerprint

    for seed in range(3):
        fp = fingerprint(recording(seed, 2.0, 16_000), 16_000)
        line = side_line("k", "freesound:1", (fp.bits, fp.duration_s, weak_bits(fp)))
        assert len(line) < 400
        assert (
            parse_side(line, 1, "a").buckets
            == tuple(bucket_keys(fp))
            == buckets_of(fp.bits, fp.duration_s, weak_bits(fp))
        )
