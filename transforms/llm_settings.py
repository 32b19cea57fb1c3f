"""Settings of the LLM endpoint shared by rewriting, visual fusion and translation (one place).

``--llm-url`` turns the LLM on for every stage that can use it; without it each stage keeps its
offline form (concatenative captions, template fusion, the label lexicon). The defaults are the
client's own (``transforms.llm.LLMConfig``), stated there once, but for the answer cache: a build
keeps it inside its corpus folder (:data:`CORPUS_CACHE`, resolved by
``pipelines.options.with_run_paths``), where every worker of a cluster reaches it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from schemas.settings import setting
from transforms.llm import LLMConfig

CORPUS = "<corpus>"
"""Stands for the build's corpus folder (``<output>/<name>``) at the start of ``--llm-cache-dir``."""
CORPUS_CACHE = f"{CORPUS}/.cache/llm"


def cache_location(cache_dir: str | None, corpus: str | None) -> str | None:
    """Where the answer cache lives: ``<corpus>`` replaced by the corpus folder (without one, this
    machine's temporary folder), a local relative path made absolute; None: no cache."""
    if not cache_dir:
        return None
    if cache_dir.startswith(CORPUS):
        base = corpus or os.path.join(tempfile.gettempdir(), "clara-corpus")
        rest = cache_dir[len(CORPUS) :].strip("/")
        return base.rstrip("/") + ("/" + rest if rest else "")
    return cache_dir if "://" in cache_dir else os.path.abspath(cache_dir)


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
        CORPUS_CACHE,
        f"answer cache: a folder or URI (s3://, gs://); '{CORPUS}' is the corpus folder; 'none': no cache",
        shapes_output=False,
        flag="--llm-cache-dir",
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
            cache_dir=cache_location(self.cache_dir, None),
        )
