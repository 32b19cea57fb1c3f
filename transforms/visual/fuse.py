"""One description from what a clip shows and what it sounds like: C = f(C^v, C^t) (Appendix B, Eq. 5).

The concatenative template ("Scene: a dog on a beach, then a red car. Audio: A woman saying
'Hello'") is always built. When a chat endpoint is configured, the template is the input of an
LLM that turns it into one fluent sentence (the paper's f(.)), through the same client as the
rewrite stage (``transforms.rewrite.ChatClient``: concurrency, retries, breaker, disk cache); every
answer is validated (``transforms.rewrite.validate_rewrite``) and the template stands in for any
answer that is missing or unusable. An LLM that is down never stops the pipeline.

The hook for another LLM client is :class:`ChatBackend`: anything with
``complete_many(list of chat messages) -> list of (answer | Exception)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Messages = list[dict[str, str]]
FUSE_PROMPT_VERSION = "fuse_v1"
FUSE_PROMPT: Messages = [
    {
        "role": "system",
        "content": "You combine what a video shows and what its audio contains into one fluent English sentence "
        "that describes the clip. Keep every fact about the audio. Keep any quoted words exactly as they are, "
        "inside quotes. Answer with the sentence only.",
    },
    {
        "role": "user",
        "content": "Scene: a man standing in front of a whiteboard. Audio: A man saying 'Let us begin' in a neutral voice",
    },
    {"role": "assistant", "content": "A man standing at a whiteboard says, 'Let us begin', in a neutral voice."},
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
    """What fusion needs from an LLM client (``transforms.rewrite.ChatClient`` has it)."""

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


def _render(fused: str) -> Messages:
    return [{"role": m["role"], "content": m["content"].replace("{fused}", fused)} for m in FUSE_PROMPT]


def _validate(answer: str, source: str, transcript: str | None) -> tuple[str | None, str]:
    try:
        from transforms.rewrite import validate_rewrite
    except ImportError:  # the rewrite stage is absent: accept any one-line answer
        text = answer.strip().splitlines()[0].strip() if answer.strip() else ""
        return (text, "ok") if text else (None, "empty")
    return validate_rewrite(answer, source, transcript)


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
            answers = self.client.complete_many([_render(t) for t in templates])
        except Exception as exc:  # noqa: BLE001 - a broken client is a fallback, never a crash
            answers = [exc] * len(templates)
        results = []
        for template, item, answer in zip(templates, inputs, answers, strict=True):
            if isinstance(answer, BaseException):
                results.append(FusionResult(template, "template", getattr(answer, "reason", type(answer).__name__)))
                continue
            text, reason = _validate(str(answer), template, item.transcript)
            results.append(FusionResult(text, "llm", "ok") if text else FusionResult(template, "template", reason))
        return results


def fuser_from_settings(settings: dict[str, Any]) -> CaptionFuser:
    """LLM fusion when ``llm_url`` is set (the rewrite stage's flags), else the template."""
    url = settings.get("llm_url")
    if not url:
        return CaptionFuser()
    from transforms.rewrite import ChatClient, LLMConfig

    config = LLMConfig(
        url=url,
        model=settings.get("llm_model") or "smollm2",
        concurrency=int(settings.get("llm_concurrency") or 4),
        timeout_s=float(settings.get("llm_timeout") or 30.0),
        retries=int(settings.get("llm_retries") if settings.get("llm_retries") is not None else 2),
        cache_dir=settings.get("llm_cache_dir", ".cache/llm") or None,
    )
    return CaptionFuser(ChatClient(config), model=config.model)
