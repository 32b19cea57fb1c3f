"""Typed settings: one declaration gives flags, YAML and --set; source defaults; the fingerprint; the registry."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass

import pytest

from pipelines.cli import _shards_parser, main, resolve_config
from pipelines.options import BuildConfig, config_from, output_shaping
from pipelines.plan import shard_fingerprint
from pipelines.stages import STAGES, build_chain
from schemas import SourceItem
from schemas.settings import (
    add_flags,
    build_config,
    flag_of,
    parse_assignments,
    sections,
    setting,
    settings_fields,
)

FLAGS = [
    "--aligner", "whisper",
    "--max-segment-s", "8",
    "--augment", "noise,gain",
    "--augment-copies", "2",
    "--translate-to", "fr,de",
    "--shard-size", "64",
    "--split-fractions", "1,0,0",
    "--llm-url", "http://127.0.0.1:9/v1",
    "--visual-raw-captions",
    "--source-option", "a=1",
    "--source-option", "b=2",
]  # fmt: skip
YAML = """
segment: {aligner: whisper, max_segment_s: 8}
augment: {augmentations: [noise, gain], copies: 2}
translate: {languages: "fr,de"}
plan: {shard_size: 64, split_fractions: [1, 0, 0]}
llm: {url: "http://127.0.0.1:9/v1"}
visual: {raw_captions_in_text: true}
corpus: {source_options: [a=1, b=2]}
"""
SETS = [
    "segment.aligner=whisper",
    "segment.max_segment_s=8",
    "augment.augmentations=noise,gain",
    "augment.copies=2",
    "translate.languages=fr,de",
    "plan.shard_size=64",
    "plan.split_fractions=1,0,0",
    "llm.url=http://127.0.0.1:9/v1",
    "visual.raw_captions_in_text=true",
    "corpus.source_options=[a=1, b=2]",
]


def config_for(argv: list[str], source_defaults: dict | None = None):
    args, rest = _shards_parser().parse_known_args(argv)
    assert rest == []
    return resolve_config(args, source_defaults)


def test_yaml_file_and_set_give_the_same_config_as_flags(tmp_path):
    path = tmp_path / "build.yaml"
    path.write_text(YAML)
    from_flags = config_for(FLAGS)
    assert from_flags.segment.aligner == "whisper" and from_flags.augment.augmentations == ("noise", "gain")
    assert from_flags.corpus.source_options == ("a=1", "b=2")
    assert config_for(["--config", str(path)]) == from_flags
    assert config_for([arg for s in SETS for arg in ("--set", s)]) == from_flags
    assert from_flags != BuildConfig()


def test_flags_win_over_yaml_and_set_wins_over_flags(tmp_path):
    path = tmp_path / "build.yaml"
    path.write_text("plan: {shard_size: 64}\n")
    assert config_for(["--config", str(path), "--shard-size", "32"]).plan.shard_size == 32
    assert config_for(["--shard-size", "32", "--set", "plan.shard_size=16"]).plan.shard_size == 16


def test_source_defaults_apply_before_the_users_flags():
    demo = {"augment": "noise,reverb", "augment_copies": 1, "translate_to": "fr,de,es"}
    assert config_for([], demo).augment.augmentations == ("noise", "reverb")
    # a flag equal to the field's default is still the user's word
    assert config_for(["--augment", "none"], demo).augment.augmentations == ()
    assert config_for(["--set", "augment.augmentations=none"], demo).augment.augmentations == ()
    assert config_for(["--translate-to", "none"], demo).translate.languages == ()
    assert config_for(["--augment-copies", "3"], demo).augment.augmentations == ("noise", "reverb")


def test_a_run_only_setting_keeps_the_fingerprint_and_an_output_shaping_one_changes_it():
    items = [SourceItem(key=k, uri=f"/{k}.wav", dataset="t", source_id=k) for k in ("a", "b")]
    base = shard_fingerprint(items, output_shaping(config_from()))
    for run_only in (
        {"runner": "portable"},
        {"workers": 7},
        {"whisper_device": "cuda"},
        {"llm_concurrency": 16},
        {"decode_timeout_s": 5},
        {"llm_timeout_s": 1},
        {"overwrite": True},
        {"output": "/elsewhere"},
    ):
        assert shard_fingerprint(items, output_shaping(config_from(run_only))) == base, run_only
    for shaping in ({"augment": "noise"}, {"max_segment_s": 8}, {"seed": 1}, {"translate_to": "fr"}):
        assert shard_fingerprint(items, output_shaping(config_from(shaping))) != base, shaping
    assert shard_fingerprint(items[:1], output_shaping(config_from())) != base


def test_the_registry_builds_the_chain_from_the_enabled_stages():
    assert [spec.name for spec in STAGES] == [
        "decode", "segment", "quality", "attributes", "describe", "visual", "augment", "rewrite", "translate", "encode"
    ]  # fmt: skip
    assert [s.name for s in build_chain(config_from())] == ["decode", "segment", "describe", "encode"]
    chain = build_chain(config_from({"augment": "gain", "translate_to": "fr"}))
    assert [s.name for s in chain] == ["decode", "segment", "describe", "augment", "translate", "encode"]
    with_llm = build_chain(config_from({"llm_url": "http://127.0.0.1:9/v1", "rewrite": "augmented"}))
    assert [s.name for s in with_llm] == ["decode", "segment", "describe", "rewrite", "encode"]
    assert "rewrite" not in [s.name for s in build_chain(config_from({"llm_url": "http://x/v1", "rewrite": "none"}))]


def test_augment_seed_defaults_to_the_corpus_seed():
    (augment,) = [s for s in build_chain(config_from({"augment": "gain", "seed": 7})) if s.name == "augment"]
    assert augment.settings.seed == 7
    (augment,) = [s for s in build_chain(config_from({"augment": "gain", "augment_seed": 3})) if s.name == "augment"]
    assert augment.settings.seed == 3


def test_every_section_is_a_stage_or_a_shared_one_and_each_flag_is_declared_once():
    assert list(sections(BuildConfig)) == [
        "corpus", "plan", "screen", "run", *[spec.name for spec in STAGES if spec.settings], "llm", "storage"
    ]  # fmt: skip
    flags = [flag_of(f) for t in sections(BuildConfig).values() for f in settings_fields(t)]
    assert len(flags) == len(set(flags))
    assert all(f.startswith("--") and "_" not in f for f in flags if f != "--environment_config")
    for settings_type in sections(BuildConfig).values():
        for f in settings_fields(settings_type):
            assert f.metadata["help"] and isinstance(f.metadata["shapes_output"], bool), f.name
    parser_flags = [s for a in _shards_parser()._actions for s in a.option_strings]
    assert len(parser_flags) == len(set(parser_flags))
    assert "--max_segment_s" not in parser_flags and "--augment_copies" not in parser_flags


def test_beam_flags_pass_through_untouched():
    beam = ["--project=p", "--temp_location=gs://b/tmp", "--flink_master=jm:8081", "--s3_endpoint_url=http://s3"]
    args, rest = _shards_parser().parse_known_args(["--runner", "dataflow", *beam])
    assert rest == beam
    assert resolve_config(args).run.runner == "dataflow"


def test_bad_values_and_unknown_settings_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown setting segment.nope"):
        config_for(["--set", "segment.nope=1"])
    with pytest.raises(ValueError, match="expected a number"):
        config_for(["--set", "plan.shard_size=many"])
    with pytest.raises(ValueError, match="unknown augmentation"):
        config_for(["--set", "augment.augmentations=wobble"])
    assert main(["shards", "--set", "plan.shard_size=0", "--output", str(tmp_path)]) == 2
    assert "--shard-size must be positive" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@dataclass(frozen=True)
class Toy:
    """Toy section."""

    gain_db: float = setting(0.0, "gain", shapes_output=True)
    threads: int | None = setting(None, "threads", shapes_output=False)


@dataclass(frozen=True)
class ToyConfig:
    toy: Toy = Toy()


def test_generic_machinery_on_a_toy_config():
    import argparse

    parser = argparse.ArgumentParser()
    add_flags(parser, ToyConfig)
    args = parser.parse_args(["--gain-db", "-3"])
    from schemas.settings import given_in_namespace

    layer = given_in_namespace(args)
    assert layer == {"toy": {"gain_db": -3.0}}
    config = build_config(ToyConfig, layer, parse_assignments(["toy.threads=4"]))
    assert config == ToyConfig(Toy(gain_db=-3.0, threads=4))
    assert build_config(ToyConfig, parse_assignments(["toy.threads=none"])).toy.threads is None


@pytest.mark.slow
def test_augment_none_on_the_demo_writes_no_augmented_copy(tmp_path):
    common = ["shards", "--source", "demo", "--demo-items", "3", "--workers", "1", "--split-fractions", "1,0,0"]
    assert main([*common, "--output", str(tmp_path / "none"), "--augment", "none"]) == 0
    assert main([*common, "--output", str(tmp_path / "default")]) == 0

    def samples(root):
        with tarfile.open(root / "demo-en" / "train" / "000000.tar") as tar:
            return [
                json.load(io.BytesIO(tar.extractfile(m).read())) for m in tar.getmembers() if m.name.endswith(".json")
            ]

    plain = samples(tmp_path / "none")
    assert len(plain) == 3 and not any(s["augmentations"] for s in plain)
    default = samples(tmp_path / "default")  # the demo's own default: one augmented copy each
    assert len(default) == 6 and sum(bool(s["augmentations"]) for s in default) == 3
