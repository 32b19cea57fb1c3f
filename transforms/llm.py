"""The one LLM client of the pipeline: rewriting, visual fusion and translation all ask through it.

It speaks to any OpenAI-compatible chat endpoint (``vllm serve`` in production,
``deploy/llm/serve.sh`` here) through the maintained ``openai`` package; timeouts and retries are
that client's own options (``timeout``, ``max_retries``: exponential backoff with jitter on
connection errors, timeouts, 408/409/429 and 5xx; ``Retry-After`` honoured): the budget is
``retries`` (``--llm-retries``) attempts after the first, ``timeout_s`` each. What this module adds
on top is what a batch pipeline needs and the package does not have:

- **concurrency**: :meth:`ChatClient.complete_many` keeps up to ``concurrency`` requests in flight
  (one thread each; the ``openai`` client is thread-safe and pools its connections). vLLM batches
  the requests it holds at once, so this is where the throughput comes from (``bench/augment.py``).
- **a circuit breaker**: after ``breaker_failures`` consecutive unreachable/timeout answers, every
  request fails fast for ``breaker_cooldown_s``: a server that is down costs a shard seconds, not
  ``retries × timeout`` per sample.
- **an answer cache** keyed by model + sampling settings + the rendered chat, so a rerun never
  pays twice: one JSON object per answer under ``cache_dir``, a folder or an object-store URI read
  and written through :mod:`transforms.storage` (a build puts it inside its output, where every
  worker reaches it: ``pipelines.options.with_run_paths``). Each answer is written to a unique
  temporary name and renamed, so concurrent writers of one key leave one whole answer and a reader
  never sees half of one; a cache that cannot be read or written costs a request, never a sample.
  Prompts are versioned files in ``transforms/prompts/`` (a new version is a new key).
- **errors as values**: every failure is an :class:`LLMError` whose ``reason`` (``timeout``,
  ``unreachable``, ``http_<status>``, ``bad_response``, ``llm_unavailable``) the stages record.

The client is built lazily on first use and dropped when pickled, so a stage holding a
:class:`ChatClient` can be shipped to Beam workers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apache_beam.metrics import Metrics

from transforms import storage

PROMPTS_DIR = Path(__file__).parent / "prompts"
Messages = list[dict[str, str]]
_FAILS_SERVER = ("unreachable", "timeout")
"""Reasons that say the server is down or overloaded (they feed the circuit breaker)."""


class LLMError(Exception):
    """A request that produced no usable answer; ``reason`` is a short code recorded in the JSON."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to reach the chat endpoint."""

    url: str | None = None
    """Base URL of the OpenAI-compatible API, e.g. ``http://127.0.0.1:8000/v1``; None disables the LLM."""
    model: str = "smollm2"
    concurrency: int = 4
    """Requests in flight at once."""
    timeout_s: float = 30.0
    """Per request attempt (the ``openai`` client's ``timeout``)."""
    retries: int = 2
    """Retries after the first attempt (the ``openai`` client's ``max_retries``)."""
    max_tokens: int = 96
    temperature: float = 0.0
    cache_dir: str | None = None
    """Answer cache: a folder or URI (``s3://b/cache/llm``); None: no cache."""
    breaker_failures: int = 4
    """Consecutive unreachable/timeout failures after which requests fail fast ..."""
    breaker_cooldown_s: float = 60.0
    """... for this long."""


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


def _api_key() -> str:
    # vLLM accepts any key unless started with --api-key; the openai client insists on one.
    return os.environ.get("LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or "EMPTY"


def served_model(url: str, timeout_s: float = 2.0) -> str | None:
    """The first model the endpoint at ``url`` serves, or None when nothing answers there."""
    import openai

    try:
        with openai.OpenAI(base_url=url, api_key=_api_key(), timeout=timeout_s, max_retries=0) as client:
            return next(iter(client.models.list())).id
    except (openai.OpenAIError, StopIteration):
        return None


class ChatClient:
    """Chat completions through the ``openai`` client, with concurrency, a breaker and a cache."""

    def __init__(self, config: LLMConfig) -> None:
        if not config.url:
            raise ValueError("ChatClient needs an endpoint URL")
        self.config = config
        self._lock = threading.Lock()
        self._client: Any = None
        self._consecutive_failures = 0
        self._open_until = 0.0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None  # sockets and SSL contexts do not pickle; rebuilt on first use
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def openai(self) -> Any:
        """The ``openai.OpenAI`` client (imported here, so a run without an LLM never pays for the import)."""
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(
                    base_url=self.config.url,
                    api_key=_api_key(),
                    timeout=self.config.timeout_s,
                    max_retries=self.config.retries,
                )
            return self._client

    # -- cache --------------------------------------------------------------------------------

    def cache_key(self, messages: Messages) -> str:
        c = self.config
        payload = json.dumps([c.model, c.max_tokens, c.temperature, messages], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _cache_path(self, key: str) -> str | None:
        if not self.config.cache_dir:
            return None
        model = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.config.model)
        return storage.join(self.config.cache_dir, model, key[:2], f"{key}.json")

    def _cached(self, key: str) -> str | None:
        path = self._cache_path(key)
        if path is None:
            return None
        try:
            return json.loads(storage.read_bytes(path))["answer"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):  # unreadable or torn by hand: ask again
            Metrics.counter("llm", "cache_unreadable").inc()
            return None

    def _store(self, key: str, answer: str) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        data = json.dumps({"model": self.config.model, "answer": answer}, ensure_ascii=False).encode("utf-8")
        try:
            storage.write_atomic(path, data)  # a unique temporary name, then a rename: one whole answer
        except OSError:
            Metrics.counter("llm", "cache_write_failed").inc()

    # -- requests -----------------------------------------------------------------------------

    def complete(self, messages: Messages) -> str:
        """The answer to one chat, from the cache or the endpoint; raises :class:`LLMError`."""
        key = self.cache_key(messages)
        cached = self._cached(key)
        if cached is not None:
            Metrics.counter("llm", "cache_hit").inc()
            return cached
        if time.monotonic() < self._open_until:
            raise LLMError("llm_unavailable", "circuit open after repeated failures")
        try:
            answer = self._request(messages)
        except LLMError as error:
            Metrics.counter("llm", error.reason).inc()
            self._note(error.reason)
            raise
        self._note("ok")
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
        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(chats))) as pool:
            return list(pool.map(one, chats))

    def _note(self, outcome: str) -> None:
        with self._lock:
            if outcome not in _FAILS_SERVER:
                self._consecutive_failures = 0
                return
            self._consecutive_failures += 1
            if self._consecutive_failures >= self.config.breaker_failures:
                self._open_until = time.monotonic() + self.config.breaker_cooldown_s

    def _request(self, messages: Messages) -> str:
        import openai

        c = self.config
        Metrics.counter("llm", "requests").inc()
        try:
            response = self.openai.chat.completions.create(
                model=c.model, messages=messages, max_tokens=c.max_tokens, temperature=c.temperature
            )
        except openai.APITimeoutError as error:  # a subclass of APIConnectionError: test it first
            raise LLMError("timeout", str(error)[:200]) from None
        except openai.APIConnectionError as error:
            raise LLMError("unreachable", str(error)[:200]) from None
        except openai.APIStatusError as error:
            raise LLMError(f"http_{error.status_code}", str(error.message)[:200]) from None
        except openai.OpenAIError as error:  # an unparsable body and the like
            raise LLMError("bad_response", str(error)[:200]) from None
        try:
            return str(response.choices[0].message.content or "")
        except (AttributeError, IndexError, TypeError):
            raise LLMError("bad_response", str(response)[:200]) from None
