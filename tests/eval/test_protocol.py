"""The demo's honest protocol (model/protocol.py): test voices and sentences never seen in training."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf

from model.evalset import iter_samples
from model.protocol import caption_families, prompt_seen_in_training, resplit

VOICES = {"en-f1": "female", "en-f2": "female", "en-m1": "male", "en-m3": "male"}
SENTENCES = [f"Sentence number {i} is here." for i in range(20)]


def _flac() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(4_800, dtype=np.float32), 48_000, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _write(root: Path) -> Path:
    """Every voice reads every sentence, with one augmented copy each, spread over two splits."""
    flac = _flac()
    dataset = root / "demo-en"
    tars = {split: tarfile.open(_mkdir(dataset / split) / "000000.tar", "w") for split in ("train", "test")}
    count = 0
    for voice, gender in VOICES.items():
        for i, sentence in enumerate(SENTENCES):
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


def test_resplit_holds_out_one_voice_per_gender_and_a_share_of_sentences(tmp_path: Path) -> None:
    out = tmp_path / "protocol"
    summary = resplit([str(_write(tmp_path / "shards"))], out, sentence_fraction=0.3)
    assert summary["held_out_voices"] == ["en-f2", "en-m3"]
    train_voices, train_sentences, train = _voices_and_sentences([str(out)], "train")
    test_voices, test_sentences, test = _voices_and_sentences([str(out)], "test")
    assert test and train
    assert not train_voices & test_voices and not train_sentences & test_sentences
    assert test_voices == {"en-f2", "en-m3"}  # both genders in the test split
    assert all(m.split == "test" for m in test)  # the JSON says where the sample now lives
    keys = {m.key for m in test}
    assert all(k[:-1] + "1" in keys for k in keys if k.endswith("_0"))  # augmented copies follow their sample
    _, _, valid = _voices_and_sentences([str(out)], "valid")
    assert len(train) + len(valid) + len(test) == 2 * len(VOICES) * len(SENTENCES)


def test_caption_families_abstract_labels_and_transcripts_and_flag_seen_prompts(tmp_path: Path) -> None:
    _, _, metas = _voices_and_sentences([str(_write(tmp_path / "shards"))], "train")
    families = caption_families(metas)
    names = {f["family"] for f in families}
    assert names == {"A {gender} saying '{transcript}' in a {emotion} voice", "{transcript}"}
    assert not prompt_seen_in_training("A {label}", families, "gender")
    assert prompt_seen_in_training("{label}", [{"family": "{gender}"}], "gender")
