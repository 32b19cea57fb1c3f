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


def test_mswc_keywords_name_the_common_voice_clip_they_were_cut_from(tmp_path):
    from pipelines.sources import commonvoice, mswc

    # a row of Common Voice's validated.tsv and two of MSWC's de_splits.csv cut from that clip
    cv_row = {"client_id": "0a1b2c", "path": "common_voice_de_18300130.mp3", "sentence": "Aachen ist schön.",
              "up_votes": "2", "down_votes": "0", "age": "thirties", "gender": "male", "locale": "de"}  # fmt: skip
    cv = commonvoice.row_to_record("common_voice_de_18300130.mp3", (0, "train", "validated", cv_row), "/cv/de", "de")
    rows = [
        {
            "SET": "TRAIN",
            "LINK": f"{w}/common_voice_de_18300130.opus",
            "WORD": w,
            "VALID": "True",
            "SPEAKER": "0a1b2c",
            "GENDER": "MALE",
        }  # fmt: skip
        for w in ("aachen", "schön")
    ]
    keywords = [mswc.row_to_record(row, "/mswc/de/clips", "de") for row in rows]
    assert cv.origin == "commonvoice:common_voice_de_18300130"
    assert [k.origin for k in keywords] == [cv.origin, cv.origin]
    assert commonvoice.row_to_record("x.mp3", (0, "train", "validated", {}), "/cv/de", "de").origin == ""


def test_a_ytdlp_youtube_download_names_its_segment_and_another_site_none(tmp_path):
    import json

    # the keys of a real yt-dlp info.json (--write-info-json; section_start with --download-sections)
    info = {"id": "abcdefghijk", "extractor_key": "Youtube", "title": "Dog barking", "duration": 10}
    for name, more in (("whole", {}), ("cut", {"section_start": 30.0, "section_end": 40.0})):
        trees.write(tmp_path / name / "abcdefghijk.info.json", json.dumps({**info, **more}))
        trees.wav(tmp_path / name / "abcdefghijk.wav", 1)
    vimeo = {"id": "76979871", "extractor_key": "Vimeo", "title": "A talk"}
    trees.write(tmp_path / "other" / "76979871.info.json", json.dumps(vimeo))
    trees.wav(tmp_path / "other" / "76979871.wav", 2)
    origins = {
        name: [i.origin for i in items_of("ytdlp", tmp_path / name).values()] for name in ("whole", "cut", "other")
    }
    assert origins == {"whole": ["youtube:abcdefghijk@0"], "cut": ["youtube:abcdefghijk@30"], "other": [""]}
    assert origins["cut"][0] == youtube_origin("abcdefghijk", "30.000")  # AudioSet's segment at 30 s
