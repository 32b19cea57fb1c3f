"""Audio↔text retrieval over the whole evaluation set (paper §V-E, Tables V–VI).

Every clip and every caption of the split is a candidate (not per batch): the (audio × text)
cosine-similarity matrix is ranked both ways by :func:`model.metrics.retrieval_metrics`.
Which captions are the queries:

- ``first``: each clip's first caption (the trainer's deterministic choice; one per clip);
- ``all``: every caption of a clip (after the language/origin filters), all relevant to it;
- ``protocol``: Clotho/AudioCaps as CLAP evaluates them, five captions per clip (clips with
  fewer are left out), audio→text counting a hit when any of the five is retrieved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from model.api import ClaraModel
from model.evalset import EvalSet
from model.metrics import (
    ATTRIBUTE_FIELDS,
    SPEAKER_FIELDS,
    attribute_only_retrieval,
    caption_protocol,
    retrieval_metrics,
    uniform_retrieval,
)

CAPTION_MODES: tuple[str, ...] = ("first", "all", "protocol")
MAP_KS: tuple[int, ...] = (1, 3, 5, 10)


def select_captions(
    eval_set: EvalSet,
    mode: str = "first",
    languages: Sequence[str] | None = None,
    origins: Sequence[str] | None = None,
    per_clip: int = 5,
) -> tuple[list[str], list[str | None], np.ndarray, np.ndarray]:
    """``(texts, their languages, owners, kept clip indices)``; ``owners`` index the kept clips."""
    if mode not in CAPTION_MODES:
        raise ValueError(f"caption mode {mode!r} not in {CAPTION_MODES}")
    per_clip_captions = []
    for captions in eval_set.captions:
        chosen = [
            c
            for c in captions
            if (not languages or c.get("language") in languages) and (not origins or c.get("origin") in origins)
        ]
        per_clip_captions.append(chosen[:1] if mode == "first" else chosen)
    if mode == "protocol":
        texts_only = [[c["text"] for c in chosen] for chosen in per_clip_captions]
        texts, owners, kept = caption_protocol(texts_only, per_clip)
        langs = [c.get("language") for i in kept for c in per_clip_captions[i][:per_clip]]
        return texts, langs, owners, kept
    texts, langs, owners, kept = [], [], [], []
    for index, chosen in enumerate(per_clip_captions):
        if not chosen:
            continue
        for caption in chosen:
            texts.append(caption["text"])
            langs.append(caption.get("language"))
            owners.append(len(kept))
        kept.append(index)
    return texts, langs, np.asarray(owners, dtype=np.int64), np.asarray(kept, dtype=np.int64)


def evaluate_retrieval(
    model: ClaraModel,
    eval_set: EvalSet,
    mode: str = "first",
    languages: Sequence[str] | None = None,
    origins: Sequence[str] | None = None,
    per_clip: int = 5,
) -> dict[str, Any]:
    """Whole-set retrieval metrics both ways, with the counts they were computed over."""
    texts, text_languages, owners, kept = select_captions(eval_set, mode, languages, origins, per_clip)
    if not texts:
        raise ValueError("no captions left to retrieve with (check --caption-language / --caption-origin)")
    text_embeddings = model.get_text_embeddings(texts, language=text_languages)
    similarity = (eval_set.embeddings[kept] @ text_embeddings.T).numpy()
    return {
        "captions": mode,
        "clips": int(len(kept)),
        "texts": len(texts),
        "metrics": retrieval_metrics(similarity, owners, map_k=MAP_KS),
        "baselines": retrieval_baselines(eval_set, owners, kept),
    }


def attribute_groups(
    eval_set: EvalSet, kept: Sequence[int] | np.ndarray, fields: Sequence[str] = ATTRIBUTE_FIELDS
) -> list[tuple]:
    """Each kept clip's attribute group: its ``original_data`` values of ``fields``."""
    return [tuple(str(eval_set.original[i].get(name)) for name in fields) for i in kept]


def retrieval_baselines(eval_set: EvalSet, owners: np.ndarray, kept: np.ndarray) -> dict[str, dict[str, float]]:
    """Exact baselines beside the retrieval metrics (:mod:`model.metrics`): ``chance`` (a uniformly
    random ranking), ``attribute_only`` (random inside each clip's (language, gender, emotion) group) and
    ``language_gender_only`` (random inside (language, gender): a model that hears who speaks and in which
    language but nothing of the words or the emotion)."""
    return {
        "chance": uniform_retrieval(len(kept), owners, map_k=MAP_KS),
        "attribute_only": attribute_only_retrieval(attribute_groups(eval_set, kept), owners, map_k=MAP_KS),
        "language_gender_only": attribute_only_retrieval(
            attribute_groups(eval_set, kept, SPEAKER_FIELDS), owners, map_k=MAP_KS
        ),
        "attribute_fields": list(ATTRIBUTE_FIELDS),  # type: ignore[dict-item]
    }
