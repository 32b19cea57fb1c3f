"""Settings of the LLM endpoint shared by rewriting, visual fusion and translation (one place).

``--llm-url`` turns the LLM on for every stage that can use it; without it each stage keeps its
offline form (concatenative captions, template fusion, the label lexicon).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.settings import setting
from transforms.llm import LLMConfig


@dataclass(frozen=True)
class LLMSettings:
    """LLM endpoint (OpenAI-compatible: vLLM) for caption rewriting, visual fusion and translation."""

    url: str | None = setting(
        None, "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1", shapes_output=True, flag="--llm-url"
    )
    model: str = setting("smollm2", "model name the endpoint serves", shapes_output=True, flag="--llm-model")
    concurrency: int = setting(4, "requests in flight at once", shapes_output=False, flag="--llm-concurrency")
    timeout_s: float = setting(30.0, "per request attempt (s)", shapes_output=False, flag="--llm-timeout-s")
    retries: int = setting(2, "retries after the first attempt", shapes_output=False, flag="--llm-retries")
    cache_dir: str | None = setting(
        ".cache/llm", "on-disk answer cache ('none': no cache)", shapes_output=False, flag="--llm-cache-dir"
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
