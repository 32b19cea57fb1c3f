"""The data contract: records round-trip, the JSON Schema generated from them is current and strict."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import jsonschema
import pytest

from schemas import (
    CAPTION_ORIGINS,
    SPLITS,
    Augmentation,
    Caption,
    SampleMeta,
    ShardStats,
    SourceItem,
    WordAlignment,
    make_key,
    sample_json_schema,
    sample_key,
)
from schemas.records import JsonSchema
from schemas.sample_schema import SCHEMA_PATH, json_schema_of
from schemas.sample_schema import main as schema_main
from schemas.vocab import iso639_3, normalize_age_group, normalize_emotion, normalize_gender, normalize_language


def _meta(**changes) -> SampleMeta:
    captions = (Caption("A man saying 'hi'", "en", "template"), Caption("hi", "en", "transcript"))
    base = dict(
        key="demo-en-0-00001_000_0",
        text=tuple(c.text for c in captions),
        tag=("speech", "happy"),
        original_data={"language": "en", "dataset": "demo", "source_id": "en/0/00001", "gender": "male"},
        captions=captions,
        duration_s=1.25,
        split="train",
        segment={"index": 0, "start_s": 0.0, "duration_s": 1.25, "source_duration_s": 1.25},
        alignment=(WordAlignment("hi", 0.1, 0.3),),
        augmentations=(Augmentation("gain", {"db": -3.0}),),
    )
    base.update(changes)
    return SampleMeta(**base)


def test_sample_meta_round_trips_through_json():
    meta = _meta()
    text = json.dumps(meta.to_json_dict())
    assert SampleMeta.from_dict(json.loads(text)) == meta


def test_source_item_round_trips_with_nested_words():
    item = SourceItem(
        key="k1", uri="/x.wav", dataset="d", source_id="1", words=(WordAlignment("a", 0.0, 0.1),), labels=("dog",)
    )
    assert SourceItem.from_dict(json.loads(json.dumps(item.to_dict()))) == item


def test_to_dict_is_dataclasses_asdict_with_atoms_shared():
    item = SourceItem(
        key="k1", uri="/x.wav", dataset="d", source_id="1", words=(WordAlignment("a", 0.0, 0.1),), labels=("dog",),
        extra={"path": "x.wav", "nested": {"list": [1, 2.5, None, True], "tuple": ("a", ("b",))}},
    )  # fmt: skip
    for record in (item, _meta(), ShardStats("000000", "train", 1, 1, 0, 1, 1.0, 10, {"en": 1.0})):
        plain = record.to_dict()
        assert plain == dataclasses.asdict(record)
        assert json.dumps(plain, sort_keys=True) == json.dumps(dataclasses.asdict(record), sort_keys=True)
    assert item.to_dict()["extra"] is not item.extra  # containers are new, as asdict's are
    assert item.to_dict()["extra"]["nested"]["list"] is not item.extra["nested"]["list"]


def test_sample_json_validates_and_schema_file_is_current():
    jsonschema.validate(_meta().to_json_dict(), sample_json_schema())
    assert json.loads(SCHEMA_PATH.read_text()) == sample_json_schema(), "run python -m schemas.sample_schema"
    assert schema_main(["--check"]) == 0


def test_a_stale_schema_file_is_caught_and_rewritten(tmp_path, capsys):
    stale = tmp_path / "sample.schema.json"
    stale.write_text(SCHEMA_PATH.read_text().replace('"minItems": 1', '"minItems": 0'))
    assert schema_main(["--check", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert schema_main([str(stale)]) == 0
    assert schema_main(["--check", str(stale)]) == 0


def test_the_schema_is_generated_from_the_record_fields():
    schema = sample_json_schema()
    names = [f.name for f in dataclasses.fields(SampleMeta)]
    assert list(schema["properties"]) == names and schema["required"] == names
    assert schema["properties"]["captions"]["items"]["properties"]["origin"] == {"enum": list(CAPTION_ORIGINS)}
    assert schema["properties"]["split"] == {"enum": list(SPLITS)}
    assert schema["properties"]["segment"]["type"] == ["object", "null"]
    assert schema["properties"]["original_data"]["required"] == ["language", "dataset", "source_id"]
    assert "additionalProperties" not in schema["properties"]["original_data"]  # stages add their own keys


def test_a_new_record_field_appears_in_the_schema_with_its_constraints():
    @dataclasses.dataclass(frozen=True)
    class Probe:
        snr_db: Annotated[float, JsonSchema(minimum=-10)]
        labels: tuple[str, ...] = ()
        note: str | None = None

    assert json_schema_of(Probe) == {
        "type": "object",
        "required": ["snr_db", "labels", "note"],
        "properties": {
            "snr_db": {"type": "number", "minimum": -10},
            "labels": {"type": "array", "items": {"type": "string"}},
            "note": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
    }


def test_from_json_reads_shard_bytes_text_and_dicts():
    meta = _meta()
    data = meta.to_json_dict()
    assert SampleMeta.from_json(json.dumps(data).encode()) == meta
    assert SampleMeta.from_json(json.dumps(data)) == meta
    assert SampleMeta.from_json(data) == meta
    assert meta.language == "en"


def test_from_json_reads_laion_json_without_captions():
    laion = {"text": ["a dog barks"], "tag": ["dog"], "original_data": {"language": "fr"}}
    meta = SampleMeta.from_json(laion, key="k1", split="valid", duration_s=2.0)
    assert meta.captions == (Caption("a dog barks", "fr", "human"),)
    assert (meta.key, meta.split, meta.duration_s) == ("k1", "valid", 2.0)
    one_string = SampleMeta.from_json(
        {"text": "a cat", "tag": [], "original_data": {}}, key="k", split="train", duration_s=1
    )
    assert one_string.text == ("a cat",) and one_string.language == "und"


def test_from_json_refuses_what_does_not_fit_the_record():
    with pytest.raises(ValueError):
        SampleMeta.from_json(b"[1, 2]")
    with pytest.raises(ValueError):
        SampleMeta.from_json(b"{not json")
    broken = _meta().to_json_dict()
    broken["captions"][0]["origin"] = "guess"
    with pytest.raises(ValueError):
        SampleMeta.from_json(broken)
    with pytest.raises(TypeError):
        SampleMeta.from_json({"text": ["x"], "tag": [], "original_data": {}})  # no key, split, duration


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("text"),
        lambda d: d["original_data"].pop("language"),
        lambda d: d.update(sample_rate=44100),
        lambda d: d.update(split="dev"),
        lambda d: d["captions"][0].update(origin="guess"),
        lambda d: d.update(key="a.b"),
        lambda d: d.update(unexpected=1),
    ],
)
def test_schema_rejects_broken_samples(mutate):
    data = _meta().to_json_dict()
    mutate(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, sample_json_schema())


def test_text_must_match_captions_and_be_non_empty():
    with pytest.raises(ValueError):
        _meta(text=("other",))
    with pytest.raises(ValueError):
        Caption(" ", "en", "template")


def test_keys_are_webdataset_safe():
    assert make_key("cv", "fr", "common_voice_fr_1.mp3") == "cv-fr-common_voice_fr_1_mp3"
    assert "." not in make_key("a.b/c", "../d")
    assert sample_key("abc", 3, 2) == "abc_003_2"
    with pytest.raises(ValueError):
        SourceItem(key="bad.key", uri="x", dataset="d", source_id="1")
    with pytest.raises(ValueError):
        SourceItem(key="k", uri="x", dataset="d", source_id="1", split="dev")


def test_vocabularies_normalise_dataset_labels():
    assert normalize_emotion("ANG") == "angry" and normalize_emotion("happiness") == "happy"
    assert normalize_emotion("weird") is None
    assert (
        normalize_gender("F") == "female"
        and normalize_gender("other") == "unknown"
        and normalize_gender(None) == "unknown"
    )
    assert (
        normalize_age_group(34) == "thirties"
        and normalize_age_group("teens") == "teen"
        and normalize_age_group(8) == "child"
    )
    assert (
        normalize_language("fr-FR") == "fr"
        and normalize_language("deu") == "de"
        and normalize_language("German") == "de"
    )
    assert normalize_language(None) == "und" and iso639_3("rw") == "kin"


def test_shard_stats_round_trip():
    stats = ShardStats("000001", "train", 3, 2, 1, 5, 12.5, 1000, seconds_by_language={"en": 12.5})
    assert ShardStats.from_dict(stats.to_dict()) == stats
