"""One description from what a clip shows and what it sounds like: C = f(C^v, C^t) (Appendix B, Eq. 5).

The concatenative template ("Scene: a dog on a beach, then a red car. Audio: A woman saying
'Hello'") is always built. When a chat endpoint is configured, the template is the input of an
LLM that turns it into one fluent sentence (the paper's f(.)), through the pipeline's one LLM
client (``transforms.llm.ChatClient``: concurrency, timeouts, retries, breaker, disk cache). The
transcript, when the audio description carries it, is handed over in the system turn as a quoted
constant to copy. Every answer is validated for form and fidelity (``transforms.fidelity``: the
transcript verbatim and no other quoted speech, no label of the audio or the scenes dropped or
contradicted, no number, name or place the inputs lack) and the template stands in for any answer
that is missing, unusable or unfaithful; each outcome is counted (``fusion/accepted``,
``fusion_rejected/<check>``, ``fusion_failed/<reason>``). An LLM that is down never stops the
pipeline.

The hook for another LLM client is :class:`ChatBackend`: anything with
``complete_many(list of chat messages) -> list of (answer | Exception)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from transforms.fidelity import Facts, carries_transcript, count_outcome, validate_answer
from transforms.llm import ChatClient
from transforms.llm_settings import LLMSettings

Messages = list[dict[str, str]]
FUSE_PROMPT_VERSION = "fuse_v2"
FUSE_PROMPT: Messages = [
    {
        "role": "system",
        "content": "You combine what a video shows and what its audio contains into one fluent English sentence "
        "that describes the clip. Keep every fact about the audio: who speaks, the emotion, every sound. "
        "Copy the spoken words exactly, once, inside quotes, and add no other words to the quote. "
        "Never add a fact, a number, a name or a place. Answer with the sentence only.{spoken}",
    },
    {
        "role": "user",
        "content": "Scene: a man standing in front of a whiteboard. Audio: A man saying 'Let us begin' in a neutral voice",
    },
    {"role": "assistant", "content": "A man standing at a whiteboard says, 'Let us begin', in a neutral voice."},
    {
        "role": "user",
        "content": "Scene: a kitchen with a window. Audio: A woman saying 'Dinner is ready' in an angry voice",
    },
    {"role": "assistant", "content": "In a kitchen by the window, a woman angrily says, 'Dinner is ready'."},
    {
        "role": "user",
        "content": "Scene: a busy street at night, then a red car parked by the road. Audio: The sound of a car engine and rain",
    },
    {
        "role": "assistant",
        "content": "On a busy street at night, a car engine rumbles in the rain near a parked red car.",
    },
    {"role": "user", "content": "{fused}"},
]


class ChatBackend(Protocol):
    """What fusion needs from an LLM client (``transforms.llm.ChatClient`` has it)."""

    def complete_many(self, chats: list[Messages]) -> list[Any]:
        """One answer (str) or error (an Exception) per chat, in order."""
        ...


@dataclass(frozen=True)
class FusionInput:
    visual: tuple[str, ...]
    """Frame captions of the sample's scenes, in time order."""
    audio: str | None
    """The audio description (the sample's first template caption)."""
    transcript: str | None = None


@dataclass(frozen=True)
class FusionResult:
    text: str
    method: str
    """``llm`` or ``template``."""
    reason: str
    """``ok`` or why the LLM answer was not used (``no_llm``, ``timeout``, ``too_long``, ...)."""


def template_fusion(visual: Sequence[str], audio: str | None) -> str:
    """The concatenative form: "Scene: a, then b. Audio: <description>"."""
    scenes = ", then ".join(_lower_first(v.rstrip(" .")) for v in visual if v.strip())
    parts = [f"Scene: {scenes}." if scenes else "", f"Audio: {audio.strip()}" if audio and audio.strip() else ""]
    return " ".join(p for p in parts if p)


def _lower_first(text: str) -> str:
    """'A dog' -> 'a dog' (but 'NASA' stays): a caption continues the sentence."""
    return text[0].lower() + text[1:] if len(text) > 1 and not text[1].isupper() else text


def _render(fused: str, transcript: str | None = None) -> Messages:
    """The chat for one template; a transcript the template carries goes in the system turn to copy."""
    spoken = (
        f' The spoken words are exactly: "{" ".join(transcript.split())}".'
        if carries_transcript(fused, transcript)
        else ""
    )
    return [
        {"role": m["role"], "content": m["content"].replace("{fused}", fused).replace("{spoken}", spoken)}
        for m in FUSE_PROMPT
    ]


def _validate(answer: str, source: str, transcript: str | None) -> tuple[str | None, str]:
    return validate_answer(answer, Facts(source=source, transcript=transcript))


class CaptionFuser:
    """Template fusion, or LLM fusion with the template as the fallback."""

    def __init__(self, client: ChatBackend | None = None, model: str = "") -> None:
        self.client = client
        self.model = model

    @property
    def uses_llm(self) -> bool:
        return self.client is not None

    def fuse_many(self, inputs: Sequence[FusionInput]) -> list[FusionResult]:
        templates = [template_fusion(i.visual, i.audio) for i in inputs]
        if self.client is None or not inputs:
            return [FusionResult(t, "template", "no_llm") for t in templates]
        try:
            answers = self.client.complete_many(
                [_render(t, i.transcript) for t, i in zip(templates, inputs, strict=True)]
            )
        except Exception as exc:  # a broken client is a fallback, never a crash
            answers = [exc] * len(templates)
        results = []
        for template, item, answer in zip(templates, inputs, answers, strict=True):
            if isinstance(answer, BaseException):
                text, reason = None, getattr(answer, "reason", type(answer).__name__)
            else:
                text, reason = _validate(str(answer), template, item.transcript)
            count_outcome("fusion", reason)
            results.append(FusionResult(text, "llm", "ok") if text else FusionResult(template, "template", reason))
        return results


def fuser_from_settings(llm: LLMSettings) -> CaptionFuser:
    """LLM fusion when the LLM endpoint is configured (``--llm-url``), else the template."""
    if not llm.enabled:
        return CaptionFuser()
    config = llm.client_config()
    return CaptionFuser(ChatClient(config), model=config.model)
