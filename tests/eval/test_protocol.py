"""The demo's protocol v2 (model/protocol.py): dev and test voices never heard in training, and no
training clip sharing a 3-word run with a dev or test sentence."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf

from model.evalset import iter_metas, iter_samples
from model.protocol import caption_families, prompt_overlap, prompt_seen_in_training, resplit, sentences

VOICES = {f"en-{g}{i}": gender for g, gender in (("f", "female"), ("m", "male")) for i in (1, 2, 4, 5)}
SENTENCES = [f"Sentence number {i} is here." for i in range(20)]
NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def _flac() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(4_800, dtype=np.float32), 48_000, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _long_items() -> list[str]:
    """Transcripts joining several sentences, and a segment cut inside a sentence (the demo's long items)."""
    rng = np.random.default_rng(5)
    joined = [" ".join(SENTENCES[j] for j in rng.choice(len(SENTENCES), 4, replace=False)) for _ in range(12)]
    return [*joined, "number 7 is here. Sentence number", "Sentence number 12"]


def _write(root: Path, transcripts: list[str] | None = None) -> Path:
    """Every voice reads every transcript, with one augmented copy each, spread over two splits."""
    flac = _flac()
    dataset = root / "demo-en"
    tars = {split: tarfile.open(_mkdir(dataset / split) / "000000.tar", "w") for split in ("train", "test")}
    count = 0
    for voice, gender in VOICES.items():
        for i, sentence in enumerate(transcripts or SENTENCES):
            for copy in (0, 1):
                key = f"demo-{voice}-{i:03d}_000_{copy}"
                split = "train" if count % 3 else "test"
                word = "man" if gender == "male" else "woman"
                meta = {
                    "key": key,
                    "text": [f"A {word} saying '{sentence}' in a happy voice", sentence],
                    "tag": [],
                    "captions": [
                        {"text": f"A {word} saying '{sentence}' in a happy voice", "language": "en", "origin": "template"},
                        {"text": sentence, "language": "en", "origin": "transcript"},
                    ],
                    "original_data": {"language": "en", "dataset": "demo", "source_id": key, "gender": gender,
                                      "emotion": "happy", "speaker_id": voice, "transcript": sentence},
                    "augmentations": [{"name": "noise", "params": {}}] if copy else [],
                    "duration_s": 0.1,
                    "split": split,
                }  # fmt: skip
                for name, data in ((f"{key}.flac", flac), (f"{key}.json", json.dumps(meta).encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tars[split].addfile(info, io.BytesIO(data))
            count += 1
    for split, tar in tars.items():
        tar.close()
        (dataset / split / "000000.stats.json").write_text("{}")
    return dataset


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _voices_and_sentences(specs: list[str], split: str) -> tuple[set[str], set[str], list]:
    metas = [meta for _, _, meta in iter_samples(specs, split, include_augmented=True)]
    voices = {m.original_data["speaker_id"] for m in metas}
    sentences = {m.original_data["transcript"] for m in metas}
    return voices, sentences, metas


def test_resplit_holds_out_dev_and_test_voices_of_each_gender_and_a_share_of_sentences(tmp_path: Path) -> None:
    out = tmp_path / "protocol"
    summary = resplit([str(_write(tmp_path / "shards"))], out, sentence_fraction=0.3)
    assert summary["held_out_voices"] == {"valid": ["en-f4", "en-m4"], "test": ["en-f5", "en-m5"]}
    train_voices, train_sentences, train = _voices_and_sentences([str(out)], "train")
    dev_voices, dev_sentences, dev = _voices_and_sentences([str(out)], "valid")
    test_voices, test_sentences, test = _voices_and_sentences([str(out)], "test")
    assert test and train and dev
    assert train_voices == {"en-f1", "en-f2", "en-m1", "en-m2"}
    assert dev_voices == {"en-f4", "en-m4"} and test_voices == {"en-f5", "en-m5"}  # both genders in each
    assert not train_sentences & (test_sentences | dev_sentences)
    assert all(m.split == "test" for m in test)  # the JSON says where the sample now lives
    keys = {m.key for m in test}
    assert all(k[:-1] + "1" in keys for k in keys if k.endswith("_0"))  # augmented copies follow their sample
    held = len(test_sentences)
    assert summary["clips"] == {"train": 4 * (20 - held), "valid": 2 * held, "test": 2 * held}
    assert summary["train_runs_shared_with_held_out"] == 0


def _runs(text: str) -> set[tuple[str, ...]]:
    tokens = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return {tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)} or {tuple(tokens)}


def test_no_training_clip_shares_a_three_word_run_with_a_dev_or_test_sentence(tmp_path: Path) -> None:
    out = tmp_path / "protocol"
    transcripts = SENTENCES + _long_items()
    summary = resplit([str(_write(tmp_path / "shards", transcripts))], out, sentence_fraction=0.3)
    assert summary["sentences"] == len(SENTENCES)  # a segment's cut-off fragments are not sentences
    _, train_texts, train = _voices_and_sentences([str(out)], "train")
    _, dev_texts, _ = _voices_and_sentences([str(out)], "valid")
    _, test_texts, _ = _voices_and_sentences([str(out)], "test")
    # (pieces of 3 words or more: "Sentence number", a segment's cut end, is in every transcript)
    held_sentences = {s for text in dev_texts | test_texts for s in sentences(text) if len(s.split()) >= 3}
    assert held_sentences and train
    held_runs = set().union(*(_runs(s) for s in held_sentences))
    assert all(not _runs(text) & held_runs for text in train_texts)
    # A training transcript never contains a held-out sentence, not even inside a long item.
    assert all(s not in text for text in train_texts for s in held_sentences)
    # Long items mixing held-out and training sentences are left out; a held-out sentence's own fragment
    # ("Sentence number 12" of "Sentence number 12 is here.") is not training material either.
    assert summary["left_out_clips"].get("mixed", 0) > 0
    mixed = [t for t in _long_items() if any(s in held_sentences for s in sentences(t))]
    assert mixed and not set(mixed) & train_texts


def test_caption_families_abstract_labels_and_transcripts_and_flag_seen_prompts(tmp_path: Path) -> None:
    _, _, metas = _voices_and_sentences([str(_write(tmp_path / "shards"))], "train")
    families = caption_families(metas)
    names = {f["family"] for f in families}
    assert names == {"A {gender} saying '{transcript}' in a {emotion} voice", "{transcript}"}
    # Word overlap, not family equality: 'A {label}' is every word of the training family's start.
    assert prompt_overlap("A {label}", families, "gender")["word_overlap"] == 1.0
    near = prompt_overlap("Someone speaking in a {label} voice", families, "emotion")
    assert near["word_overlap"] == round(4 / 6, 3) and near["near_training"]
    assert near["nearest_family"] == "A {gender} saying '{transcript}' in a {emotion} voice"
    far = prompt_overlap("{label} speaker", families, "language")
    assert far["word_overlap"] == 0 and not far["near_training"]
    assert prompt_seen_in_training("A {label}", families, "gender")


def test_the_prepared_demo_sentences_give_protocol_v2_a_hundred_disjoint_sentences_per_language() -> None:
    from model.protocol import word_runs

    path = Path(__file__).resolve().parents[2] / "pipelines" / "sources" / "data" / "demo_sentences.json"
    by_language = json.loads(path.read_text(encoding="utf-8"))
    for language in ("en", "fr", "de"):
        texts = by_language[language]
        assert len(set(texts)) >= 100, language
        owners: dict[tuple[str, ...], int] = {}
        for index, text in enumerate(texts):  # no two sentences share a 3-word run: none is lost to the rule
            for run in word_runs(text):
                assert owners.setdefault(run, index) == index, (language, run)


def test_clips_joining_held_out_sentences_and_fragments_are_held_out_not_mixed() -> None:
    """A segment of a paragraph of held-out sentences is evaluation material (the runs straddling
    its sentences are words of no sentence), and a fragment cut at a segment's end is not a
    sentence of its own: hashed alone it could be held out while its sentence is not, and turn
    every clip of that sentence mixed."""
    from model.protocol import HeldOutText, sentence_held_out, whole_sentences

    held = [s for s in SENTENCES if sentence_held_out(s, 0.3)]
    seen = [s for s in SENTENCES if not sentence_held_out(s, 0.3)]
    # "Sentence number 5" of a seen sentence, a fragment whose own hash would hold it out
    parent = next(s for s in seen if sentence_held_out(" ".join(s.split()[:3]), 0.3))
    fragment = " ".join(parent.split()[:3])
    seen.remove(parent)
    transcripts = [*SENTENCES, f"{held[0]} {held[1]}", f"{seen[1]} {fragment}", fragment]
    assert whole_sentences(transcripts) == set(SENTENCES)
    text = HeldOutText.from_transcripts(transcripts, 0.3)
    assert text.sentences == set(held)
    assert text.content(f"{held[0]} {held[1]}") == "held"
    assert text.content(f"{held[0]} {' '.join(held[1].split()[:3])}") == "held"  # ends in a fragment
    assert text.content(f"{seen[1]} {fragment}") == "seen"
    assert text.content(parent) == "seen"
    assert text.content(f"{seen[1]} {held[0]}") == "mixed"


def test_five_voices_per_gender_give_a_dev_and_a_test_voice_of_each_gender_in_every_language() -> None:
    """The trainer demo's ten voices: per (language, gender) three train, one dev, one test."""
    from types import SimpleNamespace

    from model.demo import DEMO_VOICES
    from model.protocol import voice_roles

    genders = {"f": "female", "m": "male"}
    metas = [
        SimpleNamespace(language=lang, original_data={"speaker_id": f"espeak-{lang}-{v}", "gender": genders[v[0]]})
        for lang in ("en", "fr", "de")
        for v in DEMO_VOICES.split(",")
    ]
    roles = voice_roles(metas)
    for lang in ("en", "fr", "de"):
        for g in ("f", "m"):
            mine = {v: r for v, r in roles.items() if v.startswith(f"espeak-{lang}-{g}")}
            assert sorted(mine.values()) == ["test", "valid"]


def test_the_records_read_without_audio_are_those_read_with_it(tmp_path: Path) -> None:
    specs = [str(_write(tmp_path / "shards"))]
    for augmented in (False, True):
        with_audio = [meta for _, _, meta in iter_samples(specs, "train", include_augmented=augmented)]
        assert with_audio and list(iter_metas(specs, "train", include_augmented=augmented)) == with_audio


def test_the_language_yardstick_reads_the_label_it_is_asked_for(tmp_path: Path) -> None:
    # bench/language_baseline.py --label: the clips come with that field of their record, not the language.
    from bench.language_baseline import clips

    specs = _write(tmp_path / "shards").parent
    audio, languages = clips(specs, "train", augmented=False)
    _, genders = clips(specs, "train", augmented=False, label="gender")
    _, emotions = clips(specs, "train", augmented=False, label="emotion")
    expected = [meta.original_data["gender"] for meta in iter_metas([str(specs)], "train")]
    assert audio and set(languages) == {"en"} and set(emotions) == {"happy"}
    assert genders == expected and set(genders) == set(VOICES.values())
