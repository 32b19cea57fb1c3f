"""Zero-shot prompt building and classification (model/zeroshot.py)."""

from __future__ import annotations

import json

import pytest
import torch

from model.api import ClaraModel
from model.evalset import load_eval_set
from model.zeroshot import build_prompts, class_embeddings, labels_from_file, render_label, zero_shot


def test_english_prompts_start_with_table_ii_templates():
    prompts = build_prompts("emotion", ["happy", "sad"])
    assert prompts["happy"][0] == ("A person talking in a happy voice", "en")
    assert build_prompts("gender", ["male"])["male"][0] == ("A man", "en")
    assert build_prompts("sound", ["dog"])["dog"][0] == ("The sound of dog", "en")
    assert build_prompts("language", ["fr"])["fr"][0] == ("French speaker", "en")
    assert len(prompts["sad"]) >= 3  # several templates per class


def test_french_german_spanish_prompts_render_labels_in_that_language():
    assert ("Une personne parle d'une voix joyeuse", "fr") in build_prompts("emotion", ["happy"], "fr")["happy"]
    assert ("Ein Mann spricht", "de") in build_prompts("gender", ["male"], "de")["male"]
    assert ("Una mujer habla", "es") in build_prompts("gender", ["female"], "es")["female"]
    assert ("Locuteur allemand", "fr") in build_prompts("language", ["de"], "fr")["de"]


def test_language_without_templates_falls_back_to_english():
    prompts = build_prompts("emotion", ["angry"], "it")
    assert all(lang == "en" for _, lang in prompts["angry"])
    assert prompts["angry"][0][0] == "A person talking in an angry voice"  # English articles follow the label


def test_keyword_prompt_keeps_the_word_in_its_own_language():
    prompts = build_prompts("keyword", ["hola"], "es")["hola"]
    assert ("hola", "es") in prompts
    prompts_xx = build_prompts("keyword", ["gwir"], "cy")["gwir"]
    assert ("gwir", "cy") in prompts_xx and ("A person saying 'gwir'", "en") in prompts_xx


def test_unknown_labels_render_as_themselves():
    assert render_label("sound", "crackling_fire") == "crackling fire"
    assert render_label("emotion", "sarcastic", "de") == "sarkastischer"


def test_class_embedding_is_the_renormalised_mean_of_its_prompts(tiny_run):
    clara = ClaraModel.from_checkpoint(tiny_run, device="cpu")
    prompts = build_prompts("gender", ["male", "female"], "fr")
    classes = class_embeddings(clara, prompts)
    texts = [t for t, _ in prompts["male"]]
    mean = clara.get_text_embeddings(texts, language="fr").mean(dim=0)
    assert classes.shape == (2, clara.embed_dim)
    assert torch.allclose(classes[0], mean / mean.norm(), atol=1e-5)


def test_zero_shot_on_shards_uses_metadata_labels_and_skips_augmented_copies(tiny_run, eval_shards):
    clara = ClaraModel.from_checkpoint(tiny_run, device="cpu")
    test = load_eval_set(clara, [str(eval_shards)], "test")
    assert len(test) == 12  # the 12 augmented twins are left out
    result = zero_shot(clara, test, "gender")
    assert result.labels == ["female", "male"]
    assert result.evaluated == 12
    assert set(result.metrics) >= {"top1_accuracy", "mAP@10", "balanced_accuracy"}
    native = zero_shot(clara, test, "emotion", prompt_language="sample")
    assert native.scores.shape == (12, 2)


def test_labels_from_a_vocabulary_json(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"emotion": ["neutral", "happy"], "gender": ["male", "female"]}))
    assert labels_from_file(path, "emotion") == ["neutral", "happy"]
    with pytest.raises(KeyError):
        labels_from_file(path, "sound")


def test_language_id_prompts_in_each_class_language(tiny_run, eval_shards):
    clara = ClaraModel.from_checkpoint(tiny_run, device="cpu")
    test = load_eval_set(clara, [str(eval_shards)], "test")
    result = zero_shot(clara, test, "language", prompt_language="label")
    assert result.labels == ["en", "fr"] and result.scores.shape == (12, 2)
    with pytest.raises(ValueError):
        zero_shot(clara, test, "gender", prompt_language="label")


class _CollapsedTextModel:
    """Every prompt lands on the same point: all classes tie for every clip."""

    def get_text_embeddings(self, texts, language=None):
        return torch.nn.functional.normalize(torch.ones(len(texts), 4), dim=-1)


def test_multi_label_top1_counts_ties_against_the_clip():
    from model.evalset import EvalSet

    clips = EvalSet(
        keys=["a", "b"],
        embeddings=torch.nn.functional.normalize(torch.randn(2, 4), dim=-1),
        captions=[[], []],
        original=[{"labels": ["dog", "bark"]}, {"labels": ["dog"]}],
        durations_s=[1.0, 1.0],
    )
    result = zero_shot(_CollapsedTextModel(), clips, "sound", labels=["dog", "bark", "cat"])
    assert result.metrics["top1_accuracy"] == 0.0  # argmax would pick "dog", the first index, every time


def test_english_prompts_say_an_before_a_vowel_sound() -> None:
    from model.zeroshot import build_prompts, english_articles

    prompts = build_prompts("emotion", ["angry", "sad"], "en")
    assert prompts["angry"][0][0] == "A person talking in an angry voice"
    assert ("An angry voice", "en") in prompts["angry"]
    assert prompts["sad"][0][0] == "A person talking in a sad voice"
    assert english_articles("a user, a European, a one-off") == "a user, a European, a one-off"
    assert build_prompts("emotion", ["angry"], "fr")["angry"][0][0] == "Une personne parle d'une voix en colère"
