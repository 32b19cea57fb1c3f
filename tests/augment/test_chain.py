"""The augment half of the in-shard chain end to end: describe → augment → rewrite → translate → encode.

A TTS utterance goes through the real stages (the LLM is the in-test fake server); every sample
JSON must validate against the exported schema, with parameters and captions as documented.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import soxr

from augment.noise import DEFAULT_LABELS, default_noise_bank
from schemas import SAMPLE_RATE, Segment, SourceItem, sample_json_schema
from tests.augment.fake_llm import FakeLLM
from transforms.augment import DEFAULT_AUGMENTATIONS, AugmentSettings, AugmentStage
from transforms.describe import DescribeStage
from transforms.encode import sample_meta
from transforms.rewrite import LLMConfig, RewriteStage
from transforms.stage import Sample
from transforms.translate import TranslateStage
from transforms.tts import synthesize


def tts_sample() -> Sample:
    speech = synthesize("It is raining outside", "en", variant="f2", style="happy")
    audio = soxr.resample(speech.audio, speech.sample_rate, SAMPLE_RATE).astype(np.float32)
    item = SourceItem(
        key="demo-en-0007",
        uri="demo://demo-en-0007",
        dataset="demo",
        source_id="0007",
        language="en",
        transcript="It is raining outside",
        gender="female",
        emotion="happy",
    )
    segment = Segment(
        source_key=item.key, index=0, start_s=0.0, duration_s=len(audio) / SAMPLE_RATE, transcript=item.transcript
    )
    return Sample(item=item, audio=audio, segment=segment)


def rewrite_politely(body: dict, call: int) -> tuple[int, str, float]:
    caption = body["messages"][-1]["content"]
    noise = next(label for label in DEFAULT_LABELS if label in caption)
    return 200, f"Over {noise}, a woman happily says, 'It is raining outside'.", 0.0


def test_augmented_demo_sample_json_records_params_captions_and_translations(tmp_path: Path) -> None:
    bank = default_noise_bank([tts_sample().audio], seed=0, duration_s=2.0)
    samples, failures = DescribeStage().process([tts_sample()])
    samples, more = AugmentStage(
        AugmentSettings(augmentations=DEFAULT_AUGMENTATIONS, copies=2, seed=3), noise_bank=bank
    ).process(samples)
    failures += more
    with FakeLLM(rewrite_politely) as llm:
        samples, more = RewriteStage(LLMConfig(url=llm.url, cache_dir=str(tmp_path)), scope="augmented").process(
            samples
        )
    failures += more
    samples, more = TranslateStage(("fr", "rw")).process(samples)
    assert failures + more == []

    schema = sample_json_schema()
    metas = [json.loads(json.dumps(sample_meta(s, "train").to_json_dict())) for s in samples]
    for meta in metas:
        jsonschema.validate(meta, schema)
    original, *copies = metas
    assert original["augmentations"] == [] and {c["language"] for c in original["captions"]} >= {"en", "fr", "rw"}
    for copy in copies:
        noise = next(a for a in copy["augmentations"] if a["name"] == "noise")
        assert {"noise_weight_lambda", "snr_db", "noise_label"} <= set(noise["params"])
        origins = [c["origin"] for c in copy["captions"]]
        assert origins[:2] == ["template", "rewrite"] and "translation" in origins
        assert copy["original_data"]["rewrite"]["status"] == "ok"
        assert copy["original_data"]["augmented_from"] == original["key"]
    assert [m["key"] for m in metas] == ["demo-en-0007_000_0", "demo-en-0007_000_1", "demo-en-0007_000_2"]
