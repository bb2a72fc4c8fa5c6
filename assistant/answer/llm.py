"""A generating answerer: an LLM behind an OpenAI-compatible endpoint writes the answer from numbered sources.

Optional (``pip install 'assistant[llm]'``); ``openai`` is imported only on the first call (here and in
:mod:`assistant.answer.endpoint`). The model
sees the pool's best sentences with their neighbours, each number an exact span; its answer is verified
(:mod:`assistant.answer.verify`) and, when unusable, replaced by the extractive answer with the reason in
``Answer.fallback``. Every failure of the endpoint becomes a ``GeneratorError`` and then such a fallback;
nothing from a failed call is kept. See docs/generation.md.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from assistant.answer.base import Answerer, Evidence
from assistant.answer.claims import ClaimChecker, cedict_readings
from assistant.answer.endpoint import (
    NOT_INSTALLED,
    api_key,
    check_config,
    close_stream,
    retry_delay,
    retryable,
    to_generator_error,
)
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


class LLMAnswerer(Answerer):
    """Writes the answer with a language model; falls back to ``fallback`` (the extractive answerer)."""

    name = "llm"

    def __init__(self, retriever: Retriever, config: GeneratorConfig, fallback: ExtractiveAnswerer) -> None:
        self.retriever = retriever
        self.config = check_config(config)
        self.fallback = fallback
        self._api_key = api_key(config.api_key_env)
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
                    raise GeneratorError(NOT_INSTALLED, "not_installed") from exc
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
            close_stream(stream)

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
            close_stream(stream)
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
