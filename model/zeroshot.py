"""Zero-shot classification with natural-language class prompts (paper §V-C, Tables I–III).

Each class label is rendered into several prompts from the task's templates (Table II's
first: 'A {label}' for gender, 'A person talking in a {label} voice' for emotion, 'The sound
of {label}' for sounds, '{label} speaker' for language, 'A {label} year old' for age; and for
the controlled demo corpus 'A person speaking {label}' for speaking rate, 'A {label} voice'
for pitch), in the
requested language (``model/prompts.json``: en, fr, de, es; others fall back to English). The
prompts' text embeddings are averaged per class and renormalised (CLIP's prompt ensembling);
a clip's class scores are its cosine similarities to those class embeddings.

``prompt_language="sample"`` builds the prompts in each clip's own language (its
``original_data.language``): multilingual evaluation where the language is given. For
language ID, ``prompt_language="label"`` writes each class's prompts in that class's language
('English speaker', 'Locuteur français', 'Eine Person, die Deutsch spricht'), each tagged with its language.

Label sets come from a JSON file (``{"emotion": [...], "gender": [...]}``, the shape of the
dataset adapters' ``vocabulary()``; dump one with
``python -c "import json; from pipelines.sources.crema_d import CremaDSource as S; print(json.dumps(S.vocabulary()))"``)
or, by default, from the evaluation set's own metadata.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from model.api import ClaraModel
from model.evalset import EvalSet
from model.metrics import classification_metrics, multilabel_metrics, recall_at_k, relevant_ranks, top_k_accuracy
from schemas.vocab import language_name, normalize_language

PROMPTS_PATH = Path(__file__).with_name("prompts.json")
TASKS: tuple[str, ...] = ("age", "gender", "emotion", "sound", "language", "keyword", "rate", "pitch")
"""``rate`` and ``pitch`` read the controlled demo corpus's ground truth (``extra.truth``), grouped
into two classes (``label_groups`` in prompts.json: slow/fast, low/high; the middle level unlabelled)."""
UNLABELLED = {None, "", "unknown", "und"}

Prompt = tuple[str, str]
"""``(text, language code)``: the text encoder reads both."""


@functools.cache
def prompt_data() -> dict[str, Any]:
    return json.loads(PROMPTS_PATH.read_text(encoding="utf-8"))


def task_field(task: str) -> str:
    """The ``original_data`` field holding a task's ground truth (``gender``, ``labels``, ...)."""
    if task not in TASKS:
        raise ValueError(f"unknown zero-shot task {task!r}; tasks: {', '.join(TASKS)}")
    return prompt_data()["fields"][task]


def task_values(task: str, values: Sequence[Any]) -> list[Any]:
    """A task's per-clip ground truth with its label groups applied (``very_fast`` → ``fast``;
    a value outside every group, such as ``moderate``, reads as unlabelled)."""
    groups = prompt_data().get("label_groups", {}).get(task)
    if groups is None:
        return list(values)
    return [groups.get(value) if isinstance(value, str) else None for value in values]


def templates_for(task: str, language: str = "en") -> tuple[list[str], str]:
    """The task's templates in ``language`` and the language they are really in (English fallback)."""
    by_language = prompt_data()["templates"][task]
    language = normalize_language(language)
    if language in by_language:
        return list(by_language[language]), language
    return list(by_language["en"]), "en"


def render_label(task: str, label: str, language: str = "en") -> str:
    """A label as prompts say it: 'male' → 'man' / 'un homme', 'fr' → 'French' / 'français'."""
    renderings = prompt_data()["labels"].get(task, {})
    for lang in (normalize_language(language), "en"):
        if label in renderings.get(lang, {}):
            return renderings[lang][label]
        if task == "language" and lang == "en":
            return language_name(label)
    return label.replace("_", " ")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])(?!(?i:uni|use|usu|eu|one))")


def english_articles(text: str) -> str:
    """'a' before a vowel sound becomes 'an' ('in a angry voice' → 'in an angry voice')."""
    return _A_BEFORE_VOWEL.sub(r"\1n ", text)


def build_prompts(
    task: str, labels: Sequence[str], language: str = "en", templates: Sequence[str] | None = None
) -> dict[str, list[Prompt]]:
    """Per label, its prompts ``(text, language)`` from the task's templates in ``language``.

    ``templates`` overrides the built-in ones (they are then taken to be in ``language``).
    For keywords the bare keyword is tagged with the keyword's own language, whatever the
    wrapper templates fell back to.
    """
    if templates is not None:
        chosen, prompt_language = list(templates), normalize_language(language)
    else:
        chosen, prompt_language = templates_for(task, language)
    out: dict[str, list[Prompt]] = {}
    for label in labels:
        rendered = render_label(task, label, prompt_language)
        prompts: list[Prompt] = []
        for template in chosen:
            text = (
                _capitalise(template.format(label=rendered)) if task != "keyword" else template.format(label=rendered)
            )
            if prompt_language == "en" and task != "keyword":
                text = english_articles(text)
            tag = normalize_language(language) if task == "keyword" and template == "{label}" else prompt_language
            if (text, tag) not in prompts:
                prompts.append((text, tag))
        out[label] = prompts
    return out


def class_embeddings(model: ClaraModel, prompts: dict[str, list[Prompt]]) -> torch.Tensor:
    """``[C, E]``: each class's prompt embeddings averaged, then renormalised."""
    texts = [text for group in prompts.values() for text, _ in group]
    languages = [lang for group in prompts.values() for _, lang in group]
    embedded = model.get_text_embeddings(texts, language=languages)
    rows, start = [], 0
    for group in prompts.values():
        rows.append(embedded[start : start + len(group)].mean(dim=0))
        start += len(group)
    return F.normalize(torch.stack(rows), dim=-1)


def labels_from_file(path: str | Path, task: str) -> list[str]:
    """A task's label list from ``{"<task or field>": [...]}`` or a bare JSON list."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):
        return [str(x) for x in data]
    for key in (task, task_field(task)):
        if key in data:
            return [str(x) for x in data[key]]
    raise KeyError(f"{path}: no label list for {task!r} (keys: {', '.join(data)})")


def clip_labels(values: Sequence[Any]) -> list[list[str]]:
    """Each clip's labels as a list (sound labels are lists already), unlabelled values dropped."""
    out = []
    for value in values:
        items = value if isinstance(value, (list, tuple)) else [value]
        out.append([str(v) for v in items if v not in UNLABELLED])
    return out


@dataclass
class ZeroShotResult:
    task: str
    labels: list[str]
    metrics: dict[str, float]
    scores: np.ndarray
    """``[clips evaluated, classes]`` cosine similarities."""
    targets: list[list[int]]
    evaluated: int
    skipped: int
    prompt_language: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "labels": self.labels,
            "prompt_language": self.prompt_language,
            "clips": self.evaluated,
            "clips_without_label": self.skipped,
            "metrics": self.metrics,
        }


def zero_shot(
    model: ClaraModel,
    eval_set: EvalSet,
    task: str,
    labels: Sequence[str] | None = None,
    prompt_language: str = "en",
    templates: Sequence[str] | None = None,
) -> ZeroShotResult:
    """Classify ``eval_set``'s clips among ``labels`` (default: the labels its metadata holds)."""
    truth = clip_labels(task_values(task, eval_set.field_values(task_field(task))))
    labels = list(labels) if labels is not None else sorted({label for row in truth for label in row})
    if not labels:
        raise ValueError(f"no {task} labels in the evaluation set's metadata and none given")
    index = {label: i for i, label in enumerate(labels)}
    keep = [i for i, row in enumerate(truth) if any(label in index for label in row)]
    targets = [[index[label] for label in truth[i] if label in index] for i in keep]
    audio = eval_set.embeddings[keep]
    if prompt_language == "label":
        if task != "language":
            raise ValueError("prompt_language='label' applies to language ID only (each class in its own language)")
        prompts = {label: build_prompts(task, [label], label, templates)[label] for label in labels}
        scores = audio @ class_embeddings(model, prompts).T
    elif prompt_language == "sample":
        clip_languages = [normalize_language(eval_set.original[i].get("language")) for i in keep]
        scores = torch.zeros(len(keep), len(labels))
        for language in sorted(set(clip_languages)):
            rows = [r for r, lang in enumerate(clip_languages) if lang == language]
            classes = class_embeddings(model, build_prompts(task, labels, language, templates))
            scores[rows] = audio[rows] @ classes.T
    else:
        scores = audio @ class_embeddings(model, build_prompts(task, labels, prompt_language, templates)).T
    scores_np = scores.numpy().astype(np.float64)
    metrics = _metrics(scores_np, targets, len(labels))
    return ZeroShotResult(task, labels, metrics, scores_np, targets, len(keep), len(truth) - len(keep), prompt_language)


def _metrics(scores: np.ndarray, targets: list[list[int]], n_classes: int) -> dict[str, float]:
    if not targets:
        return {}
    if all(len(t) == 1 for t in targets):
        flat = np.asarray([t[0] for t in targets])
        metrics = classification_metrics(scores, flat)
        metrics["balanced_accuracy"] = float(
            np.mean([top_k_accuracy(scores[flat == c], flat[flat == c], 1) for c in np.unique(flat)])
        )
        return metrics
    relevant = np.zeros_like(scores, dtype=bool)
    for row, t in enumerate(targets):
        relevant[row, t] = True
    # Multi-label (sounds): top-1 is right when one of the clip's labels scores above every other
    # class; a tie with a wrong class counts against the clip (the project's pessimistic rule).
    metrics = {"top1_accuracy": recall_at_k(relevant_ranks(scores, relevant), 1)}
    metrics.update(multilabel_metrics(scores, relevant))
    return metrics


def per_class_accuracy(result: ZeroShotResult) -> dict[str, float]:
    """Top-1 accuracy per true class (single-label tasks)."""
    flat = np.asarray([t[0] for t in result.targets])
    out = {}
    for c, label in enumerate(result.labels):
        rows = flat == c
        if rows.any():
            out[label] = top_k_accuracy(result.scores[rows], flat[rows], 1)
    return out
