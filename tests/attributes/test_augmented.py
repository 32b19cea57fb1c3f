"""Augmented copies say what they sound like: the estimates their effects made stale are taken again."""

from __future__ import annotations

import numpy as np
import pytest

from augment import effects
from augment.noise import NoiseBank, white_noise
from schemas import Augmentation
from tests.attributes.test_stage import _sample
from transforms.attributes import words
from transforms.attributes.stage import AttributesSettings, AttributesStage, remeasure_copy
from transforms.augment import AugmentSettings, AugmentStage
from transforms.describe import DescribeStage, sample_attribute_caption
from transforms.stage import Sample

MEASURED = AttributesSettings(attributes=("pitch", "snr", "reverberation", "dnsmos"))


@pytest.fixture(scope="module")
def measured() -> Sample:
    """espeak-ng speech, measured and described: a clean, close-sounding recording."""
    (sample,), _ = AttributesStage(MEASURED).process([_sample(175)])
    (sample,), _ = DescribeStage().process([sample])
    assert sample.original_data["attributes"]["words"]["noise"] == "clean"
    return sample


def test_a_copy_with_noise_mixed_at_low_snr_never_says_clean(measured):
    bank = NoiseBank(entries=(("white noise", white_noise(2.0, 1)),), name="test")
    settings = AugmentSettings(augmentations=("noise",), copies=1, seed=3, noise_weight_range=(0.7, 0.7))
    _, copy = AugmentStage(settings, noise_bank=bank, attributes=MEASURED).process([measured])[0]
    mixed_snr = copy.augmentations[-1].params["snr_db"]
    record = copy.original_data["attributes"]
    assert mixed_snr < 5
    assert record["remeasured"] == ["snr", "reverberation", "dnsmos"]
    assert record["words"]["noise"] in ("very_noisy", "noisy") and record["snr"]["snr_db"] < 15
    assert record["dnsmos"]["ovrl"] < measured.original_data["attributes"]["dnsmos"]["ovrl"]
    assert record["pitch"] == measured.original_data["attributes"]["pitch"]  # the voice is the original's
    said = " ".join(c.text for c in copy.captions)
    assert "clean" not in said and sample_attribute_caption(copy) in said
    assert "noise_level:clean" not in copy.tags and f"noise_level:{record['words']['noise']}" in copy.tags


def test_a_pitch_shifted_copy_does_not_keep_the_originals_pitch_word(measured):
    original = measured.original_data["attributes"]
    semitones = 5.0 if original["words"]["pitch"] in ("very_low", "low", "moderate") else -5.0
    audio = effects.pitch(np.asarray(measured.audio), semitones)
    shifted = measured.derive(
        augment_index=1, audio=audio, augmentations=[Augmentation("pitch", {"semitones": semitones})]
    )
    copy = remeasure_copy(shifted, ["pitch"], MEASURED)
    record = copy.original_data["attributes"]
    expected_hz = original["pitch"]["median_hz"] * 2 ** (semitones / 12)
    assert record["pitch"]["median_hz"] == pytest.approx(expected_hz, rel=0.04)
    assert record["words"]["pitch"] != original["words"]["pitch"] and record["remeasured"] == ["pitch"]
    assert record["snr"] == original["snr"]  # a pitch shift leaves the recording's estimates alone
    old, new = words.ENGLISH["pitch"][original["words"]["pitch"]], words.ENGLISH["pitch"][record["words"]["pitch"]]
    assert sample_attribute_caption(copy) in [c.text for c in copy.captions]
    caption = sample_attribute_caption(copy)
    assert new in caption and old not in caption.replace(new, "")


def test_a_gain_only_copy_keeps_the_originals_estimates(measured):
    louder = measured.derive(augment_index=1, audio=np.asarray(measured.audio) * 0.5)
    assert remeasure_copy(louder, ["gain"], MEASURED) is louder


def test_the_augment_stage_gets_the_attributes_settings_when_the_stage_runs():
    from pipelines.options import config_from
    from transforms.augment import build_augment

    assert build_augment(config_from({"augment": "gain", "attributes": "snr"})).attributes.attributes == ("snr",)
    assert build_augment(config_from({"augment": "gain"})).attributes is None
