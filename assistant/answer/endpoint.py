"""The OpenAI-compatible endpoint's side of the LLM answerer: settings checks, errors, retries, closing streams.

Every failure of the endpoint is mapped to a ``GeneratorError`` with a short reason (``timeout``,
``connection``, ``rate_limited``, ``http_<status>``, ``truncated``, ``malformed``); see docs/generation.md.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from email.utils import parsedate_to_datetime
from typing import Any

from assistant.config import GeneratorConfig
from assistant.errors import GeneratorError

log = logging.getLogger("assistant.llm")
MAX_RETRIES = 5
RETRYABLE = ("rate_limited", "connection")  # and every http_5xx
NOT_INSTALLED = "Generated answers need the openai client: pip install 'assistant[llm]'."


def check_config(cfg: GeneratorConfig) -> GeneratorConfig:
    """``cfg`` with bounded retries; a ``GeneratorError`` (reason ``config``) says what to fix."""
    if not cfg.base_url.startswith(("http://", "https://")):
        raise GeneratorError(
            f"--llm must be an http(s) URL such as http://127.0.0.1:11434/v1, not {cfg.base_url!r}.", "config"
        )
    if not cfg.model.strip():
        raise GeneratorError("A model name is needed with --llm (--model NAME), e.g. --model qwen2.5:7b.", "config")
    if not cfg.timeout > 0:
        raise GeneratorError(f"The model timeout must be positive, not {cfg.timeout!r}.", "config")
    if importlib.util.find_spec("openai") is None:
        raise GeneratorError(NOT_INSTALLED, "not_installed")
    return cfg._replace(max_retries=max(0, min(MAX_RETRIES, int(cfg.max_retries))))


def api_key(env_name: str | None) -> str:
    """The key read from the named environment variable; local servers without one get a placeholder."""
    if not env_name:
        return "not-needed"
    key = os.environ.get(env_name, "").strip()
    if not key:
        raise GeneratorError(f"The API key variable ${env_name} is not set; export it or drop --api-key-env.", "config")
    return key


def to_generator_error(exc: BaseException) -> GeneratorError:
    """Map an ``openai``/``httpx`` failure (or a malformed reply) to a ``GeneratorError`` with a reason."""
    if isinstance(exc, GeneratorError):
        return exc
    import httpx
    import openai

    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
        return GeneratorError("The language model did not answer in time.", "timeout")
    if isinstance(exc, openai.APIConnectionError):
        return GeneratorError(f"The language model server cannot be reached ({exc.__cause__ or exc}).", "connection")
    if isinstance(exc, openai.RateLimitError):
        return GeneratorError("The language model server is rate limiting (HTTP 429).", "rate_limited")
    if isinstance(exc, openai.APIStatusError):
        return GeneratorError(f"The language model server answered HTTP {exc.status_code}.", f"http_{exc.status_code}")
    if isinstance(exc, httpx.HTTPError):
        return GeneratorError(f"The answer stream broke off ({type(exc).__name__}).", "truncated")
    log.debug("malformed model reply", exc_info=exc)
    return GeneratorError(f"The language model's reply could not be read ({type(exc).__name__}).", "malformed")


def retryable(reason: str) -> bool:
    return reason in RETRYABLE or (reason.startswith("http_5") and reason != "http_501")


def retry_delay(exc: BaseException, attempt: int, cfg: GeneratorConfig) -> float:
    """Retry-After (seconds or an HTTP date) when the server sent one, else exponential backoff; capped."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    wait = cfg.backoff * (2**attempt)
    value = headers.get("retry-after-ms")
    try:
        if value is not None:
            wait = float(value) / 1000
        elif (value := headers.get("retry-after")) is not None:
            wait = float(value) if value.strip().replace(".", "", 1).isdigit() else _seconds_until(value)
    except (TypeError, ValueError):
        pass
    return max(0.0, min(wait, cfg.retry_after_cap))


def _seconds_until(http_date: str) -> float:
    return parsedate_to_datetime(http_date).timestamp() - time.time()


def close_stream(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # closing a broken connection may fail again; nothing to keep
            log.debug("closing the answer stream failed", exc_info=True)
