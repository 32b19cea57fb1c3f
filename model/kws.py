"""Multilingual keyword spotting, per language (paper §V-B, Appendix D, Table VIII).

MSWC-style sets: one spoken word per clip, the keyword in ``original_data.extra.keyword``
(else the transcript). Accuracy is per word utterance, per language, among that language's
keywords (those its test and train splits hold). Two ways to classify:

- ``zeroshot``: keyword prompts (the bare word in its language, and 'A person saying
  '{word}''), best-scoring keyword wins;
- ``probe``: a linear probe per language on frozen features of the train split (early
  stopping on valid), scored on test (the paper's few-shot setting).

Next to each accuracy goes the amount of training audio for that language, in hours (Table
VIII's "Training Sample (Hours)"): from ``--hours-from`` (a dataset card's
``hours_by_language`` or another shard set's train split, e.g. the pretraining corpus), else
from the evaluation data's own train split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from model.api import ClaraModel
from model.evalset import EvalSet, split_hours
from model.metrics import top_k_accuracy
from model.probe import ProbeConfig, probe_accuracy, train_probe
from model.zeroshot import build_prompts, class_embeddings
from schemas.vocab import language_name, normalize_language

# Table VIII's language family and script columns, for the languages the paper reports.
FAMILY_SCRIPT: dict[str, tuple[str, str]] = {
    "ar": ("Afro-Asiatic", "Arabic"), "br": ("Indo-European", "Latin"), "ca": ("Indo-European", "Latin"),
    "cy": ("Indo-European", "Latin"), "de": ("Indo-European", "Latin"), "dv": ("Indo-European", "Thaana"),
    "el": ("Indo-European", "Greek"), "en": ("Indo-European", "Latin"), "eo": ("Constructed", "Latin"),
    "et": ("Uralic", "Latin"), "eu": ("Language isolate", "Latin"), "fa": ("Indo-European", "Perso-Arabic"),
    "fr": ("Indo-European", "Latin"), "id": ("Austronesian", "Latin"), "it": ("Indo-European", "Latin"),
    "ka": ("Kartvelian", "Georgian"), "ky": ("Turkic", "Cyrillic"), "mn": ("Mongolic", "Cyrillic"),
    "pl": ("Indo-European", "Latin"), "ro": ("Indo-European", "Latin"), "ru": ("Indo-European", "Cyrillic"),
    "rw": ("Niger-Congo", "Latin"), "ta": ("Dravidian", "Tamil"), "tr": ("Turkic", "Latin"),
    "uk": ("Indo-European", "Cyrillic"), "or": ("Indo-European", "Kalinga"), "lt": ("Indo-European", "Latin"),
    "sk": ("Indo-European", "Latin"), "gn": ("Tupian", "Latin"), "as": ("Indo-European", "Bengali"),
    "lv": ("Indo-European", "Latin"), "vi": ("Austroasiatic", "Latin"), "ha": ("Afro-Asiatic", "Arabic"),
    "sl": ("Indo-European", "Latin"), "cv": ("Turkic", "Cyrillic"), "es": ("Indo-European", "Latin"),
    "nl": ("Indo-European", "Latin"), "pt": ("Indo-European", "Latin"),
}  # fmt: skip
MODES: tuple[str, ...] = ("zeroshot", "probe")


def keyword_of(meta: dict[str, Any]) -> str | None:
    extra = meta.get("extra") or {}
    word = extra.get("keyword") or meta.get("transcript")
    return str(word).strip().lower() if word else None


def hours_by_language(source: str | None, data: list[str] | str) -> dict[str, float]:
    """Training hours per language: a dataset card JSON, a shard spec's train split, or ``data``'s."""
    if source and source.endswith(".json") and Path(source).is_file():
        card = json.loads(Path(source).read_text())
        return {normalize_language(k): float(v) for k, v in card.get("hours_by_language", card).items()}
    return split_hours(source or data, "train")


def _by_language(eval_set: EvalSet) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, meta in enumerate(eval_set.original):
        if keyword_of(meta):
            groups.setdefault(normalize_language(meta.get("language")), []).append(i)
    return groups


def evaluate_kws(
    model: ClaraModel,
    test: EvalSet,
    hours: dict[str, float],
    mode: str = "zeroshot",
    train: EvalSet | None = None,
    valid: EvalSet | None = None,
    probe_config: ProbeConfig | None = None,
) -> dict[str, Any]:
    """Per-language keyword accuracy rows (Table VIII layout) and their mean."""
    if mode not in MODES:
        raise ValueError(f"kws mode {mode!r} not in {MODES}")
    rows = []
    train_groups = _by_language(train) if train is not None else {}
    valid_groups = _by_language(valid) if valid is not None else {}
    for language, indices in sorted(_by_language(test).items()):
        words = [keyword_of(test.original[i]) for i in indices]
        train_words = [keyword_of(train.original[i]) for i in train_groups.get(language, [])] if train else []
        vocabulary = sorted(set(words) | set(train_words))
        index = {w: k for k, w in enumerate(vocabulary)}
        targets = np.asarray([index[w] for w in words])
        if mode == "zeroshot":
            classes = class_embeddings(model, build_prompts("keyword", vocabulary, language))
            scores = (test.embeddings[indices] @ classes.T).numpy()
            accuracy = top_k_accuracy(scores, targets, 1)
        else:
            if train is None or valid is None or language not in train_groups or language not in valid_groups:
                raise ValueError(f"kws probe needs train and valid clips for language {language!r}")
            tr, va = train_groups[language], valid_groups[language]
            va = [i for i in va if keyword_of(valid.original[i]) in index]
            result = train_probe(
                train.embeddings[tr],
                [index[keyword_of(train.original[i])] for i in tr],
                valid.embeddings[va],
                [index[keyword_of(valid.original[i])] for i in va],
                len(vocabulary),
                probe_config,
            )
            accuracy = probe_accuracy(result, test.embeddings[indices], targets)
        family, script = FAMILY_SCRIPT.get(language, ("", ""))
        rows.append(
            {
                "language": language_name(language),
                "code": language,
                "family": family,
                "script": script,
                "training_hours": round(hours.get(language, 0.0), 4),
                "keywords": len(vocabulary),
                "test_utterances": len(indices),
                "accuracy": accuracy,
            }
        )
    mean = float(np.mean([r["accuracy"] for r in rows])) if rows else float("nan")
    return {"mode": mode, "languages": rows, "metrics": {"mean_accuracy": mean}}
