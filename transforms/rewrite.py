"""LLM caption rewriting: concatenated captions → natural descriptions (paper §III-A2, Eq. 1's f(.)).

"A person saying 'It's raining outside', background wind noise" becomes "Amidst wind noise in the
background, an individual declares, 'It's raining outside'" through any OpenAI-compatible chat
endpoint (``vllm serve`` in production, ``deploy/llm/serve.sh`` here).

- The requests go through the one LLM client, :class:`transforms.llm.ChatClient` (the ``openai``
  package: timeouts, retries; plus bounded concurrency, a circuit breaker and an answer cache).
  Prompts are versioned files in ``transforms/prompts/``; ``rewrite_v2`` hands the transcript over
  as a quoted constant to copy, with few-shot examples that keep every label.
- :func:`validate_rewrite`: every answer is checked for form and fidelity (``transforms.fidelity``):
  the transcript verbatim and no other quoted speech, no label dropped or contradicted, no number,
  name or place the input does not have.
- :class:`RewriteStage`: adds the rewrite beside the concatenative caption, or keeps the
  concatenative caption alone and records why (``original_data["rewrite"]``); each outcome is a
  Beam counter (``rewrite/accepted``, ``rewrite_rejected/<check>``, ``rewrite_failed/<reason>``).
  An LLM that is down, slow or answers garbage, or rewrites what was said, never stops the
  pipeline and never reaches a shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas import Caption, Failure
from schemas.settings import setting
from transforms.fidelity import Facts, carries_transcript, count_outcome, outcome, validate_answer
from transforms.llm import ChatClient, LLMConfig, LLMError, Messages, load_prompt, render
from transforms.stage import Sample, Stage, StageSpec

__all__ = ["ChatClient", "LLMConfig", "LLMError", "RewriteStage", "load_prompt", "render", "validate_rewrite"]

REWRITE_PROMPT = "rewrite_v1"
"""The default prompt: measured on the demo captions with the local SmolLM2-135M (bench/augment.py),
v1 had 183/272 rewrites pass the fidelity checks, v2 (transcript as a constant, more examples)
61/272: the small model paraphrases the constant and copies the examples' emotions. A larger
model may do better with v2: pass ``prompt="rewrite_v2"``."""
NO_SPEECH = "none (quote nothing)"


def rewrite_chat(prompt: Messages, caption: str, transcript: str | None) -> Messages:
    """The chat for one caption: the transcript, when the caption carries it, is a constant to copy."""
    spoken = f'"{" ".join(transcript.split())}"' if transcript else NO_SPEECH
    return render(prompt, caption=caption, transcript=spoken)


def validate_rewrite(
    answer: str,
    source: str,
    transcript: str | None = None,
    required_terms: tuple[str, ...] = (),
    max_chars: int = 400,
    min_chars: int | None = None,
    support: str = "",
    attributes: dict[str, str] | None = None,
) -> tuple[str | None, str]:
    """``(clean text, "ok")`` when the answer is well-formed and faithful to ``source``, else
    ``(None, reason)`` (``transforms.fidelity``). ``required_terms`` are sounds the rewrite must
    keep (the mixed-in noise's label); ``support`` is more input it may draw on (metadata);
    ``attributes`` are the sample's measured levels, which it may not contradict."""
    said = tuple(sorted((attributes or {}).items()))
    facts = Facts(source=source, transcript=transcript, labels=tuple(required_terms), support=support, attributes=said)
    return validate_answer(answer, facts, max_chars=max_chars, min_chars=min_chars)


# -- the stage ----------------------------------------------------------------------------------


REWRITE_SCOPES: tuple[str, ...] = ("all", "augmented", "none")


@dataclass(frozen=True)
class RewriteSettings:
    """LLM caption rewriting (paper §III-A2): on when --llm-url is given."""

    scope: str = setting(
        "all", "which samples the LLM rewrites", shapes_output=True, flag="--rewrite", choices=REWRITE_SCOPES
    )


class RewriteStage(Stage):
    """In-shard stage: one LLM rewrite per sample of its first ``template`` caption."""

    name = "rewrite"

    def __init__(self, config: LLMConfig, scope: str = RewriteSettings.scope, prompt: str = REWRITE_PROMPT) -> None:
        if scope not in REWRITE_SCOPES:
            raise ValueError(f"unknown rewrite scope {scope!r}")
        self.config = config
        self.scope = scope
        self.prompt_name = prompt
        self.client: ChatClient | None = None
        self._prompt: Messages | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.config.url) and self.scope != "none"

    def setup(self) -> None:
        if self.enabled and self.client is None:
            self.client = ChatClient(self.config)
            self._prompt = load_prompt(self.prompt_name)

    def process(self, samples: list[Sample]) -> tuple[list[Sample], list[Failure]]:
        if not self.enabled:
            return list(samples), []
        self.setup()
        assert self.client is not None and self._prompt is not None
        todo = [(i, s, c) for i, s in enumerate(samples) if (c := self._source_caption(s)) is not None]
        chats = [rewrite_chat(self._prompt, c.text, _carried(s, c)) for _, s, c in todo]
        answers = self.client.complete_many(chats)
        out = list(samples)
        for (i, sample, source), answer in zip(todo, answers, strict=True):
            out[i] = self._apply(sample, source, answer)
        return out, []

    def _source_caption(self, sample: Sample) -> Caption | None:
        if self.scope == "augmented" and not sample.augmentations:
            return None
        return next((c for c in sample.captions if c.origin == "template"), None)

    def _apply(self, sample: Sample, source: Caption, answer: str | LLMError) -> Sample:
        record: dict[str, Any] = {"model": self.config.model, "prompt": self.prompt_name}
        if isinstance(answer, LLMError):
            text, reason = None, answer.reason
        else:
            noise = tuple(a.params["noise_label"] for a in sample.augmentations if "noise_label" in a.params)
            said = _measured_words(sample)
            text, reason = validate_rewrite(
                answer, source.text, sample.transcript, required_terms=noise, attributes=said
            )
        count_outcome(self.name, reason)
        captions = list(sample.captions)
        if text is None:
            record.update(status="fallback", reason=reason, outcome=outcome(reason))
        else:
            record.update(status="ok")
            captions.insert(captions.index(source) + 1, Caption(text=text, language=source.language, origin="rewrite"))
        return sample.derive(captions=captions, original_data={**sample.original_data, "rewrite": record})


RECORDING_ATTRIBUTES = ("noise", "reverberation", "quality")


def _measured_words(sample: Sample) -> dict[str, str]:
    """The attribute levels the attributes stage measured; an augmented copy keeps only the voice's
    (its noise, room and quality are no longer the measured recording's)."""
    said = dict((sample.original_data.get("attributes") or {}).get("words") or {})
    if sample.augmentations:
        said = {key: value for key, value in said.items() if key not in RECORDING_ATTRIBUTES}
    return said


def _carried(sample: Sample, source: Caption) -> str | None:
    """The transcript when the source caption says it (then the prompt hands it over to copy)."""
    return sample.transcript if carries_transcript(source.text, sample.transcript) else None


def build_rewrite(config: Any) -> RewriteStage | None:
    """The stage when an LLM endpoint is configured and the scope is not ``none``."""
    stage = RewriteStage(config.llm.client_config(), scope=config.rewrite.scope)
    return stage if stage.enabled else None


SPEC = StageSpec(name="rewrite", settings=RewriteSettings, build=build_rewrite, order=50, writes=("rewrite",))
