"""Adapters name the recording's origin across datasets: YouTube segments and Freesound sounds."""

from __future__ import annotations

import pytest

from pipelines.sources.base import SourceSettings, make_source
from pipelines.sources.common import freesound_origin, youtube_origin
from schemas import SourceItem
from tests.corpus import trees


def items_of(name: str, root) -> dict[str, SourceItem]:
    """The items of an adapter that enumerates in the launcher."""
    source = make_source(name, SourceSettings(input=str(root)))
    source.check()
    return {r.key: r for r in source.items() if isinstance(r, SourceItem)}


def test_youtube_origin_is_one_id_for_audioset_audiocaps_and_vggsound_starts():
    assert youtube_origin("abcdefghijk", "30.000") == youtube_origin("abcdefghijk", "30") == "youtube:abcdefghijk@30"
    assert youtube_origin("abcdefghijk", 12.5) == "youtube:abcdefghijk@12.5"
    assert freesound_origin("0100032") == "freesound:100032" and freesound_origin("n/a") == ""


def test_audioset_audiocaps_and_vggsound_name_one_segment_by_one_origin():
    from pipelines.sources import audiocaps, audioset, vggsound

    row = {"start": "30.000", "end": "40.000", "mids": ["/m/0bt9lr"], "subset": "balanced_train_segments"}
    (aset,) = audioset.make_items("abcdefghijk", [row], ["Yabcdefghijk.wav"], {"/m/0bt9lr": "Dog"})
    caps_row = {"audiocap_id": "1", "youtube_id": "abcdefghijk", "start_time": "30", "caption": "A dog", "_csv": "test"}
    (acaps,) = audiocaps.make_items("abcdefghijk", [caps_row], ["abcdefghijk.wav"])
    vgg_row = {"start": "30", "label": "dog barking", "split": "test"}
    (vgg,) = vggsound.make_items("abcdefghijk", [vgg_row], ["abcdefghijk_000030.mp4"])
    assert aset.origin == acaps.origin == vgg.origin == "youtube:abcdefghijk@30"


def test_esc50_fsd50k_and_clotho_name_the_freesound_sound(tmp_path):
    esc = items_of("esc50", trees.esc50(tmp_path / "esc", [100032], [1]))
    fsd = items_of("fsd50k", trees.fsd50k(tmp_path / "fsd", [100032], [1]))
    clotho = tmp_path / "clotho"
    trees.wav(clotho / "development" / "dog.wav", 1)
    trees.write(clotho / "clotho_captions_development.csv", "file_name,caption_1\ndog.wav,A dog barks\n")
    trees.write(
        clotho / "clotho_metadata_development.csv",
        "file_name,keywords,sound_id,sound_link,start_end_samples,manufacturer,license\n"
        "dog.wav,dog,100032,https://freesound.org/people/x/sounds/100032,,,CC BY 3.0\n",
    )
    clo = items_of("clotho", clotho)
    assert [i.origin for i in esc.values()] == [i.origin for i in fsd.values()] == ["freesound:100032"]
    assert [i.origin for i in clo.values()] == ["freesound:100032"]


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
