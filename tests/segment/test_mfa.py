"""The MFA path up to the binary: corpus, command, TextGrid parsing, missing-binary errors."""

from __future__ import annotations

import shutil
import stat
import sys
import wave

import numpy as np
import pytest

from transforms.segment.mfa import (
    AlignRequest,
    MfaAligner,
    MfaUnavailableError,
    build_align_command,
    dictionary_words,
    find_mfa,
    missing_words,
    parse_textgrid,
    read_alignments,
    write_corpus,
)

TEXTGRID_WRITER = '''
def textgrid(words, xmax):
    """MFA 3 long TextGrid: a words tier (with empty silence intervals) and a phones tier."""
    intervals, t = [], 0.0
    for start, end, label in words:
        if start > t:
            intervals.append((t, start, ""))
        intervals.append((start, end, label))
        t = end
    if t < xmax:
        intervals.append((t, xmax, ""))
    def tier(name, items):
        rows = [f'        class = "IntervalTier"', f'        name = "{name}"', f"        xmin = 0", f"        xmax = {xmax}",
                f"        intervals: size = {len(items)}"]
        for i, (a, b, text) in enumerate(items, 1):
            rows += [f"        intervals [{i}]:", f"            xmin = {a}", f"            xmax = {b}", f'            text = "{text}"']
        return rows
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {xmax}",
             "tiers? <exists>", "size = 2", "item []:", "    item [1]:"]
    lines += tier("words", intervals) + ["    item [2]:"] + tier("phones", [(0, xmax, "")])
    return "\\n".join(lines) + "\\n"
'''

FAKE_MFA = '''#!{python}
"""Stands in for MFA 3: ``version``, and ``align`` writing one TextGrid per .lab (words evenly spaced)."""
import sys, wave
from pathlib import Path
{writer}
args = sys.argv[1:]
if args[:1] == ["version"]:
    print("3.2.1"); sys.exit(0)
assert args[0] == "align", args
corpus, dictionary, model, out = map(Path, args[1:5])
assert "--output_format" in args and Path(dictionary).is_file()
for lab in corpus.rglob("*.lab"):
    if "fail" in lab.stem:
        continue
    words = lab.read_text().split()
    with wave.open(str(lab.with_suffix(".wav"))) as w:
        assert w.getframerate() == 16000
        duration = w.getnframes() / 16000
    step = duration / (len(words) + 1)
    timed = [(round(step * (i + 0.5), 3), round(step * (i + 1.3), 3), word) for i, word in enumerate(words)]
    target = out / lab.parent.relative_to(corpus) / (lab.stem + ".TextGrid")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textgrid(timed, round(duration, 3)))
'''


def _install_fake(tmp_path, body=FAKE_MFA) -> str:
    path = tmp_path / "bin" / "mfa"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body.format(python=sys.executable, writer=TEXTGRID_WRITER))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _resources(tmp_path):
    dictionary = tmp_path / "english.dict"
    dictionary.write_text("hello\th ə l oʊ\nworld\tw ɜ l d\n")
    model = tmp_path / "english_mfa.zip"
    model.write_bytes(b"zip")
    return str(dictionary), str(model)


def _request(key: str, text: str, seconds: float = 2.0) -> AlignRequest:
    audio = (0.1 * np.sin(np.linspace(0, 2000, int(seconds * 16_000)))).astype(np.float32)
    return AlignRequest(key, audio, text, speaker="spk1")


def test_align_command_is_mfa3_align_with_positional_paths_and_options():
    command = build_align_command("mfa", "/c", "/d.dict", "/m.zip", "/o", num_jobs=3, beam=100)
    assert command[:6] == ["mfa", "align", "/c", "/d.dict", "/m.zip", "/o"]
    assert command[command.index("--output_format") + 1] == "long_textgrid"
    assert command[command.index("--num_jobs") + 1] == "3"
    assert command[command.index("--beam") + 1] == "100"
    assert "--clean" in command


def test_corpus_has_a_16_khz_wav_and_a_lab_per_item_in_speaker_folders(tmp_path):
    where = write_corpus([_request("k1", "Hello  world\n"), _request("k2", "again")], tmp_path)
    assert where["k1"].as_posix() == "spk1/k1"
    assert (tmp_path / "spk1" / "k1.lab").read_text() == "Hello world\n"
    with wave.open(str(tmp_path / "spk1" / "k1.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (16_000, 1, 2, 32_000)


def test_textgrid_word_tier_is_parsed_without_silences(tmp_path):
    namespace: dict = {}
    exec(TEXTGRID_WRITER, namespace)
    path = tmp_path / "k.TextGrid"
    path.write_text(namespace["textgrid"]([(0.3, 0.7, "hello"), (0.9, 1.4, "world"), (1.5, 1.6, "<eps>")], 2.0))
    words = parse_textgrid(path)
    assert [(w.word, w.start_s, w.duration_s) for w in words] == [("hello", 0.3, 0.4), ("world", 0.9, 0.5)]


def test_missing_or_broken_textgrids_become_reasons_not_exceptions(tmp_path):
    (tmp_path / "spk").mkdir()
    (tmp_path / "spk" / "bad.TextGrid").write_text("not a textgrid")
    found = read_alignments(
        tmp_path, {"gone": __import__("pathlib").Path("spk/gone"), "bad": __import__("pathlib").Path("spk/bad")}
    )
    assert "no alignment" in found["gone"]
    assert "unreadable" in found["bad"]


def test_words_missing_from_the_dictionary_are_listed_once(tmp_path):
    dictionary, _ = _resources(tmp_path)
    known = dictionary_words(dictionary)
    assert missing_words(["Hello, world! Zorblax", "zorblax quux."], known) == ["zorblax", "quux"]


def test_oov_words_get_espeak_pronunciations():
    from transforms.segment.mfa import phonemize_words

    pronunciations = phonemize_words(["zorblax"], "en-us")
    assert pronunciations["zorblax"].count(" ") >= 4  # phones separated by spaces


def test_absent_binary_is_one_clear_error_at_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    dictionary, model = _resources(tmp_path)
    with pytest.raises(MfaUnavailableError, match="conda-forge"):
        MfaAligner(dictionary, model).setup()


def test_a_binary_that_does_not_run_is_rejected_at_setup(tmp_path):
    broken = _install_fake(tmp_path, "#!/bin/sh\necho 'ImportError: _kalpy' >&2\nexit 1\n")
    with pytest.raises(MfaUnavailableError, match="_kalpy"):
        find_mfa(broken)


def test_mfa_needs_a_dictionary_and_an_acoustic_model(tmp_path):
    with pytest.raises(MfaUnavailableError, match="--mfa-dictionary"):
        MfaAligner(None, None, binary=_install_fake(tmp_path)).setup()


def test_align_runs_the_binary_and_reads_its_textgrids(tmp_path):
    dictionary, model = _resources(tmp_path)
    aligner = MfaAligner(dictionary, model, binary=_install_fake(tmp_path))
    aligner.setup()
    found = aligner.align([_request("k1", "hello world"), _request("fail1", "hello")])
    assert [w.word for w in found["k1"]] == ["hello", "world"]
    assert found["k1"][0].start_s < found["k1"][1].start_s
    assert isinstance(found["fail1"], str)


@pytest.mark.skipif(
    shutil.which("mfa") is None,
    reason="Montreal Forced Aligner is not installable here (kalpy needs Kaldi/OpenFst from conda-forge)",
)
def test_real_mfa_binary_reports_its_version():
    assert find_mfa()
