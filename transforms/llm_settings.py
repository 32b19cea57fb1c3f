"""Settings of the LLM endpoint shared by rewriting, visual fusion and translation (one place).

``--llm-url`` turns the LLM on for every stage that can use it; without it each stage keeps its
offline form (concatenative captions, template fusion, the label lexicon). The defaults are the
client's own (``transforms.llm.LLMConfig``), stated there once.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.settings import setting
from transforms.llm import LLMConfig


@dataclass(frozen=True)
class LLMSettings:
    """LLM endpoint (OpenAI-compatible: vLLM) for caption rewriting, visual fusion and translation."""

    url: str | None = setting(
        LLMConfig.url, "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1", shapes_output=True, flag="--llm-url"
    )
    model: str = setting(LLMConfig.model, "model name the endpoint serves", shapes_output=True, flag="--llm-model")
    concurrency: int = setting(
        LLMConfig.concurrency, "requests in flight at once", shapes_output=False, flag="--llm-concurrency"
    )
    timeout_s: float = setting(
        LLMConfig.timeout_s, "per request attempt (s)", shapes_output=False, flag="--llm-timeout-s"
    )
    retries: int = setting(
        LLMConfig.retries, "retries after the first attempt", shapes_output=False, flag="--llm-retries"
    )
    cache_dir: str | None = setting(
        LLMConfig.cache_dir, "on-disk answer cache ('none': no cache)", shapes_output=False, flag="--llm-cache-dir"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def client_config(self) -> LLMConfig:
        """The client's configuration (its other knobs keep ``LLMConfig``'s defaults)."""
        return LLMConfig(
            url=self.url or None,
            model=self.model,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            retries=self.retries,
            cache_dir=self.cache_dir or None,
        )
