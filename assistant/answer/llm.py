"""A generating answerer: an LLM behind an OpenAI-compatible endpoint writes the answer from numbered sources.

Optional (``pip install 'assistant[llm]'``); ``openai`` is imported here only, on the first call. The model
sees the pool's best sentences with their neighbours, each number an exact span; its answer is verified
(:mod:`assistant.answer.verify`) and, when unusable, replaced by the extractive answer with the reason in
``Answer.fallback``. Every failure of the endpoint becomes a ``GeneratorError`` and then such a fallback;
nothing from a failed call is kept. See docs/generation.md.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from assistant.answer.base import Answerer, Evidence
from assistant.answer.claims import ClaimChecker, cedict_readings
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.prompts import Source, build_messages
from assistant.answer.verify import Verified, verify
from assistant.config import GeneratorConfig
from assistant.errors import GeneratorError
from assistant.retrieve.evidence import candidates
from assistant.retrieve.retriever import Retriever
from assistant.text import messages
from assistant.text.bilingual import translations
from assistant.text.lang import language
from assistant.types import Answer, Span

log = logging.getLogger("assistant.llm")
T = TypeVar("T")
MAX_RETRIES = 5
RETRYABLE = ("rate_limited", "connection")  # and every http_5xx


class LLMAnswerer(Answerer):
    """Writes the answer with a language model; falls back to ``fallback`` (the extractive answerer)."""

    name = "llm"

    def __init__(self, retriever: Retriever, config: GeneratorConfig, fallback: ExtractiveAnswerer) -> None:
        self.retriever = retriever
        self.config = check_config(config)
        self.fallback = fallback
        self._api_key = _api_key(config.api_key_env)
        self._client: Any = None
        self._checker: ClaimChecker | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ answering

    def answer(self, evidence: Evidence) -> Answer:
        """The verified generated answer, an abstention, or the extractive answer with ``fallback`` set.

        The request is streamed like :meth:`stream`'s, so that a timeout closes it and frees the server.
        """
        final = None
        for item in self._generate(evidence):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, evidence: Evidence, base: Answer | None = None) -> Iterator[str | Answer]:
        """Text deltas as the model writes them, then the final verified ``Answer`` (never raises on failure).

        ``base``: the extractive answer for ``evidence`` when the caller already has it (the chat shows it first).
        """
        return self._generate(evidence, base=base)

    def _generate(self, evidence: Evidence, base: Answer | None = None) -> Iterator[str | Answer]:
        base = base or self.fallback.answer(evidence)
        if base.abstained:  # the calibrated abstention check found no support: the model is not asked
            yield dataclasses.replace(base, model=self.config.model, flags=("no_evidence",))
            return
        sources = self.sources(evidence)
        lang = language(evidence.query.text)
        prompt = build_messages(evidence.query.text, evidence.history, sources, lang)
        parts: list[str] = []
        try:
            for delta in self._stream_call(prompt):
                parts.append(delta)
                yield delta
        except GeneratorError as exc:
            log.warning("language model failed (%s): %s", exc.reason, exc)
            yield self._fall_back(base, exc.reason)
            return
        yield self.verified(evidence, base, "".join(parts), sources, lang)

    def sources(self, evidence: Evidence) -> list[Source]:
        """The numbered sources: the pool's best sentences and their neighbours, in document order."""
        cfg = self.config
        pool = evidence.pool
        if pool is None:
            pool = candidates(self.retriever, evidence.query, evidence.ranked, self.fallback.config)
        scores = {c.row: c.score for c in pool}
        rows: set[int] = set()
        for cand in pool[: cfg.evidence_sentences]:
            rows.add(cand.row)
            for step in range(1, cfg.neighbours + 1):
                rows.update(r for r in (cand.row - step, cand.row + step) if self._same_document(cand.row, r))
        out = []
        for number, row in enumerate(sorted(rows), start=1):
            span = self.retriever.sentence_span(row)
            text = self.retriever.document_text(span.doc_id)[span.start : span.end]
            out.append(Source(number, Span(span.doc_id, span.start, span.end), text, scores.get(row, 0.0)))
        return out

    def _same_document(self, row: int, other: int) -> bool:
        try:
            return self.retriever.same_document(row, other)
        except IndexError:  # past the last sentence
            return False

    def verified(self, evidence: Evidence, base: Answer, raw: str, sources: list[Source], lang: str) -> Answer:
        """The model's text checked against its sources; else an abstention, or the quote with ``fallback`` set.

        Fallback reasons of a reply, in this order: ``model_declined`` (the model found no answer but the
        quoted one is confident: it is shown with a note), ``wrong_language``, ``no_valid_citation``,
        ``unsupported_claim`` (a number or name that its cited sentences do not contain).
        """
        log.debug("model reply: %r", raw)
        v: Verified = verify(raw, sources, lang, self.checker(), evidence.query.text)
        truncated = evidence.truncated
        made = dataclasses.replace(
            base, answerer=self.name, model=self.config.model, flags=tuple(v.flags), unsupported=tuple(v.unsupported)
        )
        if v.declined:
            if self.confident(evidence, lang):
                return self._fall_back(base, "model_declined", v)
            text = messages.with_truncation_note(messages.abstain(lang), truncated, lang)
            return dataclasses.replace(made, text=text, abstained=True, citations=[], passages=list(evidence.passages))
        if not v.language_ok:
            return self._fall_back(base, "wrong_language", v)
        if not v.citations:
            return self._fall_back(base, "no_valid_citation", v)
        if v.failed:
            return self._fall_back(base, "unsupported_claim", v)
        text = messages.with_truncation_note(v.text, truncated, lang)
        return dataclasses.replace(
            made, text=text, abstained=False, citations=list(v.citations), passages=list(evidence.passages)
        )

    def confident(self, evidence: Evidence, lang: str) -> bool:
        """True when the quoted answer's confidence reaches ``quote_on_decline`` (default: the learned threshold)."""
        from assistant.answer.answerability import ModelError
        from assistant.answer.confidence import confidence, usable

        threshold = self.config.quote_on_decline
        if threshold is not None and threshold <= 0:
            return True  # 0: always the quote
        p = confidence(self.retriever, evidence, self.fallback.config, self.fallback.abstention)
        if p is None:
            return False  # no usable answerability model: the model's decline stands
        if threshold is None:
            try:
                threshold = usable(self.retriever).threshold(lang)
            except ModelError:
                return False
        return p >= threshold

    def checker(self) -> ClaimChecker:
        """The claim check, with the index's English-Chinese dictionary and CC-CEDICT pinyin (built once)."""
        with self._lock:
            if self._checker is None:
                bilingual = self.retriever.data.bilingual
                self._checker = ClaimChecker(lambda word: translations(word, bilingual), cedict_readings())
            return self._checker

    def _fall_back(self, base: Answer, reason: str, v: Verified | None = None) -> Answer:
        """The quoted answer; ``flags`` and ``unsupported`` describe the model's reply that was not used."""
        flags = (*(v.flags if v else ()), f"fallback:{reason}")
        unsupported = v.unsupported if v else ()
        return dataclasses.replace(base, model=self.config.model, fallback=reason, flags=flags, unsupported=unsupported)

    # ------------------------------------------------------------------ the endpoint

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as exc:  # checked in check_config; kept for a broken installation
                    raise GeneratorError(_NOT_INSTALLED, "not_installed") from exc
                self._client = openai.OpenAI(
                    base_url=self.config.base_url,
                    api_key=self._api_key,
                    timeout=self.config.timeout,
                    max_retries=0,  # retries are ours: bounded, with a capped Retry-After
                )
            return self._client

    def _request(self, prompt: list[dict[str, str]], stream: bool) -> Any:
        cfg = self.config
        return self.client().chat.completions.create(
            model=cfg.model,
            messages=prompt,
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            stream=stream,
        )

    def _stream_call(self, prompt: list[dict[str, str]]) -> Iterator[str]:
        """The answer's text deltas; the stream is closed at the deadline (``timeout`` after it opened), so the
        server stops generating for it instead of holding its slot while the next question waits."""
        stream = self._with_retries(lambda: self._request(prompt, stream=True))
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _close(stream)

        watchdog = threading.Timer(self.config.timeout, expire)
        watchdog.daemon = True
        watchdog.start()
        late = GeneratorError(f"The streamed answer took longer than {self.config.timeout:g} s.", "timeout")
        finished = None
        events = 0
        try:
            for chunk in stream:
                events += 1
                if expired.is_set():
                    raise late
                choices = getattr(chunk, "choices", None)
                if choices:  # a chunk without choices (usage, keep-alive) carries no text
                    delta = getattr(choices[0], "delta", None)
                    text = getattr(delta, "content", None)
                    if isinstance(text, str) and text:
                        yield text
                    finished = getattr(choices[0], "finish_reason", None) or finished
        except GeneratorError:
            raise
        except Exception as exc:
            raise late if expired.is_set() else to_generator_error(exc) from exc
        finally:
            watchdog.cancel()
            _close(stream)
        if expired.is_set():
            raise late
        if not events:  # e.g. a plain JSON body where server-sent events were asked for
            raise GeneratorError("The model's reply held no answer events.", "malformed")
        if finished is None:
            raise GeneratorError("The model's answer stream ended before it finished.", "truncated")

    def _with_retries(self, call: Callable[[], T]) -> T:
        for attempt in range(self.config.max_retries + 1):
            try:
                return call()
            except Exception as exc:
                error = to_generator_error(exc)
                if attempt >= self.config.max_retries or not retryable(error.reason):
                    raise error from exc
                wait = retry_delay(exc, attempt, self.config)
                log.info("language model %s; retry %d in %.2f s", error.reason, attempt + 1, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------- helpers

_NOT_INSTALLED = "Generated answers need the openai client: pip install 'assistant[llm]'."


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
        raise GeneratorError(_NOT_INSTALLED, "not_installed")
    return cfg._replace(max_retries=max(0, min(MAX_RETRIES, int(cfg.max_retries))))


def _api_key(env_name: str | None) -> str:
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


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # closing a broken connection may fail again; nothing to keep
            log.debug("closing the answer stream failed", exc_info=True)
