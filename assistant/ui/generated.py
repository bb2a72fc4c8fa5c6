"""The chat turn when a language model is configured (docs/generation.md).

The extractive answer is shown at once; the generated one then streams in its place (markers plain while
it is written), and its verified ``[n]`` markers become links when it is complete. When the model fails, or
its answer does not pass verification, the extractive answer stays, with a short note; never a traceback.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from assistant.answer.base import Evidence
from assistant.text import messages
from assistant.types import Answer
from assistant.ui.render import render_no_sources, render_passages

if TYPE_CHECKING:
    from assistant.ui.service import ChatService

log = logging.getLogger("assistant.ui")
Render = Callable[[Sequence[dict[str, Any]], "dict[str, Any] | None"], list[dict[str, str]]]


def prepare(
    service: ChatService, question: str, history: list[tuple[str, str]], k: Any, doc_ids: list[str] | None = None
) -> tuple[Evidence, Answer]:
    """Evidence and the extractive answer, under the service lock (errors become ``gr.Error`` there)."""

    def run() -> tuple[Evidence, Answer]:
        evidence = service.bot.evidence(question, history=history, k=k, doc_ids=doc_ids)
        return evidence, service.bot.answerer.fallback.answer(evidence)  # type: ignore[attr-defined]

    return service.call(run)


def _sources(service: ChatService, answer: Answer) -> str:
    if answer.abstained or not answer.citations:
        return render_no_sources(f"{answer.text} {messages.NO_SOURCE}")
    return service.sources(answer)


def respond_generated(
    service: ChatService,
    message: str,
    turns: list[dict[str, Any]],
    k: Any,
    render: Render,
    doc_ids: list[str] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Yields (messages, turns, sources, passages, textbox) like ``Handlers.respond``."""
    history = [(t["question"], t["text"]) for t in turns]
    evidence, first = prepare(service, message, history, k, doc_ids)
    passages = render_passages(first.passages)
    turn = {"question": message, "text": first.text, "shown": first.text, "labels": [c.label for c in first.citations]}
    yield render(turns, turn), turns, _sources(service, first), passages, ""
    final = first
    if not first.abstained:
        written = ""
        try:
            for item in service.bot.answerer.stream(evidence, base=first):  # type: ignore[attr-defined]
                if isinstance(item, Answer):
                    final = item
                    break
                written += item
                turn.update(shown=written, labels=[])
                yield render(turns, turn), turns, render_no_sources(messages.GENERATING), passages, ""
        except Exception:  # the answerer turns endpoint failures into a fallback; anything else lands here
            log.exception("generated answer failed")
            final = dataclasses.replace(first, fallback="error")
    shown = final.text
    if final.fallback:
        shown = f"{final.text} {messages.generator_note(final.fallback)}"
    turn = {"question": message, "text": final.text, "shown": shown, "labels": [c.label for c in final.citations]}
    new_turns = [*turns, turn]
    yield render(new_turns, None), new_turns, _sources(service, final), passages, ""
