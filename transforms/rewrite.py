"""LLM caption rewriting: concatenated captions → natural descriptions (paper §III-A2, Eq. 1's f(.)).

"A person saying 'It's raining outside', background wind noise" becomes "Amidst wind noise in the
background, an individual declares, 'It's raining outside'" through any OpenAI-compatible chat
endpoint (``vllm serve`` in production, ``deploy/llm/serve.sh`` here).

- :class:`ChatClient`: bounded concurrency (a thread pool of ``concurrency`` requests), a timeout
  per request, retries with exponential backoff on timeouts / 429 / 5xx, a circuit breaker that
  fails fast while the server is down, and an on-disk cache keyed by model + rendered-prompt hash,
  so a rerun never pays twice. Prompts are versioned files in ``transforms/prompts/``.
- :func:`validate_rewrite`: every answer is checked (non-empty, bounded length, no control
  characters or markup, no prompt echo, the quoted transcript kept verbatim).
- :class:`RewriteStage`: adds the rewrite beside the concatenative caption, or keeps the
  concatenative caption alone and records why (``original_data["rewrite"]``). An LLM that is down,
  slow or answers garbage never stops the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas import Caption, Failure

if TYPE_CHECKING:
    from transforms.stage import Sample

PROMPTS_DIR = Path(__file__).parent / "prompts"
REWRITE_PROMPT = "rewrite_v1"
Messages = list[dict[str, str]]


class LLMError(Exception):
    """A request that produced no usable answer; ``reason`` is a short code recorded in the JSON."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def load_prompt(name: str) -> Messages:
    """Parse a prompt file into chat messages (``[system]``/``[user]``/``[assistant]`` sections)."""
    messages: Messages = []
    for line in (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        header = re.fullmatch(r"\[(system|user|assistant)\]", line.strip())
        if header:
            messages.append({"role": header.group(1), "content": ""})
        elif messages and not line.startswith("#"):
            messages[-1]["content"] += line + "\n"
    return [{"role": m["role"], "content": m["content"].strip()} for m in messages]


def render(prompt: Messages, **values: str) -> Messages:
    """Fill ``{name}`` placeholders (plain replacement: captions may hold braces)."""
    rendered = []
    for message in prompt:
        content = message["content"]
        for name, value in values.items():
            content = content.replace("{" + name + "}", value)
        rendered.append({"role": message["role"], "content": content})
    return rendered


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to reach the chat endpoint."""

    url: str | None = None
    """Base URL of the OpenAI-compatible API, e.g. ``http://127.0.0.1:8000/v1``; None disables the LLM."""
    model: str = "smollm2"
    concurrency: int = 4
    timeout_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.5
    max_tokens: int = 96
    temperature: float = 0.0
    cache_dir: str | None = ".cache/llm"
    breaker_failures: int = 4
    """Consecutive unreachable/timeout failures after which requests fail fast ..."""
    breaker_cooldown_s: float = 60.0
    """... for this long."""


class ChatClient:
    """A small OpenAI-compatible chat client (standard library only)."""

    def __init__(self, config: LLMConfig) -> None:
        if not config.url:
            raise ValueError("ChatClient needs an endpoint URL")
        self.config = config
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._open_until = 0.0
        self.counts: Counter[str] = Counter()

    # -- cache --------------------------------------------------------------------------------

    def cache_key(self, messages: Messages) -> str:
        c = self.config
        payload = json.dumps([c.model, c.max_tokens, c.temperature, messages], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _cache_path(self, key: str) -> Path | None:
        if not self.config.cache_dir:
            return None
        model = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.config.model)
        return Path(self.config.cache_dir) / model / key[:2] / f"{key}.json"

    def _cached(self, key: str) -> str | None:
        path = self._cache_path(key)
        if path is None or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))["answer"]
        except (OSError, ValueError, KeyError):
            return None

    def _store(self, key: str, answer: str) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"model": self.config.model, "answer": answer}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    # -- requests -----------------------------------------------------------------------------

    def complete(self, messages: Messages) -> str:
        """The answer to one chat, from the cache or the endpoint; raises :class:`LLMError`."""
        key = self.cache_key(messages)
        cached = self._cached(key)
        if cached is not None:
            self.counts["cache_hit"] += 1
            return cached
        answer = self._request_with_retries(messages)
        self._store(key, answer)
        return answer

    def complete_many(self, chats: list[Messages]) -> list[str | LLMError]:
        """Answers to many chats, at most ``concurrency`` in flight; errors are returned, not raised."""

        def one(messages: Messages) -> str | LLMError:
            try:
                return self.complete(messages)
            except LLMError as error:
                return error

        if len(chats) <= 1 or self.config.concurrency <= 1:
            return [one(m) for m in chats]
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(one, chats))

    def _request_with_retries(self, messages: Messages) -> str:
        last: LLMError | None = None
        for attempt in range(self.config.retries + 1):
            if time.monotonic() < self._open_until:
                raise LLMError("llm_unavailable", "circuit open after repeated failures")
            try:
                answer = self._request(messages)
                with self._lock:
                    self._consecutive_failures = 0
                return answer
            except LLMError as error:
                last = error
                self.counts[error.reason] += 1
                if error.reason in ("unreachable", "timeout"):
                    self._note_failure()
                if not _retryable(error.reason) or attempt == self.config.retries:
                    break
                time.sleep(self.config.backoff_s * (2**attempt))
        assert last is not None
        raise last

    def _note_failure(self) -> None:
        with self._lock:
            self._consecutive_failures += 1
            if self._consecutive_failures >= self.config.breaker_failures:
                self._open_until = time.monotonic() + self.config.breaker_cooldown_s

    def _request(self, messages: Messages) -> str:
        c = self.config
        body = {
            "model": c.model,
            "messages": messages,
            "max_tokens": c.max_tokens,
            "temperature": c.temperature,
        }
        request = urllib.request.Request(
            c.url.rstrip("/") + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        self.counts["requests"] += 1
        try:
            with urllib.request.urlopen(request, timeout=c.timeout_s) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise LLMError(f"http_{error.code}", error.reason or "") from None
        except (TimeoutError, OSError) as error:  # URLError is an OSError; socket timeouts too
            reason = "timeout" if "timed out" in str(error) or isinstance(error, TimeoutError) else "unreachable"
            raise LLMError(reason, str(error)[:200]) from None
        except ValueError as error:
            raise LLMError("bad_response", str(error)[:200]) from None
        try:
            return str(payload["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            raise LLMError("bad_response", json.dumps(payload)[:200]) from None


def _retryable(reason: str) -> bool:
    return reason in ("timeout", "unreachable", "http_429") or reason.startswith("http_5")


# -- validation ---------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MARKUP = re.compile(r"</?[A-Za-z][^>]*>|```|\*\*|^#+\s|\[[^\]]*\]\(|https?://|<\|", re.MULTILINE)
_ECHO_MARKERS = ("rewrite", "caption", "answer with", "translate into", "assistant", "sentence only")


def _normalise(text: str) -> str:
    return " ".join(text.split()).strip(" .,!?;:'\"“”«»").lower()


def clean_answer(answer: str) -> str:
    """The answer's first non-empty line, without wrapping quotes or whitespace."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def validate_rewrite(
    answer: str,
    source: str,
    transcript: str | None = None,
    required_terms: tuple[str, ...] = (),
    max_chars: int = 400,
    min_chars: int | None = None,
) -> tuple[str | None, str]:
    """``(clean text, "ok")`` when the answer is usable, else ``(None, reason)``.

    ``required_terms`` are facts the rewrite must keep (the background sound's label): at least
    one word of each must appear.
    """
    raw = answer.strip()
    if _CONTROL.search(raw.replace("\n", " ")):
        return None, "control_characters"
    text = clean_answer(raw)
    if not text:
        return None, "empty"
    if "Ġ" in text or "Ċ" in text or "\ufffd" in text:
        return None, "tokenizer_artifacts"
    if len(text) > min(max_chars, 3 * len(source) + 80):
        return None, "too_long"
    if len(text) < (max(8, len(source) // 4) if min_chars is None else min_chars):
        return None, "too_short"
    if _MARKUP.search(text):
        return None, "markup"
    lowered = text.lower()
    if any(marker in lowered for marker in _ECHO_MARKERS if marker not in source.lower()):
        return None, "prompt_echo"
    if _normalise(text) == _normalise(source):
        return None, "unchanged"
    if transcript and _normalise(transcript) not in _normalise(text):
        return None, "transcript_changed"
    for term in required_terms:
        if not any(word in lowered for word in term.lower().split() if len(word) > 2):
            return None, "fact_dropped"
    return text, "ok"


# -- the stage ----------------------------------------------------------------------------------


def add_llm_arguments(parser: Any) -> None:
    """The LLM flags on any argparse parser: ``--llm-url`` (enables rewriting), ``--llm-model``,
    ``--llm-concurrency``, ``--llm-timeout``, ``--llm-retries``, ``--llm-cache-dir``,
    ``--rewrite all|augmented|none``."""
    parser.add_argument(
        "--llm-url",
        "--llm_url",
        dest="llm_url",
        default=None,
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1",
    )
    parser.add_argument("--llm-model", "--llm_model", dest="llm_model", default="smollm2")
    parser.add_argument("--llm-concurrency", "--llm_concurrency", dest="llm_concurrency", type=int, default=4)
    parser.add_argument("--llm-timeout", "--llm_timeout", dest="llm_timeout", type=float, default=30.0)
    parser.add_argument("--llm-retries", "--llm_retries", dest="llm_retries", type=int, default=2)
    parser.add_argument("--llm-cache-dir", "--llm_cache_dir", dest="llm_cache_dir", default=".cache/llm")
    parser.add_argument(
        "--rewrite", choices=("all", "augmented", "none"), default="all", help="which samples the LLM rewrites"
    )


def llm_config_from_options(options: Any) -> LLMConfig:
    """``LLMConfig`` from ``PipelineOptions``, an argparse namespace or a flat dict."""
    from augment.options import options_view

    view = options_view(options, add_llm_arguments)
    return LLMConfig(
        url=view.llm_url or None,
        model=view.llm_model,
        concurrency=int(view.llm_concurrency),
        timeout_s=float(view.llm_timeout),
        retries=int(view.llm_retries),
        cache_dir=view.llm_cache_dir or None,
    )


class RewriteStage:
    """In-shard stage: one LLM rewrite per sample of its first ``template`` caption."""

    name = "rewrite"

    def __init__(self, config: LLMConfig, scope: str = "all", prompt: str = REWRITE_PROMPT) -> None:
        if scope not in ("all", "augmented", "none"):
            raise ValueError(f"unknown rewrite scope {scope!r}")
        self.config = config
        self.scope = scope
        self.prompt_name = prompt
        self.client: ChatClient | None = None
        self._prompt: Messages | None = None
        self.counts: Counter[str] = Counter()

    @classmethod
    def from_options(cls, options: Any) -> RewriteStage:
        from augment.options import options_view

        return cls(llm_config_from_options(options), scope=options_view(options, add_llm_arguments).rewrite)

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
        answers = self.client.complete_many([render(self._prompt, caption=c.text) for _, _, c in todo])
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
            text, reason = validate_rewrite(answer, source.text, sample.transcript, required_terms=noise)
        self.counts[reason] += 1
        captions = list(sample.captions)
        if text is None:
            record.update(status="fallback", reason=reason)
        else:
            record.update(status="ok")
            captions.insert(captions.index(source) + 1, Caption(text=text, language=source.language, origin="rewrite"))
        return sample.derive(captions=captions, original_data={**sample.original_data, "rewrite": record})
