"""Validation of LLM answers: a rewrite may change how a caption reads, never what it says.

The paper's f(.) (§III-A2, Eq. 1; Appendix B, Eq. 5) turns concatenated captions into fluent
ones. A fluent caption that puts words in a speaker's mouth, swaps "angry" for "happy" or
invents a number teaches the model something false, silently, so every LLM answer (rewrite,
visual fusion, translation) is checked against what its inputs said before it is used:

``speech_added``
    A quotation the inputs do not have: more words inside the transcript's quotes ("... a short
    story. The teacher is angry."), or quoted words where nobody spoke.
``transcript_changed``
    The transcript the input quoted is not there word for word (after normalising quotes, case
    and punctuation): a word changed, dropped or paraphrased.
``transcript_unquoted``
    The transcript is there but no longer marked as speech (the input quoted it).
``label_contradicted``
    Another value of a label the input named: "angry" for "happy", "woman" for "man",
    "French" for "English".
``label_dropped``
    A label the input named (gender, emotion, language, a sound) is missing.
``unsupported_label``
    A gender, emotion or language the input left open, or a sound it did not name.
``attribute_contradicted``
    A measured attribute's opposite (``transforms.attributes.words``): "slowly" for a sample
    measured as fast, "noisy" for a clean one, "high-pitched" for a low voice; in a translation,
    a word of the other end in the lexicon's words of its language ("lentement" for fast).
``attribute_dropped``
    A translation of an attribute caption without the lexicon's word for a level it was given.
``unsupported_number`` / ``unsupported_name``
    A number, or a capitalised name or place, that no input mentions.

Before those, :func:`validate_answer` checks the answer's form (``empty``, ``control_characters``,
``tokenizer_artifacts``, ``too_long``, ``too_short``, ``markup``, ``prompt_echo``, ``unchanged``).
Words inside the quotes are speech, not description: "The teacher is angry" in a transcript
names no emotion. Label checks use English vocabularies, so a translation is checked for its
quotation and its digits only (``english=False``), and for the attribute levels it was given in the
lexicon's words of its ``language``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from apache_beam.metrics import Metrics

from schemas.vocab import LANGUAGES

LEXICON_PATH = Path(__file__).parent / "data" / "lexicon.json"

CHECKS: tuple[str, ...] = (
    "speech_added",
    "transcript_changed",
    "transcript_unquoted",
    "label_contradicted",
    "label_dropped",
    "unsupported_label",
    "attribute_contradicted",
    "attribute_dropped",
    "unsupported_number",
    "unsupported_name",
)
"""Every fidelity rejection reason, in the order they are tested."""

FORM_CHECKS: tuple[str, ...] = (
    "control_characters",
    "empty",
    "tokenizer_artifacts",
    "too_long",
    "too_short",
    "markup",
    "prompt_echo",
    "unchanged",
)
"""Rejections for the answer's form, tested before fidelity."""

# -- words ----------------------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"’": "", "'": "", "ʼ": "", "`": ""})
_QUOTE_PATTERNS = (
    re.compile(r'"([^"\n]+?)"'),
    re.compile(r"“([^”\n]+?)”"),
    re.compile(r"„([^“”\n]+?)[“”]"),
    re.compile(r"«\s*([^»\n]+?)\s*»"),
    re.compile(r"「([^」\n]+?)」"),
    # Single quotes double as apostrophes ("It's"): a quote opens after no letter and closes
    # before no letter, so the apostrophe in 'It's raining' belongs to the words.
    re.compile(r"(?<!\w)'(.+?)'(?!\w)"),
    re.compile(r"(?<!\w)‘(.+?)[’'](?!\w)"),
)


def words(text: str) -> list[str]:
    """Lower-case words without quotes or punctuation ("It's" → "its"; "short-story" → two words)."""
    return re.findall(r"\w+", text.lower().translate(_APOSTROPHES))


def quoted_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, inner text) of each quotation, in any common quote style, without overlaps."""
    found: list[tuple[int, int, str]] = []
    for pattern in _QUOTE_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if not any(start < e and s < end for s, e, _ in found):
                found.append((start, end, match.group(1)))
    return sorted(found)


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _outside_quotes(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    out, last = [], 0
    for start, end, _ in spans:
        out.append(text[last:start])
        out.append(" ¶ ")  # a quotation ends a phrase: no label spans across it
        last = end
    out.append(text[last:])
    return "".join(out)


# -- label vocabularies (English) -----------------------------------------------------------------

EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "neutral": ("neutral*", "monoton*", "unemotional", "impassive*", "flat"),
    "calm": ("calm*", "serene*", "relaxed", "peaceful*", "tranquil*", "soothing*", "composed"),
    "happy": ("happ*", "joy*", "cheer*", "glad*", "delight*", "merr*", "upbeat", "elated"),
    "sad": ("sad*", "sorrow*", "unhapp*", "melanchol*", "mournful*", "gloom*", "downcast", "somber*", "sombre*"),
    "angry": ("angr*", "anger*", "furious*", "fury", "irate*", "enraged", "irritat*", "annoyed", "rage*", "outraged"),
    "fearful": ("fear*", "afraid", "scared", "frighten*", "terrified", "anxious*", "nervous*", "panic*"),
    "disgusted": ("disgust*", "revolted", "repulsed"),
    "surprised": ("surpris*", "astonish*", "amazed", "startled", "shocked", "stunned"),
    "excited": ("excit*", "thrilled", "enthusias*", "eager*"),
    "sarcastic": ("sarcas*", "ironic*", "mocking*", "sardonic*"),
    "sleepy": ("sleepy", "sleepily", "drowsy", "drowsily", "tired*", "weary", "wearily", "yawn*"),
    "bored": ("bored*", "boring", "uninterested", "listless*", "indifferent*"),
}
GENDER_WORDS: dict[str, tuple[str, ...]] = {
    "male": ("man", "men", "male", "males", "boy", "boys", "he", "his", "him", "himself", "gentleman", "guy"),
    "female": ("woman", "women", "female", "females", "girl", "girls", "she", "her", "hers", "herself", "lady"),
}
SINGLE_VALUED = ("gender", "emotion", "language")
"""Categories a sample has one value of: another value is a contradiction."""
NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds thousand "
    "thousands million millions billion dozen dozens twice thrice".split()
)


@lru_cache(maxsize=1)
def sound_vocabulary() -> dict[str, tuple[str, ...]]:
    """Sound and noise labels of the shipped lexicon (ESC-50, UrbanSound8K, generated noises) → words."""
    terms = json.loads(LEXICON_PATH.read_text(encoding="utf-8"))["terms"]
    labels = {str(t).replace("_", " ") for category in ("esc50", "urbansound8k", "noise") for t in terms[category]}
    return {label: tuple(words(label)) for label in sorted(labels)}


def _matches(word: str, pattern: str) -> bool:
    return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern


def _mentions(tokens: list[str], patterns: tuple[str, ...]) -> bool:
    return any(_matches(t, p) for t in tokens for p in patterns)


def named_labels(text: str) -> dict[str, set[str]]:
    """The labels a text names outside its quotations, by category (gender, emotion, language, sound)."""
    tokens = words(_outside_quotes(text, quoted_spans(text)))
    named: dict[str, set[str]] = {"gender": set(), "emotion": set(), "language": set(), "sound": set()}
    named["gender"] = {g for g, pats in GENDER_WORDS.items() if _mentions(tokens, pats)}
    named["emotion"] = {e for e, pats in EMOTION_WORDS.items() if _mentions(tokens, pats)}
    named["language"] = {code for code, (_, name) in LANGUAGES.items() if _contains(tokens, words(name))}
    named["sound"] = {label for label, parts in sound_vocabulary().items() if _contains(tokens, list(parts))}
    return named


def _keeps_sound(tokens: list[str], label: str) -> bool:
    """A sound is kept when one of its words is, inflected or compounded ("dog" → "dogs", "rain" →
    "raindrops", "electrical hum" → "humming"); "noise" alone keeps nothing."""
    stems = [w[: max(4, len(w) - 2)] for w in words(label) if len(w) > 2 and w != "noise"] or words(label)
    return any(t.startswith(stem) for t in tokens for stem in stems)


# -- the check ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the inputs of one LLM request say: the answer must keep it and may not go beyond it."""

    source: str
    """The text the LLM was given (the concatenative caption, or the fusion template)."""
    transcript: str | None = None
    """The words spoken in the clip, when known (checked only when ``source`` carries them)."""
    labels: tuple[str, ...] = ()
    """Sounds the answer must keep beyond those ``source`` names (e.g. the mixed-in noise)."""
    support: str = ""
    """More text whose words, numbers and names the answer may use (metadata, scene captions)."""
    attributes: tuple[tuple[str, str], ...] = ()
    """The sample's measured attribute levels (``("rate", "fast")``, ...) the answer may not contradict."""
    language: str = "en"
    """The answer's language: a translation must say each of ``attributes`` in its lexicon's words."""


def check_fidelity(
    answer: str, facts: Facts, *, english: bool = True, transcript_may_be_translated: bool = False
) -> str:
    """``"ok"`` when ``answer`` is faithful to ``facts``, else the first failed check (see :data:`CHECKS`).

    ``english=False`` (a translation) checks the quotation and digits only; with
    ``transcript_may_be_translated`` one quotation standing for the transcript may differ from it.
    """
    reason = _check_speech(answer, facts, transcript_may_be_translated)
    if reason == "ok" and english:
        reason = _check_labels(answer, facts)
    if reason == "ok" and facts.attributes:
        reason = _check_attributes(answer, facts) if english else _check_translated_attributes(answer, facts)
    if reason == "ok":
        reason = _check_additions(answer, facts, english)
    return reason


def carries_transcript(source: str, transcript: str | None) -> bool:
    """Whether ``source`` contains ``transcript`` word for word."""
    return bool(transcript) and _contains(words(source), words(transcript or ""))


def transcript_verbatim(answer: str, transcript: str | None) -> bool:
    """Whether one quotation of ``answer`` is exactly the transcript (after normalising)."""
    wanted = words(transcript or "")
    return bool(wanted) and any(words(inner) == wanted for _, _, inner in quoted_spans(answer))


def _check_speech(answer: str, facts: Facts, may_translate: bool) -> str:
    spans = quoted_spans(answer)
    allowed = [words(inner) for _, _, inner in quoted_spans(facts.source)]
    wanted = words(facts.transcript or "") if carries_transcript(facts.source, facts.transcript) else []
    if wanted:
        allowed.append(wanted)
        if not any(words(inner) == wanted for _, _, inner in spans):
            if any(_contains(words(inner), wanted) for _, _, inner in spans):
                return "speech_added"
            if may_translate and len(spans) == 1:
                return "ok"
            if _contains(words(_outside_quotes(answer, spans)), wanted):
                quoted_in_source = any(w == wanted for w in allowed[:-1])
                return "transcript_unquoted" if quoted_in_source else "ok"
            return "transcript_changed"
    for _, _, inner in spans:
        said = words(inner)
        if said and said not in allowed:
            return "speech_added"
    return "ok"


def _check_labels(answer: str, facts: Facts) -> str:
    given = named_labels(facts.source)
    given["sound"] |= {label for label in facts.labels if label}
    said = named_labels(answer)
    tokens = words(_outside_quotes(answer, quoted_spans(answer)))
    if any(given[c] and said[c] - given[c] for c in SINGLE_VALUED):
        return "label_contradicted"  # "angry" for "happy", "woman" for "man", or both at once
    if any(given[c] - said[c] for c in SINGLE_VALUED) or any(not _keeps_sound(tokens, s) for s in given["sound"]):
        return "label_dropped"
    if any(said[c] for c in SINGLE_VALUED if not given[c]):
        return "unsupported_label"
    supported = set(words(facts.source)) | set(words(facts.support)) | set(words(facts.transcript or ""))
    for label in said["sound"] - given["sound"]:
        if not set(words(label)) & supported:
            return "unsupported_label"
    return "ok"


def _check_attributes(answer: str, facts: Facts) -> str:
    from transforms.attributes.words import contradicted

    outside = _outside_quotes(answer, quoted_spans(answer)).lower()
    tokens = re.findall(r"[a-z]+(?:-[a-z]+)*", outside)
    tokens += [part for token in tokens if "-" in token for part in token.split("-")]
    return "attribute_contradicted" if contradicted(dict(facts.attributes), tokens) else "ok"


def _check_translated_attributes(answer: str, facts: Facts) -> str:
    from transforms.attributes.words import translation_check

    return translation_check(dict(facts.attributes), _outside_quotes(answer, quoted_spans(answer)), facts.language)


def _check_additions(answer: str, facts: Facts, english: bool) -> str:
    supported_text = " ".join((facts.source, facts.transcript or "", facts.support, *facts.labels))
    supported = set(words(supported_text))
    outside = _outside_quotes(answer, quoted_spans(answer))
    for token in words(outside):
        if token not in supported and (token.isdigit() or (english and token in NUMBER_WORDS)):
            return "unsupported_number"
    if english:
        for name in _names(outside):
            if name.lower() not in supported:
                return "unsupported_name"
    return "ok"


def _names(text: str) -> list[str]:
    """Capitalised words that do not start a sentence (or a clause after a colon or a quote)."""
    names = []
    for match in re.finditer(r"\b([A-Z][\w]*)", text.translate(_APOSTROPHES)):
        before = text[: match.start()].rstrip()
        if not before or before[-1] in ".!?:¶\"'“”«»„‘’(" or match.group(1) == "I":
            continue
        names.append(match.group(1))
    return names


# -- the whole validation ------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MARKUP = re.compile(r"</?[A-Za-z][^>]*>|```|\*\*|^#+\s|\[[^\]]*\]\(|https?://|<\|", re.MULTILINE)
_ECHO_MARKERS = ("rewrite", "caption", "answer with", "translate into", "assistant", "sentence only", "spoken words")


def _squash(text: str) -> str:
    return " ".join(text.split()).strip(" .,!?;:'\"“”«»").lower()


def clean_answer(answer: str) -> str:
    """The answer's first non-empty line, without wrapping quotes or whitespace."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(text) >= 2 and text[0] == text[-1] == '"' and text.count('"') == 2:
        text = text[1:-1].strip()
    return text


def check_form(text: str, raw: str, source: str, max_chars: int = 400, min_chars: int | None = None) -> str:
    """``"ok"`` or the first form check ``text`` (the cleaned ``raw`` answer) fails."""
    if _CONTROL.search(raw.replace("\n", " ")):
        return "control_characters"
    if not text:
        return "empty"
    if "Ġ" in text or "Ċ" in text or "\ufffd" in text:
        return "tokenizer_artifacts"
    if len(text) > min(max_chars, 3 * len(source) + 80):
        return "too_long"
    if len(text) < (max(8, len(source) // 4) if min_chars is None else min_chars):
        return "too_short"
    if _MARKUP.search(text):
        return "markup"
    lowered = text.lower()
    if any(marker in lowered for marker in _ECHO_MARKERS if marker not in source.lower()):
        return "prompt_echo"
    if _squash(text) == _squash(source):
        return "unchanged"
    return "ok"


def validate_answer(
    answer: str,
    facts: Facts,
    *,
    english: bool = True,
    transcript_may_be_translated: bool = False,
    max_chars: int = 400,
    min_chars: int | None = None,
) -> tuple[str | None, str]:
    """``(clean text, "ok")`` when the answer is well-formed and faithful, else ``(None, reason)``."""
    text = clean_answer(answer)
    reason = check_form(text, answer.strip(), facts.source, max_chars, min_chars)
    if reason == "ok":
        reason = check_fidelity(text, facts, english=english, transcript_may_be_translated=transcript_may_be_translated)
    return (text, "ok") if reason == "ok" else (None, reason)


# -- counting -------------------------------------------------------------------------------------


def outcome(reason: str) -> str:
    """``accepted``, ``rejected`` (a form or fidelity check failed) or ``failed`` (no answer to judge:
    timeout, server down, HTTP error, broken client)."""
    if reason == "ok":
        return "accepted"
    return "rejected" if reason in FORM_CHECKS or reason in CHECKS else "failed"


def count_outcome(stage: str, reason: str) -> None:
    """Beam counters ``<stage>/accepted``, ``<stage>_rejected/<reason>``, ``<stage>_failed/<reason>``."""
    kind = outcome(reason)
    if kind == "accepted":
        Metrics.counter(stage, "accepted").inc()
    else:
        Metrics.counter(f"{stage}_{kind}", reason).inc()


LLM_STAGES: tuple[str, ...] = ("rewrite", "fusion", "translation")


def summary_lines(metrics: dict[str, int]) -> list[str]:
    """Run-summary lines from counter totals keyed ``namespace/name`` (what :func:`count_outcome` wrote):
    per LLM stage, answers accepted, then rejected by check and failed by reason."""
    lines = []
    for stage in LLM_STAGES:
        accepted = metrics.get(f"{stage}/accepted", 0)
        rejected = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith(f"{stage}_rejected/") and v}
        failed = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith(f"{stage}_failed/") and v}
        total = accepted + sum(rejected.values()) + sum(failed.values())
        if not total:
            continue
        if not lines:
            lines.append(
                "  LLM answers      accepted of asked; rejected by check, failed (each fell back to its template)"
            )
        lines.append(f"    {stage:26s} {accepted:>6d} of {total:<6d}")
        lines += [f"      {stage}_rejected/{r:24s} {n}" for r, n in sorted(rejected.items(), key=lambda kv: -kv[1])]
        lines += [f"      {stage}_failed/{r:26s} {n}" for r, n in sorted(failed.items(), key=lambda kv: -kv[1])]
    return lines
